"""Reads of the webhooks app; visibility lives here."""

from __future__ import annotations

import logging
from itertools import chain

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

from webhooks.models import WebhookDelivery, WebhookSubscription

# The permissions on webhook subscriptions, named once for the pages, the API and the services.
VIEW = "webhooks.view_webhooksubscription"
ADD = "webhooks.add_webhooksubscription"
CHANGE = "webhooks.change_webhooksubscription"
DELETE = "webhooks.delete_webhooksubscription"
MANAGE_ALL = "webhooks.manage_all_webhooksubscription"
SUBSCRIBED_TYPES_KEY = "webhooks:subscribed-event-types"

logger = logging.getLogger(__name__)


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


def subscribed_event_types() -> frozenset[str]:
    """Event types at least one active subscription listens to (cached; see the module doc)."""
    try:
        cached = cache.get(SUBSCRIBED_TYPES_KEY)
    except Exception:  # the cache server is down: ask the database rather than fail the write
        logger.warning("cache unavailable; reading webhook subscribers from the database", exc_info=True)
        cached = None
    if cached is not None:
        return frozenset(cached)
    listened = WebhookSubscription.objects.filter(active=True).values_list("events", flat=True)
    types = sorted(set(chain.from_iterable(listened)))
    try:
        cache.set(SUBSCRIBED_TYPES_KEY, types, settings.PAYHEALTH_WEBHOOK_SUBSCRIBERS_CACHE)
    except Exception:
        logger.warning("cache unavailable; webhook subscribers not cached", exc_info=True)
    return frozenset(types)


def forget_subscribed_event_types() -> None:
    """Forget the cached set now and again after the commit (a reader in between re-caches the
    old state; the second delete drops it)."""

    def forget() -> None:
        try:
            cache.delete(SUBSCRIBED_TYPES_KEY)
        except Exception:
            logger.warning("cache unavailable; could not forget webhook subscribers", exc_info=True)

    forget()
    transaction.on_commit(forget)
