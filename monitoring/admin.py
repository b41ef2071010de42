"""Payment data in the admin: segments, receipts and pulls are read-only (the upsert and the pull
write them); the import mappings are edited here (and saved from the upload page); uploads are read-only. The detector's
settings, runs, findings and suppressions are read-only too: the Monitors and Findings pages and
the API change them, through the services that record who did what.

`AuthBucket` is not registered: Django 5.2's admin refuses models with a composite primary key.
A segment's page shows its latest buckets instead.
"""

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from monitoring.models import (
    DetectorRun,
    Finding,
    ImportJob,
    ImportMapping,
    MetricsBatchReceipt,
    MetricsPull,
    MonitorSettings,
    Segment,
    SegmentMonitor,
    Suppression,
)
from monitoring.selectors import segment_latest_buckets
from payhealth.admin_forms import ReadOnlyAdminMixin

LATEST = 24


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "merchant", "network", "bin_prefix", "issuer", "route", "country", "funding", "entry_mode")
    list_filter = ("network", "funding", "entry_mode", "country")
    search_fields = ("merchant__account_id", "merchant__name", "bin_prefix", "issuer__code", "route__code")
    list_select_related = ("merchant", "issuer", "route")
    readonly_fields = ("latest_buckets",)

    @admin.display(description=_("latest buckets"))
    def latest_buckets(self, obj):
        rows = segment_latest_buckets(segment=obj, limit=LATEST)
        return format_html_join(
            "\n",
            "<div>{} · {} / {} · {}</div>",
            ((b.bucket_start.isoformat(), b.approvals, b.attempts, b.decline_codes) for b in rows),
        )


@admin.register(MetricsBatchReceipt)
class MetricsBatchReceiptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "user", "idempotency_key", "response_status")
    search_fields = ("idempotency_key", "user__username")
    list_select_related = ("user",)


@admin.register(MetricsPull)
class MetricsPullAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("source", "window_end", "last_run_at", "last_success_at", "failures", "rows_read")


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Files uploaded on the upload page and their imports (the page and the task write them)."""

    list_display = ("created_at", "file_name", "created_by", "state", "rows_total", "rows_read", "inserted")
    list_filter = ("state", "kind")
    list_select_related = ("created_by",)


@admin.register(MonitorSettings)
class MonitorSettingsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "enabled", "min_drop_pp", "min_excess_declines", "watch_q", "alert_q", "updated_at")
    list_select_related = ("merchant",)


@admin.register(SegmentMonitor)
class SegmentMonitorAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("segment", "state", "dispersion", "last_bucket_start", "baseline_rate", "observed_rate")
    list_filter = ("state",)
    list_select_related = ("segment__merchant",)


@admin.register(DetectorRun)
class DetectorRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("started_at", "finished_at", "segments", "tests", "rejected", "findings_opened", "error")


@admin.register(Finding)
class FindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "kind", "decline_code", "state", "segment", "observed_rate", "excess_declines")
    list_filter = ("state", "kind", "test")
    list_select_related = ("segment__merchant",)
    search_fields = ("segment__merchant__name", "segment__merchant__account_id", "decline_code")


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("segment", "start", "end", "reason", "created_by")
    list_select_related = ("segment__merchant", "created_by")
