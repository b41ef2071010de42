"""Importing buckets from a file (CSV, or Parquet): read, map columns to fields, check, upsert.

A file is one batch: every row is checked, and any bad row (or a card number in any cell,
mapped or not) leaves the database as it was. Two readers, inside one transaction:

- **By columns** first (`_by_columns`): chunks of about COLUMN_CHUNK_ROWS rows read by pyarrow
  (every CSV column as text), checked a column at a time (`monitoring.columnar`) and written by
  `monitoring.services.bucket_columns_write` (COPY, one merge), the next chunk read and checked
  on a thread while one is written. It takes only plainly good rows, with the values the row
  reader would give them.
- **By rows** (`_by_rows`) when anything is not plainly good (a bad row, an unknown merchant, a
  row to be named, a looser spelling the row reader accepts): what the columns wrote is rolled
  back to a savepoint and the file is read again from the start, in chunks of CHUNK_ROWS checked
  row by row (`monitoring.rows`) and written through `buckets_upsert`; after the first bad row the
  remaining rows are still checked (to report every error, up to MAX_ERRORS) but no longer
  written, and the transaction is rolled back.

Either way memory stays within a chunk (and 8 bytes a row for the keys already written).

Columns are mapped to fields by an `ImportMapping` (field → column name); a field the mapping
leaves out is read from the column of its own name (the default mapping, docs/monitoring.md).
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.models import ImportMapping
from monitoring.rows import FIELDS, MAX_ERRORS, REQUIRED, ROW, RowError, bucket_bounds, holds_card_number, rows_validate
from monitoring.services import (
    SUBMIT_PERMISSION,
    BucketBatchInvalid,
    BucketKeys,
    bucket_columns_write,
    buckets_upsert,
)
from payhealth.pan import CARD_NUMBER_MESSAGE

CHUNK_ROWS = 5000  # rows checked one by one, then written together
COLUMN_CHUNK_ROWS = 100_000  # rows checked by columns, then written together
CSV_BLOCK_BYTES = 16 << 20  # about 100,000 rows of a CSV file
PROGRESS_EVERY = 2.0  # seconds between progress reports


@dataclass
class ImportResult:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    segments_created: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    errors: list[tuple[RowError, int, str]] = field(default_factory=list)  # (error, line, column)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class ImportFailed(Exception):
    """The file was refused; `result.errors` names each (row, line, column); nothing was written."""

    def __init__(self, result: ImportResult):
        super().__init__(_("%(count)d errors; nothing was imported.") % {"count": len(result.errors)})
        self.result = result


def mapping_columns(name: str | None) -> dict[str, str]:
    """Field → column: the named mapping over the default one (each field's own name)."""
    columns = {name_: name_ for name_ in FIELDS}
    if name:
        mapping = ImportMapping.objects.filter(name=name).first()
        if mapping is None:
            raise ValidationError({"mapping": _("No import mapping is named %(name)s.") % {"name": name}})
        columns.update(mapping.columns)
    return columns


def cell_value(value):
    """A Parquet or database value as the row reader takes it (CSV cells are text already)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _csv_records(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = list(csv.DictReader(handle).fieldnames or [])

    def records():
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for record in reader:
                yield reader.line_num, record

    return header, records()


def _parquet_records(path: Path) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    import pyarrow.parquet as pq  # only for Parquet files

    parquet = pq.ParquetFile(path)
    header = list(parquet.schema_arrow.names)

    def records():
        number = 0
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            for record in batch.to_pylist():
                number += 1
                yield number, {key: cell_value(value) for key, value in record.items()}

    return header, records()


def file_records(path: Path) -> tuple[str, list[str], Iterator[tuple[int, dict]]]:
    """(kind, header, records): each record with its line (CSV) or row (Parquet) number."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return "parquet", *_parquet_records(path)
    return "csv", *_csv_records(path)


def buckets_import(
    *,
    path: Path,
    mapping: str | None = None,
    columns: dict[str, str] | None = None,
    actor=None,
    dry_run: bool = False,
    progress: Callable[[int, float], None] | None = None,
) -> ImportResult:
    """Import a file of buckets as one batch (module docstring); raises ImportFailed naming every error.

    `columns` (field → column, as the upload page maps them) is used exactly as given: a field it
    leaves out is not read. Without it, the named `mapping` over the default one."""
    columns = dict(columns) if columns is not None else mapping_columns(mapping)
    kind, header, records = file_records(path)
    result = ImportResult(dry_run=dry_run)
    for column in header:
        if holds_card_number(column):
            result.errors.append((RowError(0, ROW, str(CARD_NUMBER_MESSAGE)), 1, ""))
            raise ImportFailed(result)
    missing = [columns.get(f, f) for f in FIELDS if f in REQUIRED and columns.get(f) not in header]
    if missing:
        for column in missing:
            result.errors.append((RowError(0, column, _("The file has no such column.")), 1, column))
        raise ImportFailed(result)
    wanted = {column: field_ for field_, column in columns.items() if column in header}
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():  # a savepoint: what the columns wrote goes if rows must be named
                result = _by_columns(path, kind, header, wanted, now=now, actor=actor, progress=progress)
        except _ByRows:
            result = _by_rows(records, wanted, now=now, source=f"import:{kind}", actor=actor, progress=progress)
        else:
            records.close()
        result.dry_run = dry_run
        if result.errors:
            once = {(error.row, column): (error, line, column) for error, line, column in result.errors}
            result.errors = list(once.values())
            transaction.set_rollback(True)
            raise ImportFailed(result)
        if result.rows == 0:
            result.errors.append((RowError(0, ROW, _("The file has no rows.")), 1, ""))
            raise ImportFailed(result)
        if dry_run:
            transaction.set_rollback(True)
    if progress:
        progress(result.rows, result.rows_per_second)
    return result


class _ByRows(Exception):
    """The file needs reading row by row: some row is not plainly good, or must be named."""


class _Progress:
    def __init__(self, progress: Callable[[int, float], None] | None):
        self.progress = progress
        self.started = self.last_report = time.monotonic()

    def __call__(self, rows: int) -> None:
        if self.progress and time.monotonic() - self.last_report >= PROGRESS_EVERY:
            self.last_report = time.monotonic()
            self.progress(rows, rows / (self.last_report - self.started))

    def seconds(self) -> float:
        return time.monotonic() - self.started


def _batches(path: Path, kind: str) -> Iterator:
    """The file as Arrow record batches of about COLUMN_CHUNK_ROWS rows, every CSV column as text."""
    if kind == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(path).iter_batches(batch_size=COLUMN_CHUNK_ROWS)
        return
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = _csv_records(path)[0]
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string())),
    )
    with reader:
        yield from reader


def _by_columns(path: Path, kind: str, header: list[str], wanted: dict, *, now, actor, progress) -> ImportResult:
    """The file checked and written by columns (`monitoring.columnar`); _ByRows if any row needs
    the row reader, to be accepted or named."""
    if len(set(header)) != len(header) or (actor is not None and not actor.has_perm(SUBMIT_PERMISSION)):
        raise _ByRows
    import pyarrow as pa

    from monitoring.columnar import columns_check

    minutes = settings.PAYHEALTH_METRICS_BUCKET_MINUTES
    earliest, latest = bucket_bounds(now=now, minutes=minutes, late_days=settings.PAYHEALTH_METRICS_LATE_DAYS)
    result, report, seen = ImportResult(), _Progress(progress), BucketKeys()

    def checked() -> Iterator[pa.Table]:
        for batch in _batches(path, kind):
            table = columns_check(batch, wanted, minutes=minutes, earliest=earliest, latest=latest)
            if batch.schema.names != header or table is None:
                raise _ByRows
            yield table

    try:
        # The next chunk is read and checked on a thread while this one is written: pyarrow and
        # the database both work without holding the interpreter.
        with ThreadPoolExecutor(max_workers=1) as reader:
            tables = checked()
            pending = reader.submit(next, tables, None)
            while (table := pending.result()) is not None:
                pending = reader.submit(next, tables, None)
                done = bucket_columns_write(table, source=f"import:{kind}", now=now, seen=seen)
                if done is None:
                    pending.cancel()
                    raise _ByRows
                result.rows += done.rows
                result.inserted += done.inserted
                result.updated += done.updated
                result.unchanged += done.unchanged
                result.segments_created += done.segments_created
                report(result.rows)
    except (pa.ArrowException, UnicodeDecodeError) as unreadable:  # the row reader says what it makes of it
        raise _ByRows from unreadable
    result.seconds = report.seconds()
    return result


def _by_rows(records, wanted: dict, *, now, source, actor, progress) -> ImportResult:
    """The file checked row by row (`monitoring.rows`) and written in chunks of CHUNK_ROWS; after
    the first error the rest is still checked, to name every error (up to MAX_ERRORS)."""
    result, report, seen = ImportResult(), _Progress(progress), set()
    chunk: list[dict] = []
    lines: list[int] = []
    for line, record in records:
        chunk.append(record)
        lines.append(line)
        if len(chunk) == CHUNK_ROWS:
            _chunk(chunk, lines, wanted, result, seen, now=now, source=source, actor=actor)
            chunk, lines = [], []
            report(result.rows)
    if chunk:
        _chunk(chunk, lines, wanted, result, seen, now=now, source=source, actor=actor)
    result.seconds = report.seconds()
    return result


def _chunk(records, lines, wanted, result: ImportResult, seen: set[bytes], *, now, source, actor) -> None:
    first = result.rows + 1
    result.rows += len(records)
    if len(result.errors) >= MAX_ERRORS:
        return
    column_of = {field_: column for column, field_ in wanted.items()}

    def fail(error: RowError, column: str) -> None:
        result.errors.append((error, lines[error.row - first], column))

    raws = []
    for number, record in enumerate(records, start=first):
        # A card number in any cell refuses the file, whether or not the mapping reads the column.
        for column, value in record.items():
            if holds_card_number(value):
                fail(RowError(number, column or ROW, str(CARD_NUMBER_MESSAGE)), column or "")
        raws.append({wanted[c]: v for c, v in record.items() if c in wanted and v not in (None, "")})
    rows, errors = rows_validate(
        raws,
        minutes=settings.PAYHEALTH_METRICS_BUCKET_MINUTES,
        late_days=settings.PAYHEALTH_METRICS_LATE_DAYS,
        now=now,
        first_number=first,
    )
    for error in errors:
        fail(error, column_of.get(error.field, error.field))
    for row in rows:
        dimensions = (row.merchant, row.network, row.bin_prefix, row.issuer, row.route, row.country, row.funding)
        key = "|".join([*dimensions, row.entry_mode, row.bucket_start.isoformat()])
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        if digest in seen:
            message = _("An earlier row already gives this segment and bucket.")
            fail(RowError(row.number, "bucket_start", message), column_of["bucket_start"])
        seen.add(digest)
    if result.errors:
        return
    try:
        with transaction.atomic():
            done = buckets_upsert(rows, source=source, actor=actor, now=now)
    except BucketBatchInvalid as invalid:  # unknown merchants or partners, found by the lookups
        for error in invalid.row_errors:
            fail(error, column_of.get(error.field, error.field))
        return
    result.inserted += done.inserted
    result.updated += done.updated
    result.unchanged += done.unchanged
    result.segments_created += done.segments_created
