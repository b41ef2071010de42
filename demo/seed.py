"""A believable demo desk for development, screenshots and benchmarks (`manage.py seed_demo`).

- `seed_base`: users per role, partners, contacts, merchants and ~200 incident stories over the
  last 90 days; idempotent on natural keys and deterministic (fixed seeds, times relative to now).
  Their SLA clocks are replayed from each incident's history (`demo.sla`).
- `seed_bulk`: N more incidents over the last year, for load and query benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction

from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Correspondence,
    Incident,
    InvestigationNote,
    Merchant,
    PartnerEngagement,
    SlaClock,
    SlaRollupPending,
    SlaRollupStaleMonth,
)
from cases.sla.rollups import next_month, sla_rollup_fold
from demo.bulk import BULK_PREFIX, BulkProgress, seed_bulk_incidents
from demo.catalog import DEMO_PASSWORD, DEMO_USERS
from demo.desk import DemoDesk, seed_desk
from demo.incidents import DEMO_COUNT, DEMO_PREFIX, seed_demo_incidents
from demo.sla import seed_demo_clocks
from monitoring.models import AuthBucket, Segment
from partners.models import Partner, PartnerContact

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "BulkProgress", "DemoDesk", "demo_counts", "seed_base", "seed_bulk"]


@transaction.atomic
def seed_base(*, now: datetime | None = None) -> int:
    """Build (or complete) the demo desk; returns how many demo incidents were created."""
    desk = seed_desk()
    created = seed_demo_incidents(desk, now=now, count=DEMO_COUNT)
    seed_demo_clocks(prefix=DEMO_PREFIX, now=now)  # SLA clocks from each incident's history
    return created


def seed_bulk(count: int, *, now: datetime | None = None, progress: Callable[[BulkProgress], None] | None = None):
    """Make sure the desk exists, then add `count` bulk incidents; returns their references."""
    with transaction.atomic():
        desk = seed_desk()
    references = seed_bulk_incidents(desk, count, now=now, progress=progress)
    fold_marked_days()  # the SLA reports' rollups of the days the batches marked
    # Fresh statistics, so the planner sees the new size of the desk at once.
    with connection.cursor() as cursor:
        for table in (
            "cases_incident",
            "cases_affectedmerchant",
            "cases_partnerengagement",
            "cases_caseevent",
            "cases_slaclock",
            "cases_slaclockevent",
        ):
            cursor.execute(f"ANALYZE {table}")
    return references


FOLD_JOBS = 2  # connections folding the marked days, then re-summing the months, side by side


def fold_marked_days(*, jobs: int = FOLD_JOBS) -> int:
    """Fold the days the seed marked for the SLA reports' rollups, then re-sum the months they
    touched; returns how many days were folded.

    A seed of a year marks every day of it: folding them is minutes of one PostgreSQL backend at a
    million incidents (each freshly written clock read for the first time), and re-summing their
    months tens of seconds more, which the first report would otherwise wait for. Outside a
    transaction both are cut into `jobs` runs, each done by `sla_rollup_fold` on a connection of its
    own, side by side: first runs of consecutive days (they share no day; a month two runs share is
    only marked stale by both), then, once every day is in, runs of the stale months. Inside a
    transaction (tests) other connections would not see its clocks: one fold, here."""
    days = list(SlaRollupPending.objects.order_by("day").values_list("day", flat=True))
    if jobs < 2 or len(days) < 2 or connection.in_atomic_block:
        return sla_rollup_fold()
    folded = sum(_side_by_side([{"first": first, "last": last} for first, last in _runs(days, jobs)]))
    months = list(SlaRollupStaleMonth.objects.order_by("month").values_list("month", flat=True))
    _side_by_side([{"months": (first, next_month(last))} for first, last in _runs(months, jobs)])
    return folded + sla_rollup_fold()  # a day marked meanwhile (none, unless the desk is running)


def _runs(values: list, jobs: int) -> list[tuple]:
    """`values` (sorted) cut into at most `jobs` runs of about the same length: (first, last) each."""
    size = -(-len(values) // jobs) if values else 1
    return [(values[start], values[min(start + size, len(values)) - 1]) for start in range(0, len(values), size)]


def _side_by_side(calls: list[dict]) -> list[int]:
    """`sla_rollup_fold(**call)` for each call, each in a thread with a connection of its own."""

    def fold(call: dict) -> int:
        try:
            return sla_rollup_fold(**call)
        finally:
            connections.close_all()  # this thread's connection

    if not calls:
        return []
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(fold, calls))


def demo_counts() -> list[tuple[str, int]]:
    usernames = [spec.username for spec in DEMO_USERS]
    return [
        ("demo users", get_user_model().objects.filter(username__in=usernames).count()),
        ("partners", Partner.objects.count()),
        ("partner contacts", PartnerContact.objects.count()),
        ("merchants", Merchant.objects.count()),
        ("incidents", Incident.objects.count()),
        ("  demo incidents", Incident.objects.filter(fingerprint__startswith=DEMO_PREFIX).count()),
        ("  bulk incidents", Incident.objects.filter(fingerprint__startswith=BULK_PREFIX).count()),
        ("affected merchants", AffectedMerchant.objects.count()),
        ("partner engagements", PartnerEngagement.objects.count()),
        ("investigation notes", InvestigationNote.objects.count()),
        ("correspondence", Correspondence.objects.count()),
        ("timeline events", CaseEvent.objects.count()),
        ("SLA clocks", SlaClock.objects.count()),
        ("  running SLA clocks", SlaClock.objects.filter(state=SlaClock.State.RUNNING).count()),
        ("payment segments", Segment.objects.count()),
        ("payment buckets", AuthBucket.objects.count()),
    ]
