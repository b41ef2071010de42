"""Celery tasks of the cases app itself (the correspondence and the SLA clocks have their own).

Beat folds the overview's pending counter deltas every minute (`cases.overview`).
"""

from __future__ import annotations

from celery import shared_task

from cases.overview import overview_counters_fold


@shared_task(name="cases.overview_counters_fold_task", acks_late=True)
def overview_counters_fold_task() -> int:
    """Periodic (beat): move the overview's pending deltas into its counters; idempotent, and a
    no-op while another fold runs."""
    return overview_counters_fold()
