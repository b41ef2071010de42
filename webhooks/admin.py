from django.contrib import admin

from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from webhooks.selectors import forget_subscribed_event_types


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """The secret is neither shown nor editable here (its owner reveals or rotates it on the page)."""

    list_display = ["name", "url", "owner", "active", "consecutive_failures", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url", "owner__username"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = ["consecutive_failures", "disabled_at", "created_at", "updated_at"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        forget_subscribed_event_types()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        forget_subscribed_event_types()


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "response_status", "duration_ms", "error", "response_body"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log, read-only: replay from the webhook's page or the API."""

    list_display = ["event_type", "subscription", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    list_select_related = ["subscription"]
    search_fields = ["event_id", "subscription__name"]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
