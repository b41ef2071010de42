"""Celery tasks of partner costs: thin adapters over the services."""

from __future__ import annotations

from celery import shared_task

from costs.models import FeeImport
from costs.services import fee_import_check


@shared_task(name="costs.check_import_task", acks_late=True)
def check_import_task(fee_import_id: int) -> list[dict]:
    """After an import commits: the checks for each month it holds. Idempotent, so a redelivery is harmless."""
    imported = FeeImport.objects.filter(pk=fee_import_id).select_related("partner").first()
    return [] if imported is None else fee_import_check(imported)
