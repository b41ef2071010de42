"""The monthly partitions of `monitoring_authbucket` (declared `PARTITION BY RANGE (bucket_start)`).

A partition holds one calendar month in UTC and is named `monitoring_authbucket_pYYYYMM`. Beat
keeps the current month and the next two ready (`partitions_create_ahead`); the upsert creates,
in its own transaction, any month a batch needs that does not exist yet (a late row of last
month, a future row near a month's end), so a batch never fails for want of a partition.
`partitions_drop_expired` drops whole partitions whose every bucket is older than
PAYHEALTH_METRICS_RETENTION_DAYS: a `DROP TABLE`, not a `DELETE`, so retention costs nothing
however many rows it removes. Only tables named by this module are ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

PARENT = "monitoring_authbucket"
AHEAD_MONTHS = 2
_NAME = re.compile(rf"^{PARENT}_p(\d{{4}})(\d{{2}})$")
# One number for every session that creates or drops partitions: they take turns.
_LOCK_KEY = 0x6D6F6E70  # "monp"


def month_of(moment: datetime) -> date:
    """The first day of `moment`'s month in UTC."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month:%Y%m}"


def partitions_existing() -> dict[str, date]:
    """Each partition of the bucket table (read from pg_inherits) → its month."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = {}
    for name in names:
        found = _NAME.match(name)
        if found:
            months[name] = date(int(found[1]), int(found[2]), 1)
    return months


@transaction.atomic
def partitions_ensure(*, months: Iterable[date]) -> list[str]:
    """Create the partitions of `months` that do not exist yet; the names created.

    Takes a transaction-scoped advisory lock first, so two batches needing the same new month
    create it once.
    """
    wanted = sorted({date(m.year, m.month, 1) for m in months})
    if not wanted:
        return []
    existing = set(partitions_existing().values())
    missing = [month for month in wanted if month not in existing]
    if not missing:
        return []
    created = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        existing = set(partitions_existing().values())
        for month in missing:
            if month in existing:
                continue
            start = datetime(month.year, month.month, 1, tzinfo=UTC)
            end_month = next_month(month)
            end = datetime(end_month.year, end_month.month, 1, tzinfo=UTC)
            name = partition_name(month)
            cursor.execute(
                f'CREATE TABLE "{name}" PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)',
                [start.isoformat(), end.isoformat()],
            )
            created.append(name)
    return created


def partitions_create_ahead(*, now: datetime | None = None) -> list[str]:
    """The current month, the AHEAD_MONTHS after it, and the months a late row may still fall in."""
    now = now or timezone.now()
    months = [month_of(now - timedelta(days=settings.PAYHEALTH_METRICS_LATE_DAYS))]
    month = month_of(now)
    for _ in range(AHEAD_MONTHS + 1):
        months.append(month)
        month = next_month(month)
    return partitions_ensure(months=months)


@transaction.atomic
def partitions_drop_expired(*, now: datetime | None = None, days: int | None = None) -> list[str]:
    """Drop the partitions whose month ended more than `days` (PAYHEALTH_METRICS_RETENTION_DAYS) ago."""
    now = now or timezone.now()
    days = settings.PAYHEALTH_METRICS_RETENTION_DAYS if days is None else days
    cutoff = now - timedelta(days=days)
    dropped = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        for name, month in sorted(partitions_existing().items(), key=lambda item: item[1]):
            end_month = next_month(month)
            if datetime(end_month.year, end_month.month, 1, tzinfo=UTC) <= cutoff:
                cursor.execute(f'DROP TABLE "{name}"')
                dropped.append(name)
    return dropped
