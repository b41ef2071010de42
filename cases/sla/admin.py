"""Admin for SLA policies and clocks.

A policy is saved by `sla_policy_save`, the service of the policies page, which refuses what the
page refuses; a policy is never deleted (clocks keep the policy they ran under), only
deactivated. Clocks and their events are derived from the incident's life, and the reports' rollups
from the clocks (`manage.py rebuild_sla_rollups` re-computes them): the admin shows them.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cases.models import (
    SlaClock,
    SlaClockEvent,
    SlaNotification,
    SlaPolicy,
    SlaRollup,
    SlaRollupPending,
    SlaRollupStaleMonth,
    SlaRollupTimes,
)
from cases.sla.policies import EDITABLE_FIELDS, sla_policy_save
from payhealth.admin_forms import ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin
from payhealth.forms import ModelForm


class SlaPolicyAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and the fields below.

    def save_through_service(self, actor):
        values = {name: self.cleaned_data[name] for name in EDITABLE_FIELDS if name in self.cleaned_data}
        return sla_policy_save(actor=actor, policy=self.instance if self.instance.pk else None, **values)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = SlaPolicyAdminForm
    fields = list(EDITABLE_FIELDS)
    list_display = [field for field in EDITABLE_FIELDS if field != "retarget_on_severity_change"]
    list_filter = ["severity", "partner_kind", "active", "calendar"]
    search_fields = ["name", "partner__name", "partner__code"]
    list_select_related = ["partner", "calendar"]
    autocomplete_fields = ["partner", "calendar"]
    ordering = ["severity", "partner_kind", "name"]

    def has_delete_permission(self, request, obj=None):
        return False  # clocks keep their policy: deactivate it instead


class SlaClockEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SlaClockEvent
    extra = 0
    fields = ["at", "kind", "cycle", "reason", "actor", "data", "notified_at"]
    readonly_fields = fields
    ordering = ["at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(SlaClock)
class SlaClockAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The state and instants are derived from the clock's events and calendar."""

    list_display = ["incident", "family", "metric", "partner", "state", "started_at", "due_at", "breached_at"]
    list_filter = ["family", "metric", "state", "incident__severity"]
    search_fields = ["incident__reference", "incident__title", "engagement__partner__name"]
    list_select_related = ["incident", "engagement__partner"]
    date_hierarchy = "started_at"
    ordering = ["-started_at", "-id"]
    inlines = [SlaClockEventInline]

    @admin.display(description=_("partner"), ordering="engagement__partner__name")
    def partner(self, obj: SlaClock):
        return obj.engagement.partner if obj.engagement_id else None


class SlaNotificationInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Each person's warning or breach mail: written by its delivery, shown with its event."""

    model = SlaNotification
    extra = 0
    fields = ["address", "status", "attempts", "possible_duplicates", "sent_at", "last_error", "escalation_waiting"]
    readonly_fields = fields
    ordering = ["id"]


@admin.register(SlaClockEvent)
class SlaClockEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    inlines = [SlaNotificationInline]
    list_display = ["at", "clock", "kind", "reason", "actor"]
    list_filter = ["kind"]
    search_fields = ["clock__incident__reference", "reason"]
    list_select_related = ["clock", "actor"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]


@admin.register(SlaRollup)
class SlaRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The clocks summed per desk day (and month) and report dimension, re-computed from the clocks only."""

    list_display = ["span", "day", "family", "metric", "severity", "partner", "owner", "clocks", "met", "breached"]
    list_filter = ["span", "family", "metric", "severity"]
    list_select_related = ["partner", "owner"]
    date_hierarchy = "day"
    ordering = ["-day", "family", "metric", "severity"]


@admin.register(SlaRollupTimes)
class SlaRollupTimesAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The rollups' durations without the owner, sorted and bucketed for the percentiles."""

    list_display = ["span", "day", "family", "metric", "severity", "partner"]
    list_filter = ["span", "family", "metric", "severity"]
    list_select_related = ["partner"]
    date_hierarchy = "day"
    ordering = ["-day", "family", "metric", "severity"]


@admin.register(SlaRollupPending)
class SlaRollupPendingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Desk days due a re-computation: folded by beat or by the next report covering them."""

    list_display = ["day"]
    ordering = ["day"]


@admin.register(SlaRollupStaleMonth)
class SlaRollupStaleMonthAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Months whose month rows are due a re-sum of their day rows: done by the next report reading them whole."""

    list_display = ["month"]
    ordering = ["month"]
