"""Admin for webhooks: subscriptions saved by the same services as the Webhooks page and the API.

A subscription belongs to the person who created it: the owner and the secret are never edited
here (the owner reveals or rotates the secret on the page). The delivery log is read-only: replay
from the webhook's page or the API.
"""

from django.contrib import admin

from payhealth.admin_forms import ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin
from payhealth.forms import ModelForm
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from webhooks.services import (
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_disable,
    webhook_subscription_enable,
    webhook_subscription_update,
)


class WebhookSubscriptionAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and the fields below.

    def save_through_service(self, actor):
        data = self.cleaned_data
        if not self.instance.pk:
            return webhook_subscription_create(actor=actor, name=data["name"], url=data["url"], events=data["events"])
        saved = webhook_subscription_update(
            subscription=self.instance, actor=actor, name=data["name"], url=data["url"], events=data["events"]
        )
        if "active" in self.changed_data:
            toggle = webhook_subscription_enable if data["active"] else webhook_subscription_disable
            saved = toggle(subscription=saved, actor=actor)
        return saved


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """The secret is neither shown nor editable here (its owner reveals or rotates it on the page)."""

    form = WebhookSubscriptionAdminForm
    list_display = ["name", "url", "owner", "active", "consecutive_failures", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "consecutive_failures", "disabled_reason", "disabled_at", "created_at", "updated_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "url", "events"]
        return ["name", "url", "events", "active", *self.readonly_fields]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def delete_model(self, request, obj):
        webhook_subscription_delete(subscription=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for subscription in queryset:
            webhook_subscription_delete(subscription=subscription, actor=request.user)


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ["number", "at", "response_status", "duration_ms", "error", "response_body"]
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log, read-only: replay from the webhook's page or the API."""

    list_display = ["event_type", "subscription", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "event_type"]
    list_select_related = ["subscription"]
    search_fields = ["event_id", "subscription__name"]
    inlines = [WebhookAttemptInline]
