"""Receipts are an audit trail: read-only here. Rules are edited on their page (leads) or here,
through the same services."""

from django.contrib import admin

from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.services import RULE_FIELDS, alert_rule_create, alert_rule_delete, alert_rule_update


@admin.register(AlertReceipt)
class AlertReceiptAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "source", "outcome", "incident", "response_status", "idempotency_key")
    list_filter = ("outcome", "source")
    search_fields = ("idempotency_key", "fingerprint", "incident__reference", "user__username")
    list_select_related = ("user", "incident")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AlertSeverityRule)
class AlertSeverityRuleAdmin(admin.ModelAdmin):
    list_display = ("priority", "min_drop_pp", "min_attempts", "min_volume", "volume_currency", "severity", "active")
    list_editable = ()
    fields = RULE_FIELDS

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}
        if change:
            alert_rule_update(rule=obj, actor=request.user, **values)
        else:
            saved = alert_rule_create(actor=request.user, **values)
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        alert_rule_delete(rule=obj, actor=request.user)
