"""Celery tasks of payment data: thin adapters over `monitoring.partitions` and the receipts."""

from __future__ import annotations

from celery import shared_task

from monitoring.partitions import partitions_create_ahead, partitions_drop_expired
from monitoring.services import metrics_receipts_purge


@shared_task(name="monitoring.create_metrics_partitions_task", acks_late=True)
def create_metrics_partitions_task() -> list[str]:
    """Periodic (beat): the bucket table's partitions for this month and the next two."""
    return partitions_create_ahead()


@shared_task(name="monitoring.apply_metrics_retention_task", acks_late=True)
def apply_metrics_retention_task() -> dict:
    """Periodic (beat): drop partitions past PAYHEALTH_METRICS_RETENTION_DAYS, forget old Idempotency-Keys."""
    return {"dropped": partitions_drop_expired(), "receipts_purged": metrics_receipts_purge()}
