"""A believable demo desk for development, screenshots and benchmarks (`manage.py seed_demo`).

- `seed_base`: users per role, partners, contacts, merchants and ~200 incident stories over the
  last 90 days; idempotent on natural keys and deterministic (fixed seeds, times relative to now).
  Their SLA clocks are replayed from each incident's history (`demo.sla`).
- `seed_bulk`: N more incidents over the last year, for load and query benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

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
)
from cases.sla.rollups import sla_rollup_fold
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


FOLD_JOBS = 2  # connections folding the marked days side by side


def fold_marked_days(*, jobs: int = FOLD_JOBS) -> int:
    """Fold the days the seed marked for the SLA reports' rollups; returns how many were folded.

    A seed of a year marks every day of it, and folding them is minutes of one PostgreSQL backend
    at a million incidents (each freshly written clock read for the first time). Outside a
    transaction the marked days are cut into `jobs` runs of consecutive days, each folded by
    `sla_rollup_fold` on a connection of its own, side by side: the same statements, fewer days
    each; the runs share no day, and a month they share is only marked stale by both. Inside a
    transaction (tests), other connections would not see its clocks: one fold, here."""
    days = list(SlaRollupPending.objects.order_by("day").values_list("day", flat=True))
    if jobs < 2 or len(days) < 2 or connection.in_atomic_block:
        return sla_rollup_fold()
    size = -(-len(days) // jobs)
    runs = [(days[start], days[min(start + size, len(days)) - 1]) for start in range(0, len(days), size)]

    def fold(run: tuple[date, date]) -> int:
        try:
            return sla_rollup_fold(first=run[0], last=run[1])
        finally:
            connections.close_all()  # this thread's connection

    with ThreadPoolExecutor(len(runs)) as pool:
        folded = sum(pool.map(fold, runs))
    return folded + sla_rollup_fold()  # a day marked meanwhile (none, unless the desk is running)


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
