"""The overview costs the same queries, on the same indexes, at 30 incidents as at 300.

Its counts and its list of the most urgent open incidents read the partial index of open
incidents alone; its weekly trends read the partial indexes of the last weeks' resolutions and
clock outcomes, never every clock (docs/performance.md, "Overview and search").
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Incident, SlaClock
from cases.models.incident import OPEN_STATUSES
from cases.selectors import incident_overview
from tests.factories import IncidentFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

STATUSES = [*OPEN_STATUSES, "resolved", "closed", "closed", "closed", "closed"]
SEVERITIES = ["sev1", "sev2", "sev3", "sev4"]
# Session, user, profile, permissions and groups (the shell's role badge and signals), the
# overview's counts and urgent list, and its four weekly trend queries.
OVERVIEW_MAX_QUERIES = 14


def _desk(count: int, *, owner) -> None:
    """`count` incidents of every status and severity over the last 20 weeks, with our
    acknowledge clock met or breached and a resolve clock for each."""
    now = timezone.now()
    incidents = Incident.objects.bulk_create(
        IncidentFactory.build(
            status=STATUSES[index % len(STATUSES)],
            severity=SEVERITIES[index % len(SEVERITIES)],
            owner=owner if index % 3 == 0 else None,
        )
        for index in range(count)
    )
    for index, incident in enumerate(incidents):
        opened = now - timedelta(days=index % 140, hours=index % 24)
        resolved = opened + timedelta(hours=2 + index % 30) if incident.status in ("resolved", "closed") else None
        Incident.objects.filter(pk=incident.pk).update(created_at=opened, resolved_at=resolved)
        incident.created_at = opened
    SlaClock.objects.bulk_create(
        clock
        for index, incident in enumerate(incidents)
        for clock in (
            SlaClockFactory.build(
                incident=incident,
                state="met" if index % 4 else "breached",
                started_at=incident.created_at,
                stopped_at=incident.created_at + timedelta(minutes=5 + index % 50),
                breached_at=None if index % 4 else incident.created_at + timedelta(minutes=30),
                due_at=None,
            ),
            SlaClockFactory.build(
                incident=incident,
                metric="resolve",
                started_at=incident.created_at,
                breached_at=incident.created_at + timedelta(hours=4) if index % 5 == 0 else None,
            ),
        )
    )


def _overview_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("overview"))
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


def test_the_overview_runs_the_same_queries_at_30_and_300_incidents(client, analyst, django_assert_max_num_queries):
    client.force_login(analyst)
    _desk(30, owner=analyst)
    client.get(reverse("overview"))  # caches that are not per request (content types)
    with django_assert_max_num_queries(OVERVIEW_MAX_QUERIES):
        small = _overview_queries(client)

    _desk(270, owner=analyst)
    large = _overview_queries(client)

    assert len(large) == len(small)
    overview = incident_overview(user=analyst)
    assert overview["open_total"] == Incident.objects.filter(status__in=OPEN_STATUSES).count()
    assert len(overview["recent_open"]) == 15


def _plan(sql: str, *, bitmap_scans: bool = False) -> str:
    with connection.cursor() as cursor:
        # Sequential and bitmap scans are switched off only to see which index the planner
        # picks: on a test desk of a few hundred rows reading the whole table is cheaper than any
        # index, and the visibility map of rows written in the test's transaction is never set.
        cursor.execute("SET LOCAL enable_seqscan = off")
        if not bitmap_scans:
            cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
        cursor.execute("SET LOCAL enable_bitmapscan = on")
    return plan


def test_the_overview_reads_its_partial_indexes(client, analyst):
    client.force_login(analyst)
    _desk(300, owner=analyst)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_incident")
        cursor.execute("ANALYZE cases_slaclock")

    queries = [sql for sql in _overview_queries(client) if "cases_incident" in sql or "cases_slaclock" in sql]
    plans = {sql: _plan(sql) for sql in queries if sql.startswith("SELECT")}

    counts = next(
        plan
        for sql, plan in plans.items()
        if 'COUNT("cases_incident"."severity") FILTER (WHERE "cases_incident"."severity"' in sql
    )
    # Index only on a vacuumed desk (severity and owner are in the index); here, at least never
    # the whole created_at index or the table.
    assert "incident_created_id_idx" not in counts and "Seq Scan" not in counts, counts
    urgent = next(plan for sql, plan in plans.items() if sql.endswith("LIMIT 15"))
    assert "incident_open_severity_idx" in urgent and "Sort" not in urgent, urgent
    resolved = next(plan for sql, plan in plans.items() if '"cases_incident"."resolved_at" >=' in sql)
    assert "Index Only Scan using incident_resolved_idx" in resolved, resolved
    # The attainment's two ranges are read together (a BitmapOr of the two partial indexes).
    clocks = [_plan(sql, bitmap_scans=True) for sql in plans if "cases_slaclock" in sql]
    assert len(clocks) == 2
    assert "slaclock_ack_stopped_idx" in clocks[0], clocks[0]
    assert "slaclock_met_stopped_idx" in clocks[1] and "slaclock_breach_outcome_idx" in clocks[1], clocks[1]
    assert all("cases_incident" not in plan for plan in clocks), clocks
