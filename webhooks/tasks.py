"""Celery tasks of the webhooks app: thin adapters that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from payhealth.outbox import DATABASE_ERRORS, parse_instant
from webhooks.delivery import (
    DELIVER_TASK,
    OutcomeNotRecorded,
    WebhookRetry,
    webhook_deliver,
    webhook_record_outcome,
    webhook_requeue_stuck,
)


@shared_task(
    bind=True,
    name=DELIVER_TASK,
    acks_late=True,
    max_retries=None,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=30,
)
def deliver_webhook_task(self, delivery_id: int, outcome: dict | None = None) -> str:
    """POST one delivery; the row counts attempts and decides when to give up (PAYHEALTH_WEBHOOK_MAX_ATTEMPTS).

    `outcome` is set on a retry that only records an answer received while the database was
    away: that retry never POSTs."""
    try:
        if outcome is not None:
            return webhook_record_outcome(delivery_id=delivery_id, outcome=outcome)
        return webhook_deliver(delivery_id=delivery_id)
    except WebhookRetry as exc:
        raise self.retry(args=[delivery_id], kwargs={}, countdown=exc.countdown, exc=exc) from None
    except OutcomeNotRecorded as exc:
        kwargs = {"delivery_id": delivery_id, "outcome": exc.outcome}
        raise self.retry(args=[], kwargs=kwargs, countdown=exc.countdown, exc=exc) from None


@shared_task(name="webhooks.requeue_stuck_webhooks_task", acks_late=True)
def requeue_stuck_webhooks_task(reconnected_at: str | None = None) -> int:
    """Periodic (beat), and whenever a worker (re)connects to the broker: re-queue deliveries
    whose task was lost or whose worker died."""
    return webhook_requeue_stuck(reconnected_at=parse_instant(reconnected_at))
