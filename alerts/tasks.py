"""Celery tasks of the alerts app: thin adapters that call the intake's services."""

from __future__ import annotations

from celery import shared_task

from alerts.services import APPLY_TASK, alert_receipts_drain
from payhealth.outbox import DATABASE_ERRORS


@shared_task(
    name=APPLY_TASK,
    acks_late=True,
    max_retries=None,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
)
def apply_pending_alerts_task(receipt_id: int | None = None, reconnected_at: str | None = None) -> int:
    """Apply pending alert receipts in batches until none is left; returns how many it applied.

    Published after an accepted alert's commit (`receipt_id`; not when an older receipt is still
    pending, which a task published before applies with it), by beat as a sweep for receipts
    whose message was lost, and by a worker that (re)connects to the broker. Whichever
    runs first takes the receipts; the others find them locked or applied and return."""
    return alert_receipts_drain()
