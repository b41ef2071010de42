"""Celery tasks of the webhooks app: thin adapters that take ids and call a service."""

from __future__ import annotations

from celery import shared_task

from webhooks.delivery import DELIVER_TASK, WebhookRetry, webhook_deliver, webhook_requeue_stuck


@shared_task(bind=True, name=DELIVER_TASK, acks_late=True, max_retries=None)
def deliver_webhook_task(self, delivery_id: int) -> str:
    """POST one delivery; the row counts attempts and decides when to give up (PAYHEALTH_WEBHOOK_MAX_ATTEMPTS)."""
    try:
        return webhook_deliver(delivery_id=delivery_id)
    except WebhookRetry as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from None


@shared_task(name="webhooks.requeue_stuck_webhooks_task", acks_late=True)
def requeue_stuck_webhooks_task() -> int:
    """Periodic (beat): re-queue deliveries whose task was lost or whose worker died."""
    return webhook_requeue_stuck()
