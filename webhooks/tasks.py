"""Celery tasks of the webhooks app: thin adapters that take ids and call a service."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import shared_task

from webhooks.delivery import WebhookRetry, webhook_deliver, webhook_requeue_stuck

logger = logging.getLogger(__name__)

# Publishing happens after a commit, in the request that created the deliveries: fail fast when
# the broker is down (the rows stay `pending` and the sweep re-queues them) instead of hanging.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


@shared_task(bind=True, name="webhooks.deliver_webhook_task", acks_late=True, max_retries=None)
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


def enqueue_webhook_deliveries(delivery_ids: Iterable[int]) -> int:
    """Publish one task per delivery; called on commit. A broker outage loses nothing: the rows
    stay `pending` and the sweep re-queues them, so the error is logged, not raised."""
    ids = list(delivery_ids)
    published = 0
    try:
        with deliver_webhook_task.app.producer_or_acquire() as producer:
            for delivery_id in ids:
                deliver_webhook_task.apply_async(
                    args=[delivery_id], producer=producer, retry_policy=PUBLISH_RETRY_POLICY
                )
                published += 1
    except Exception as exc:  # kombu's OperationalError, a socket error: the broker is unreachable
        logger.warning(
            "broker unavailable (%s): %s webhook deliveries stay pending until the sweep re-queues them",
            exc,
            len(ids) - published,
        )
    return published
