"""Writes of the webhooks app: subscriptions, emission of case events, ping and replay.

`webhook_emit_for_case_events` is a timeline listener (PAYHEALTH_TIMELINE_LISTENERS): the timeline
hands it every row it records, and the rows bulk writers (the SLA sweep) insert. It must stay free
when nobody listens:
the set of event types that have an active subscription is kept in the cache (shared when
CACHE_URL points at Redis; per process otherwise, for at most PAYHEALTH_WEBHOOK_SUBSCRIBERS_CACHE
seconds) and forgotten whenever a subscription changes, so a timeline row of a kind nobody
subscribed to costs no query at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import CaseEvent, Incident
from payhealth.links import absolute_url
from payhealth.outbox import publish_on_commit
from webhooks.delivery import DELIVER_TASK
from webhooks.models import EventType, WebhookDelivery, WebhookSubscription, generate_secret
from webhooks.selectors import ADD, CHANGE, DELETE, MANAGE_ALL, forget_subscribed_event_types, subscribed_event_types

logger = logging.getLogger(__name__)
Kind = CaseEvent.Kind

EVENT_TYPES_BY_KIND: dict[str, str] = {
    Kind.OPENED: EventType.INCIDENT_OPENED,
    Kind.STATUS_CHANGED: EventType.INCIDENT_STATUS_CHANGED,
    Kind.SEVERITY_CHANGED: EventType.INCIDENT_SEVERITY_CHANGED,
    Kind.NOTICE_SENT: EventType.NOTICE_SENT,
    Kind.NOTICE_FAILED: EventType.NOTICE_FAILED,
    Kind.REPLY_RECEIVED: EventType.REPLY_RECEIVED,
    Kind.SLA_WARNING: EventType.SLA_WARNING,
    Kind.SLA_BREACHED: EventType.SLA_BREACH,
}
# Event ids derive from the timeline row, so emitting one row twice gives receivers one id.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f6f0e-8f43-4a57-9d0e-3f1a1c2b7e10")


# Emission -------------------------------------------------------------------------------------


def event_id_for(event: CaseEvent) -> uuid.UUID:
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"caseevent:{event.pk}")


def webhook_event_id(name: str) -> uuid.UUID:
    """The deterministic id of an event that is not a timeline row, from its name ("finding:42:created")."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, name)


def incident_url(incident: Incident) -> str:
    return absolute_url(reverse("cases:incident_detail", args=[incident.reference]))


def _cached(event: CaseEvent, name: str) -> bool:
    return CaseEvent._meta.get_field(name).is_cached(event)


def _related(events: list[CaseEvent]) -> tuple[dict[int, Incident], dict[int, str]]:
    """The events' incidents and actors' usernames, reading only the ones not already loaded."""
    incidents = {e.incident_id: e.incident for e in events if _cached(e, "incident")}
    missing = {e.incident_id for e in events} - set(incidents)
    if missing:
        rows = Incident.objects.filter(pk__in=missing).only("pk", "reference", "title", "severity", "status")
        incidents.update({row.pk: row for row in rows})
    usernames = {e.actor_id: e.actor.get_username() for e in events if e.actor_id and _cached(e, "actor")}
    missing = {e.actor_id for e in events if e.actor_id} - set(usernames)
    if missing:
        user_model = get_user_model()
        usernames.update(user_model.objects.filter(pk__in=missing).values_list("pk", user_model.USERNAME_FIELD))
    return incidents, usernames


def case_event_payload(*, event: CaseEvent, event_type: str, incident: Incident, actor: str | None) -> dict:
    """What a receiver gets for one timeline row (documented in docs/webhooks.md)."""
    return {
        "id": str(event_id_for(event)),
        "type": event_type,
        "occurred_at": event.created_at.isoformat(),
        "incident": {
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "url": incident_url(incident),
        },
        "data": event.data,
        "actor": actor,
    }


def webhook_emit_for_case_events(events: Iterable[CaseEvent]) -> list[WebhookDelivery]:
    """One pending delivery per (event, active subscription listening to its type), published
    after the commit. Costs nothing for kinds no active subscription listens to."""
    relevant = [event for event in events if EVENT_TYPES_BY_KIND.get(event.kind)]
    if not relevant:
        return []
    subscribed = subscribed_event_types()
    relevant = [event for event in relevant if EVENT_TYPES_BY_KIND[event.kind] in subscribed]
    if not relevant:
        return []
    types = sorted({EVENT_TYPES_BY_KIND[event.kind] for event in relevant})
    subscriptions = list(
        WebhookSubscription.objects.filter(active=True, events__overlap=types).only("pk", "events").order_by("pk")
    )
    if not subscriptions:
        return []
    incidents, usernames = _related(relevant)
    now = timezone.now()
    deliveries = []
    for event in relevant:
        event_type = EVENT_TYPES_BY_KIND[event.kind]
        listeners = [s for s in subscriptions if event_type in s.events]
        if not listeners:
            continue
        payload = case_event_payload(
            event=event,
            event_type=event_type,
            incident=incidents[event.incident_id],
            actor=usernames.get(event.actor_id),
        )
        deliveries += [
            WebhookDelivery(
                subscription_id=subscription.pk,
                event_type=event_type,
                event_id=event_id_for(event),
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for subscription in listeners
        ]
    created = WebhookDelivery.objects.bulk_create(deliveries)
    _enqueue_on_commit([delivery.pk for delivery in created])
    return created


@transaction.atomic
def webhook_event_emit(event_type: str, payload: dict, event_id: uuid.UUID) -> list[WebhookDelivery]:
    """One pending delivery of an event that is not a timeline row (a detector finding) to every
    active subscription listening to `event_type`, published after the commit. `payload` is the
    event's `data`; the envelope (`id`, `type`, `occurred_at`, and `incident` and `actor` null) is
    added here. Idempotent on
    `event_id` (derive it from the event, e.g. uuid5 of "finding:42:created"): a subscription that
    already has a delivery of that id gets no second one. Costs nothing when nobody listens."""
    if event_type not in subscribed_event_types():
        return []
    # Two emitters of one event at once: the second waits for the first's commit, then sees its
    # deliveries (a lock on the event id only; subscriptions and deliveries are not held).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [event_id.int >> 65])
    subscriptions = list(
        WebhookSubscription.objects.filter(active=True, events__contains=[event_type])
        .exclude(deliveries__event_id=event_id)
        .only("pk")
        .order_by("pk")
    )
    if not subscriptions:
        return []
    now = timezone.now()
    body = {
        "id": str(event_id),
        "type": event_type,
        "occurred_at": now.isoformat(),
        "incident": None,  # the envelope of case events, kept: the facts are in `data`
        "data": payload,
        "actor": None,
    }
    created = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription_id=subscription.pk,
            event_type=event_type,
            event_id=event_id,
            payload=body,
            next_attempt_at=now,
            created_at=now,
        )
        for subscription in subscriptions
    )
    _enqueue_on_commit([delivery.pk for delivery in created])
    return created


def _enqueue_on_commit(ids: list[int]) -> None:
    publish_on_commit(DELIVER_TASK, ids)


# Subscriptions --------------------------------------------------------------------------------


def _check_can_manage(actor, subscription: WebhookSubscription) -> None:
    if not actor.has_perm(CHANGE):
        raise PermissionDenied(_("You may not manage webhooks."))
    if subscription.owner_id != actor.pk and not actor.has_perm(MANAGE_ALL):
        raise PermissionDenied(_("Only its owner or a lead may manage this webhook."))


def _check_is_owner(actor, subscription: WebhookSubscription) -> None:
    if not actor.has_perm(CHANGE) or subscription.owner_id != actor.pk:
        raise PermissionDenied(_("Only the webhook's owner may see or change its secret."))


def _locked(subscription: WebhookSubscription) -> WebhookSubscription:
    return WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)


def _normalised_events(events: Iterable[str]) -> list[str]:
    return sorted(set(events))


@transaction.atomic
def webhook_subscription_create(*, actor, name: str, url: str, events: Iterable[str]) -> WebhookSubscription:
    """A new active subscription owned by `actor`, with a fresh secret (shown to them once)."""
    if not actor.has_perm(ADD):
        raise PermissionDenied(_("You may not add webhooks."))
    subscription = WebhookSubscription(
        owner=actor, name=name.strip(), url=url.strip(), events=_normalised_events(events)
    )
    subscription.full_clean()
    subscription.save()
    forget_subscribed_event_types()
    return subscription


@transaction.atomic
def webhook_subscription_update(
    *, subscription: WebhookSubscription, actor, name: str, url: str, events: Iterable[str]
) -> WebhookSubscription:
    _check_can_manage(actor, subscription)
    locked = _locked(subscription)
    locked.name, locked.url, locked.events = name.strip(), url.strip(), _normalised_events(events)
    locked.full_clean()
    locked.save(update_fields=["name", "url", "events", "updated_at"])
    forget_subscribed_event_types()
    return locked


@transaction.atomic
def webhook_subscription_rotate_secret(*, subscription: WebhookSubscription, actor) -> WebhookSubscription:
    """A new secret, effective for every delivery signed from now on (retries included)."""
    _check_is_owner(actor, subscription)
    locked = _locked(subscription)
    locked.secret = generate_secret()
    locked.save(update_fields=["secret", "updated_at"])
    return locked


def webhook_subscription_secret(*, subscription: WebhookSubscription, actor) -> str:
    """The secret, for its owner's "reveal" only."""
    _check_is_owner(actor, subscription)
    return WebhookSubscription.objects.values_list("secret", flat=True).get(pk=subscription.pk)


@transaction.atomic
def webhook_subscription_enable(*, subscription: WebhookSubscription, actor) -> WebhookSubscription:
    """Re-enable a disabled subscription with a clean failure count."""
    _check_can_manage(actor, subscription)
    locked = _locked(subscription)
    locked.active = True
    locked.disabled_reason = ""
    locked.disabled_at = None
    locked.consecutive_failures = 0
    locked.save(update_fields=["active", "disabled_reason", "disabled_at", "consecutive_failures", "updated_at"])
    forget_subscribed_event_types()
    return locked


@transaction.atomic
def webhook_subscription_disable(*, subscription: WebhookSubscription, actor, reason: str = "") -> WebhookSubscription:
    _check_can_manage(actor, subscription)
    locked = _locked(subscription)
    if locked.active:
        locked.active = False
        locked.disabled_reason = reason.strip() or _("Disabled by %(user)s.") % {"user": actor.get_username()}
        locked.disabled_at = timezone.now()
        locked.save(update_fields=["active", "disabled_reason", "disabled_at", "updated_at"])
        forget_subscribed_event_types()
    return locked


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription, actor) -> None:
    if not actor.has_perm(DELETE):
        raise PermissionDenied(_("You may not delete webhooks."))
    _check_can_manage(actor, subscription)
    _locked(subscription).delete()
    forget_subscribed_event_types()


@transaction.atomic
def webhook_subscription_ping(*, subscription: WebhookSubscription, actor) -> WebhookDelivery:
    """A `ping` event to check the endpoint and its signature check, delivered like any other."""
    _check_can_manage(actor, subscription)
    locked = _locked(subscription)
    if not locked.active:
        raise ValidationError(_("Re-enable the webhook before sending it a test event."), code="inactive")
    now = timezone.now()
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        subscription=locked,
        event_type=EventType.PING,
        event_id=event_id,
        payload={
            "id": str(event_id),
            "type": EventType.PING,
            "occurred_at": now.isoformat(),
            "webhook": {"id": locked.pk, "name": locked.name, "events": locked.events},
            "actor": actor.get_username(),
        },
        next_attempt_at=now,
        created_at=now,
    )
    _enqueue_on_commit([delivery.pk])
    return delivery


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a delivery's event again: a new delivery with the same payload and event id (so the
    receiver can tell it is the same event), signed at its own time."""
    subscription = _locked(delivery.subscription)
    _check_can_manage(actor, subscription)
    if not subscription.active:
        raise ValidationError(_("Re-enable the webhook before replaying its deliveries."), code="inactive")
    now = timezone.now()
    replay = WebhookDelivery.objects.create(
        subscription=subscription,
        event_type=delivery.event_type,
        event_id=delivery.event_id,
        payload=delivery.payload,
        replay_of=delivery,
        next_attempt_at=now,
        created_at=now,
    )
    _enqueue_on_commit([replay.pk])
    return replay
