"""Celery tasks of payment data: thin adapters over `monitoring.partitions`, the receipts and the pull."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from monitoring.detection.runner import detection_run, dispersion_estimate
from monitoring.partitions import partitions_create_ahead, partitions_drop_expired
from monitoring.pull import metrics_pull
from monitoring.services import metrics_receipts_purge
from monitoring.uploads import import_job_run, uploads_purge_abandoned


@shared_task(name="monitoring.create_metrics_partitions_task", acks_late=True)
def create_metrics_partitions_task() -> list[str]:
    """Periodic (beat): the bucket table's partitions for this month and the next two."""
    return partitions_create_ahead()


@shared_task(name="monitoring.apply_metrics_retention_task", acks_late=True)
def apply_metrics_retention_task() -> dict:
    """Periodic (beat): drop partitions past PAYHEALTH_METRICS_RETENTION_DAYS, forget old Idempotency-Keys,
    delete uploaded files nobody imported within a day."""
    return {
        "dropped": partitions_drop_expired(),
        "receipts_purged": metrics_receipts_purge(),
        "uploads_purged": uploads_purge_abandoned(),
    }


@shared_task(name="monitoring.pull_buckets_task", acks_late=True)
def pull_buckets_task() -> dict:
    """Periodic (beat, when PAYHEALTH_METRICS_SOURCE_URL is set): pull the next window of buckets.

    Idempotent: the run locks the watermark row (a concurrent tick skips) and re-reading a window
    changes nothing, so a redelivered task does no harm."""
    if not settings.PAYHEALTH_METRICS_SOURCE_URL:
        return {"state": "disabled"}
    pull = metrics_pull()
    if pull is None:
        return {"state": "skipped"}
    return {
        "state": "failed" if pull.last_error else "pulled",
        "rows": pull.rows_read,
        "inserted": pull.rows_inserted,
        "updated": pull.rows_updated,
        "unchanged": pull.rows_unchanged,
    }


IMPORT_TIME_LIMIT = 3600  # a file of up to PAYHEALTH_METRICS_UPLOAD_MAX_BYTES, well past the default task limit


@shared_task(
    name="monitoring.import_job_task",
    acks_late=True,
    time_limit=IMPORT_TIME_LIMIT,
    soft_time_limit=IMPORT_TIME_LIMIT - 30,
)
def import_job_task(job_id: int) -> dict:
    """Import an uploaded file (the upload page). Runs once: a redelivered task finds the job no
    longer queued and does nothing."""
    job = import_job_run(job_id)
    if job is None:
        return {"state": "missing"}
    return {"state": job.state, "rows": job.rows_read, "inserted": job.inserted}


@shared_task(name="monitoring.detection_run_task", acks_late=True)
def detection_run_task() -> dict:
    """Periodic (beat, every PAYHEALTH_DETECTION_SECONDS): test the buckets changed since the last run.

    Idempotent: the run reads only buckets changed since the last watermark and takes an advisory
    lock (a concurrent tick skips), so a redelivered task does no harm."""
    run = detection_run()
    if run is None:
        return {"state": "skipped"}
    return {
        "state": "ran",
        "run": run.pk,
        "buckets": run.buckets,
        "tests": run.tests,
        "rejected": run.rejected,
        "opened": run.findings_opened,
        "updated": run.findings_updated,
        "recovered": run.findings_recovered,
    }


@shared_task(name="monitoring.dispersion_estimate_task", acks_late=True)
def dispersion_estimate_task() -> dict:
    """Periodic (beat, nightly): re-estimate each segment's over-dispersion."""
    return {"segments": dispersion_estimate()}
