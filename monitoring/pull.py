"""The scheduled pull of buckets from a warehouse: a read-only SELECT over a window, one upsert.

Every PAYHEALTH_METRICS_PULL_SECONDS beat runs `metrics_pull`, which:

1. locks the source's `MetricsPull` row (SKIP LOCKED: a second run while one is going returns at
   once, so two beat ticks never pull twice);
2. picks the window [watermark − PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES, now aligned down to a
   bucket boundary), never earlier than rows are accepted (PAYHEALTH_METRICS_LATE_DAYS); the first
   run reads one lookback;
3. runs PAYHEALTH_METRICS_SOURCE_QUERY on PAYHEALTH_METRICS_SOURCE_URL with `:start`/`:end` bound as
   parameters, in a READ ONLY transaction (also the session default) with a statement timeout,
   and refuses a window of more than PAYHEALTH_METRICS_SOURCE_MAX_ROWS rows;
4. maps the columns with the import mapping PAYHEALTH_METRICS_SOURCE_MAPPING and writes the rows
   through `buckets_upsert`, all or none: re-reading rows already stored changes nothing, a
   corrected row replaces its bucket;
5. on success moves the watermark to the window's end; on failure keeps it and records the error
   (a bad row by its number and field, never its value), so the next run retries the same window.

`manage.py pull_buckets --start --end` pulls an explicit window (a backfill) through the same
function; an explicit window never moves the watermark.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from monitoring.importing import cell_value, mapping_columns
from monitoring.models import MetricsPull
from monitoring.rows import ROW, RowError, bucket_floor, holds_card_number
from monitoring.services import BucketBatchInvalid, buckets_upsert
from payhealth.pan import CARD_NUMBER_MESSAGE, masked

logger = logging.getLogger(__name__)

SOURCE = "warehouse"
CURSOR = "payhealth_metrics_pull"
FETCH_ROWS = 2000
CONNECT_TIMEOUT = 10  # seconds
ERROR_MAX = 2000  # characters of an error kept on the watermark row
_QUERY_PARTS = re.compile(
    r"(?P<noise>--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")|(?<![:\w]):(?P<name>start|end)\b|(?P<percent>%)",
    re.DOTALL,
)


class PullFailed(Exception):
    """A run that wrote nothing: its message (and the bad row's number) go on the watermark row."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.row = row


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def query_parameters(query: str) -> str:
    """The query with `:start`/`:end` as psycopg's named parameters (bound by the server, never
    formatted into the text) and every other `%` doubled; comments and quoted text are kept as
    written apart from the doubling."""

    def part(match: re.Match) -> str:
        if match.group("noise") is not None:
            return match.group("noise").replace("%", "%%")
        if match.group("name") is not None:
            return f"%({match.group('name')})s"
        return "%%"

    return _QUERY_PARTS.sub(part, query)


def pull_window(*, pull: MetricsPull, now: datetime) -> Window:
    """[watermark − lookback, now aligned down to a bucket end), never before the earliest bucket
    still accepted."""
    minutes = settings.PAYHEALTH_METRICS_BUCKET_MINUTES
    end = bucket_floor(now, minutes)
    lookback = timedelta(minutes=settings.PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES)
    start = (pull.window_end or end) - lookback
    earliest = now - timedelta(days=settings.PAYHEALTH_METRICS_LATE_DAYS)
    if start < earliest:
        start = bucket_floor(earliest, minutes) + timedelta(minutes=minutes)
    return Window(start=min(start, end), end=end)


def source_read(*, window: Window, url: str | None = None, query: str | None = None) -> list[dict]:
    """The query's rows for the window, read in a read-only transaction on the source."""
    url = url if url is not None else settings.PAYHEALTH_METRICS_SOURCE_URL
    query = query if query is not None else settings.PAYHEALTH_METRICS_SOURCE_QUERY
    timeout_ms = settings.PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS * 1000
    cap = settings.PAYHEALTH_METRICS_SOURCE_MAX_ROWS
    options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
    with psycopg.connect(url, options=options, connect_timeout=CONNECT_TIMEOUT, application_name="payhealth") as conn:
        conn.read_only = True  # BEGIN READ ONLY, on top of the session default
        with conn.transaction(), conn.cursor(name=CURSOR) as cursor:
            cursor.itersize = FETCH_ROWS
            cursor.execute(query_parameters(query), {"start": window.start, "end": window.end})
            names = [column.name for column in cursor.description or []]
            records = []
            for values in cursor:
                if len(records) == cap:
                    raise PullFailed(
                        _("The query returned more than %(max)d rows for one window; pull smaller windows.")
                        % {"max": cap}
                    )
                records.append(dict(zip(names, values, strict=True)))
    return records


def source_rows(records: list[dict], *, mapping: str) -> list[dict]:
    """Records (column → value) as raw bucket rows (field → value). A card number in any column,
    mapped or not, refuses the batch with its row number."""
    columns = mapping_columns(mapping or None)
    wanted = {column: field for field, column in columns.items()}
    raws = []
    for number, record in enumerate(records, start=1):
        for column, value in record.items():
            if holds_card_number(cell_value(value)):
                raise BucketBatchInvalid([RowError(number, column or ROW, str(CARD_NUMBER_MESSAGE))])
        raws.append({wanted[c]: cell_value(v) for c, v in record.items() if c in wanted and v not in (None, "")})
    return raws


def metrics_pull(
    *, now: datetime | None = None, start: datetime | None = None, end: datetime | None = None, source: str = SOURCE
) -> MetricsPull | None:
    """Pull one window (the scheduled one, or [start, end) for a backfill) and record the run on
    the source's watermark row; None when another run holds that row."""
    now = now or timezone.now()
    MetricsPull.objects.get_or_create(source=source)
    with transaction.atomic():
        pull = MetricsPull.objects.select_for_update(skip_locked=True).filter(source=source).first()
        if pull is None:
            logger.info("metrics_pull source=%s skipped: another run holds the watermark", source)
            return None
        scheduled = start is None and end is None
        window = pull_window(pull=pull, now=now) if scheduled else Window(start=start, end=end)
        pull.last_run_at = now
        pull.last_window_start, pull.last_window_end = window.start, window.end
        try:
            with transaction.atomic():
                records = source_read(window=window) if window.start < window.end else []
                rows = source_rows(records, mapping=settings.PAYHEALTH_METRICS_SOURCE_MAPPING)
                result = buckets_upsert(rows, source=f"pull:{source}", now=now) if rows else None
        except BucketBatchInvalid as invalid:
            first = invalid.row_errors[0]
            message = _("Row %(row)d, %(field)s: %(message)s") % {
                "row": first.row,
                "field": first.field,
                "message": first.message,
            }
            _failed(pull, message, row=first.row, count=len(records))
        except PullFailed as failed:
            _failed(pull, str(failed), row=failed.row, count=0)
        except ValidationError as invalid:  # an unknown mapping
            _failed(pull, "; ".join(invalid.messages), row=None, count=0)
        except psycopg.Error as error:
            _failed(
                pull, _("The source refused the query: %(error)s") % {"error": _error_text(error)}, row=None, count=0
            )
        else:
            pull.rows_read = len(records)
            pull.rows_inserted = result.inserted if result else 0
            pull.rows_updated = result.updated if result else 0
            pull.rows_unchanged = result.unchanged if result else 0
            pull.last_error, pull.last_error_row, pull.failures = "", None, 0
            pull.last_success_at = now
            if scheduled:
                pull.window_end = window.end
        pull.save()
    return pull


def _failed(pull: MetricsPull, message: str, *, row: int | None, count: int) -> None:
    pull.last_error = str(masked(message))[:ERROR_MAX]
    pull.last_error_row = row
    pull.failures += 1
    pull.rows_read, pull.rows_inserted, pull.rows_updated, pull.rows_unchanged = count, 0, 0, 0
    logger.warning("metrics_pull source=%s failed: %s", pull.source, pull.last_error)


def _error_text(error: psycopg.Error) -> str:
    """The server's primary message only: its DETAIL may quote a value read from the source."""
    diag = getattr(error, "diag", None)
    return (diag.message_primary if diag is not None and diag.message_primary else str(error).splitlines()[0])[:500]
