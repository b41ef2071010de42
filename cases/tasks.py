"""Celery tasks of the cases app: thin adapters that take ids and call a service (STYLE.md "Celery")."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from celery import shared_task
from django.conf import settings

from cases.services.delivery import TransientDeliveryError, correspondence_deliver, correspondence_requeue_stuck
from cases.services.inbound import inbound_poll_mailbox

logger = logging.getLogger(__name__)

# Publishing happens after a commit, in the request that queued the notice: fail fast when the
# broker is down (the rows stay `queued` and the sweep re-queues them) instead of hanging.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def delivery_backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`: exponential, capped, with ±20% jitter so a
    recovering SMTP server is not hit by every waiting notice at once."""
    base = settings.PAYHEALTH_NOTICE_RETRY_BACKOFF * 2**retries
    return min(base, settings.PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX) * random.uniform(0.8, 1.2)  # noqa: S311


@shared_task(bind=True, name="cases.deliver_correspondence_task", acks_late=True, max_retries=None)
def deliver_correspondence_task(self, correspondence_id: int) -> str:
    """Deliver one queued notice; retries transient SMTP errors up to PAYHEALTH_NOTICE_MAX_RETRIES."""
    retries = self.request.retries
    final_attempt = retries >= settings.PAYHEALTH_NOTICE_MAX_RETRIES
    try:
        return correspondence_deliver(correspondence_id=correspondence_id, final_attempt=final_attempt)
    except TransientDeliveryError as exc:
        raise self.retry(countdown=delivery_backoff(retries), exc=exc) from None


@shared_task(name="cases.requeue_stuck_correspondence_task", acks_late=True)
def requeue_stuck_correspondence_task() -> int:
    """Periodic (beat): re-queue notices whose delivery task was lost or whose worker died."""
    return correspondence_requeue_stuck()


def enqueue_deliveries(correspondence_ids: Iterable[int]) -> int:
    """Publish one delivery task per notice; called on commit. Returns how many were published.

    A broker outage loses nothing: the rows stay `queued` and the sweep re-queues them, so the
    error is logged, not raised into the request that already committed.
    """
    ids = list(correspondence_ids)
    published = 0
    try:
        with deliver_correspondence_task.app.producer_or_acquire() as producer:  # one connection for all
            for correspondence_id in ids:
                deliver_correspondence_task.apply_async(
                    args=[correspondence_id], producer=producer, retry_policy=PUBLISH_RETRY_POLICY
                )
                published += 1
    except Exception as exc:  # kombu's OperationalError, a socket error: the broker is unreachable
        logger.warning(
            "broker unavailable (%s): %s notice(s) stay queued until the sweep re-queues them",
            exc,
            len(ids) - published,
        )
    return published


@shared_task(name="cases.sweep_sla_clocks_task", acks_late=True)
def sweep_sla_clocks_task() -> dict[str, int]:
    """Periodic (beat): fire the SLA warnings and breaches of clocks that crossed them."""
    from cases.services.sla_sweep import sla_sweep

    result = sla_sweep()
    return {"warned": result.warned, "breached": result.breached}


@shared_task(name="cases.notify_sla_event_task", acks_late=True)
def notify_sla_event_task(event_id: int) -> str:
    """Mail one SLA warning or breach (and escalate a partner's breach); idempotent."""
    from cases.services.sla_notify import sla_event_notify

    return sla_event_notify(event_id=event_id)


def enqueue_sla_notifications(event_ids: Iterable[int]) -> int:
    """Publish one notification task per SLA event; called on commit. A broker outage loses nothing:
    the events stay unnotified and a later sweep queues them again."""
    ids = list(event_ids)
    published = 0
    try:
        with notify_sla_event_task.app.producer_or_acquire() as producer:
            for event_id in ids:
                notify_sla_event_task.apply_async(args=[event_id], producer=producer, retry_policy=PUBLISH_RETRY_POLICY)
                published += 1
    except Exception as exc:  # the broker is unreachable
        logger.warning(
            "broker unavailable (%s): %s SLA notification(s) wait for the next sweep", exc, len(ids) - published
        )
    return published


@shared_task(name="cases.poll_inbound_mailbox_task", acks_late=True)
def poll_inbound_mailbox_task() -> dict[str, int]:
    """Periodic (beat): store the desk mailbox's unseen replies (nothing when INBOUND_IMAP_URL is empty)."""
    result = inbound_poll_mailbox()
    return {"stored": result.stored, "duplicates": result.duplicates, "refused": result.refused}
