"""Files of buckets uploaded on the upload page: store, preview, map, import (on a worker).

One function per step. `upload_store` keeps the file in the private upload directory and reads
what the preview needs (the header, the first rows, the row count); anything that is not a
readable CSV or Parquet file of buckets is a `ValidationError` on the file field, never a 5xx.
`upload_start` records the column mapping (and saves it under a name if asked) and queues
`monitoring.import_job_task`, which runs `import_job_run`: the same `buckets_import` as
`manage.py import_buckets` (one batch, COPY and merge, every row or none), reporting progress
(rows read, rows/s) like the command does, and deleting the file at the end, whatever happens.
"""

from __future__ import annotations

import csv
import os
import uuid
from datetime import timedelta
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.importing import ImportFailed, buckets_import, file_records
from monitoring.models import ImportJob, ImportJobState, ImportMapping
from monitoring.rows import FIELDS, REQUIRED, holds_card_number
from payhealth.pan import CARD_NUMBER_MESSAGE

PREVIEW_ROWS = 10
MAX_COLUMNS = 100
MAX_HEADER_CHARS = 10_000
PARQUET_MAGIC = b"PAR1"
MAX_JOB_ERRORS = 100


def upload_dir() -> Path:
    directory = Path(settings.PAYHEALTH_METRICS_UPLOAD_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def job_path(job: ImportJob) -> Path:
    return upload_dir() / job.stored_name


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def _sniff_kind(name: str, head: bytes) -> str:
    if head.startswith(PARQUET_MAGIC) or name.lower().endswith((".parquet", ".pq")):
        if not head.startswith(PARQUET_MAGIC):
            raise _refuse(_("This is not a Parquet file."))
        return "parquet"
    if b"\x00" in head:
        raise _refuse(_("This is neither a CSV (UTF-8 text) nor a Parquet file."))
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a character cut at the end of the sample
            raise _refuse(_("This is neither a CSV (UTF-8 text) nor a Parquet file.")) from None
    return "csv"


def _check_header(path: Path, kind: str) -> None:
    """Refuse a header that is empty or oversized before the csv module reads it."""
    if kind != "csv":
        return
    with path.open("rb") as handle:
        first = handle.readline(MAX_HEADER_CHARS * 4 + 1)
    if not first.strip(b"\r\n\t \xef\xbb\xbf"):
        raise _refuse(_("The file is empty: a header line naming the columns comes first."))
    if len(first) > MAX_HEADER_CHARS * 4 or (not first.endswith(b"\n") and len(first) > MAX_HEADER_CHARS):
        raise _refuse(_("The header line is too long (at most %(chars)d characters).") % {"chars": MAX_HEADER_CHARS})


def read_preview(path: Path) -> tuple[str, list[str], list[dict], int]:
    """(kind, header, first rows, row count) of a stored file; ValidationError if unreadable."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if not head:
        raise _refuse(_("The file is empty: a header line naming the columns comes first."))
    kind = _sniff_kind(path.name, head)
    _check_header(path, kind)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            total = pq.ParquetFile(path).metadata.num_rows
            _kind, header, records = file_records(path)
        else:
            _kind, header, records = file_records(path)
            with path.open(newline="", encoding="utf-8-sig") as handle:
                total = max(sum(1 for _row in csv.reader(handle)) - 1, 0)
        rows = [record for _line, record in islice(records, PREVIEW_ROWS)]
        records.close()
    except (csv.Error, UnicodeDecodeError, ValueError, OSError) as error:
        raise _refuse(_("The file cannot be read: %(reason)s") % {"reason": _reason(error)}) from None
    except Exception as error:  # pyarrow's own errors (ArrowInvalid and kin)
        if type(error).__module__.startswith("pyarrow"):
            raise _refuse(_("The file cannot be read: %(reason)s") % {"reason": _reason(error)}) from None
        raise
    header = [str(column) for column in header]
    if not header or not any(column.strip() for column in header):
        raise _refuse(_("The file is empty: a header line naming the columns comes first."))
    if len(header) > MAX_COLUMNS:
        raise _refuse(
            _("The file has %(count)d columns; at most %(max)d.") % {"count": len(header), "max": MAX_COLUMNS}
        )
    if sum(len(column) for column in header) > MAX_HEADER_CHARS:
        raise _refuse(_("The header line is too long (at most %(chars)d characters).") % {"chars": MAX_HEADER_CHARS})
    if len(set(header)) != len(header):
        raise _refuse(_("Two columns of the header have the same name."))
    if any(holds_card_number(column) for column in header):
        raise _refuse(str(CARD_NUMBER_MESSAGE))
    for number, record in enumerate(rows, start=1):
        if any(holds_card_number(value) or holds_card_number(key) for key, value in record.items()):
            raise _refuse(_("Row %(row)d: %(message)s") % {"row": number, "message": CARD_NUMBER_MESSAGE})
    if total == 0:
        raise _refuse(_("The file has no rows."))
    return kind, header, rows, total


def _reason(error: Exception) -> str:
    """The first line of a reader's error, short, never a cell's value (no card number echoed)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    text = text[:200]
    return str(CARD_NUMBER_MESSAGE) if holds_card_number(text) else text


def upload_store(*, uploaded, actor) -> ImportJob:
    """Keep an uploaded file (a Django UploadedFile) for its import and read its header, its
    first rows and its row count. Refused (ValidationError on "file"): too large, empty, not
    CSV or Parquet, unreadable, a header too long, a card number in the header or the preview."""
    if uploaded.size > settings.PAYHEALTH_METRICS_UPLOAD_MAX_BYTES:
        limit = settings.PAYHEALTH_METRICS_UPLOAD_MAX_BYTES // (1024 * 1024) or 1
        raise _refuse(_("The file is larger than %(mib)d MiB.") % {"mib": limit})
    name = os.path.basename(uploaded.name or "upload")[:200] or "upload"
    suffix = ".parquet" if name.lower().endswith((".parquet", ".pq")) else ".csv"
    stored = f"{uuid.uuid4().hex}{suffix}"
    path = upload_dir() / stored
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    try:
        kind, header, rows, total = read_preview(path)
        if kind == "parquet" and suffix != ".parquet":
            path = path.rename(path.with_suffix(".parquet"))
            stored = path.name
    except ValidationError:
        path.unlink(missing_ok=True)
        raise
    job = ImportJob.objects.create(
        created_by=actor,
        file_name=name,
        stored_name=stored,
        kind=kind,
        size=uploaded.size,
        header=header,
        rows_total=total,
    )
    return job


def job_preview(job: ImportJob) -> list[dict]:
    """The first rows of the file, as read at upload (the file is still there until imported)."""
    path = job_path(job)
    if not path.exists():
        return []
    try:
        return read_preview(path)[2]
    except ValidationError:
        return []


def suggested_mapping(header: list[str], saved: ImportMapping | None = None) -> dict[str, str]:
    """Field → column preselected: the saved mapping's column when the file has it, else the
    column of the field's own name, else one named the same but for case, spaces and dashes."""
    plain = {column.strip().lower().replace(" ", "_").replace("-", "_"): column for column in header}
    mapping = {}
    for field in FIELDS:
        wanted = (saved.columns.get(field) if saved else None) or field
        if wanted in header:
            mapping[field] = wanted
        elif field in header:
            mapping[field] = field
        elif field in plain:
            mapping[field] = plain[field]
    return mapping


def mapping_matching(header: list[str]) -> ImportMapping | None:
    """The first saved mapping whose every column is in the file's header."""
    for mapping in ImportMapping.objects.all()[:200]:
        if mapping.columns and all(column in header for column in mapping.columns.values()):
            return mapping
    return None


@transaction.atomic
def upload_start(*, job: ImportJob, mapping: dict[str, str], save_as: str = "", actor) -> ImportJob:
    """Record the mapping (field → column; a field left out is not read) and queue the import."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.state != ImportJobState.UPLOADED:
        raise ValidationError(_("This file is already being imported."))
    missing = [field for field in REQUIRED if not mapping.get(field)]
    if missing:
        raise ValidationError({field: _("Choose the column of this field.") for field in missing})
    unknown = [column for column in mapping.values() if column not in job.header]
    if unknown:
        raise ValidationError(_("The file has no such column."))
    if save_as:
        saved, _created = ImportMapping.objects.get_or_create(name=save_as)
        saved.columns = {field: column for field, column in mapping.items() if column != field}
        saved.full_clean()
        saved.save()
    job.mapping = mapping
    job.state = ImportJobState.QUEUED
    job.save(update_fields=["mapping", "state"])

    from monitoring.tasks import import_job_task  # the task module imports this one

    transaction.on_commit(lambda: import_job_task.delay(job.pk))
    return job


class _ProgressWriter:
    """Writes a job's progress on its own database connection (autocommit), outside the
    import's transaction, so the page polling the job sees it while the import runs."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.connection = connections.create_connection("default")

    def __call__(self, rows: int, rate: float) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE monitoring_importjob SET rows_read = %s, rows_per_second = %s WHERE id = %s",
                [rows, rate, self.job_id],
            )

    def close(self) -> None:
        self.connection.close()


def import_job_run(job_id: int) -> ImportJob | None:
    """Import a queued job's file (on a worker). Runs once: a job no longer queued is left alone."""
    claimed = ImportJob.objects.filter(pk=job_id, state=ImportJobState.QUEUED).update(
        state=ImportJobState.RUNNING, started_at=timezone.now()
    )
    job = ImportJob.objects.filter(pk=job_id).first()
    if not claimed or job is None:
        return job
    path = job_path(job)
    progress = _ProgressWriter(job.pk)
    try:
        result = buckets_import(path=path, columns=job.mapping, actor=job.created_by, progress=progress)
    except ImportFailed as failed:
        job.state = ImportJobState.FAILED
        job.rows_read = failed.result.rows
        job.errors = [
            {"row": error.row, "line": line, "column": column, "message": str(error.message)}
            for error, line, column in failed.result.errors[:MAX_JOB_ERRORS]
        ]
    except (ValidationError, OSError) as error:
        job.state = ImportJobState.FAILED
        messages = error.messages if isinstance(error, ValidationError) else [_("The file could not be read.")]
        job.errors = [{"row": 0, "line": 0, "column": "", "message": str(m)} for m in messages[:MAX_JOB_ERRORS]]
    else:
        job.state = ImportJobState.DONE
        job.rows_read = result.rows
        job.rows_per_second = result.rows_per_second
        job.inserted, job.updated, job.unchanged = result.inserted, result.updated, result.unchanged
        job.segments_created = result.segments_created
    finally:
        progress.close()
        path.unlink(missing_ok=True)
    job.finished_at = timezone.now()
    job.save()
    return job


ABANDONED_AFTER = timedelta(hours=24)


def uploads_purge_abandoned(*, now=None) -> int:
    """Files uploaded but never imported (no mapping chosen within a day) are deleted and their
    jobs marked refused; beat runs this with the retention. Returns how many."""
    now = now or timezone.now()
    count = 0
    for job in ImportJob.objects.filter(state=ImportJobState.UPLOADED, created_at__lt=now - ABANDONED_AFTER):
        claimed = ImportJob.objects.filter(pk=job.pk, state=ImportJobState.UPLOADED).update(
            state=ImportJobState.FAILED,
            finished_at=now,
            errors=[
                {
                    "row": 0,
                    "line": 0,
                    "column": "",
                    "message": str(_("Not imported within a day; the file was deleted.")),
                }
            ],
        )
        if claimed:
            job_path(job).unlink(missing_ok=True)
            count += 1
    return count


def jobs_of(*, user):
    """The user's own uploads (everyone's for a superuser)."""
    if not user.has_perm("monitoring.submit_metrics"):
        return ImportJob.objects.none()
    jobs = ImportJob.objects.all()
    return jobs if user.is_superuser else jobs.filter(created_by=user)
