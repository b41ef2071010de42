"""Reads of the webhooks app; visibility lives here (STYLE.md "Domain logic")."""

from __future__ import annotations

from django.db.models import QuerySet

from webhooks.models import WebhookDelivery, WebhookSubscription

# The permissions on webhook subscriptions, named once for the pages, the API and the services.
VIEW = "webhooks.view_webhooksubscription"
ADD = "webhooks.add_webhooksubscription"
CHANGE = "webhooks.change_webhooksubscription"
DELETE = "webhooks.delete_webhooksubscription"
MANAGE_ALL = "webhooks.manage_all_webhooksubscription"


def webhook_subscriptions_visible_to(*, user) -> QuerySet[WebhookSubscription]:
    """Leads see every subscription; partner managers their own; everyone else none."""
    if not user.is_authenticated or not user.has_perm(VIEW):
        return WebhookSubscription.objects.none()
    rows = WebhookSubscription.objects.select_related("owner").order_by("name", "id")
    if user.has_perm(MANAGE_ALL):
        return rows
    return rows.filter(owner=user)


def webhook_deliveries_visible_to(*, user) -> QuerySet[WebhookDelivery]:
    """Deliveries of the subscriptions the user sees, with their subscription."""
    visible = webhook_subscriptions_visible_to(user=user)
    return WebhookDelivery.objects.filter(subscription__in=visible.values("pk")).select_related("subscription")
