"""The overview costs the same queries, on the same indexes, at 30 incidents as at 300.

Its counts read the open-incident counters and its list of the most urgent open incidents the
first entries of the partial index of open incidents; its weekly trends read the hourly counters
and the stored medians, re-computing a week's medians on its range of the partial indexes of
resolutions and acknowledgements only when the week changed (docs/performance.md, "The overview").
"""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Incident, OverviewWeekMedian, SlaClock
from cases.models.incident import OPEN_STATUSES
from cases.selectors import incident_overview
from tests.factories import IncidentFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

STATUSES = [*OPEN_STATUSES, "resolved", "closed", "closed", "closed", "closed"]
SEVERITIES = ["sev1", "sev2", "sev3", "sev4"]
# Session, user, the viewer's profile, groups and permissions, the overview's counts, its urgent
# list and its weekly trends (one statement).
OVERVIEW_QUERIES = 6


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


def test_the_overview_runs_the_same_queries_at_30_and_300_incidents(client, analyst, django_assert_num_queries):
    client.force_login(analyst)
    _desk(30, owner=analyst)
    client.get(reverse("overview"))  # caches that are not per request (content types)
    with django_assert_num_queries(OVERVIEW_QUERIES):
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


def test_the_overview_reads_its_counters_and_one_index(client, analyst):
    client.force_login(analyst)
    _desk(300, owner=analyst)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_incident")
        cursor.execute("ANALYZE cases_slaclock")
    client.get(reverse("overview"))  # the weeks' medians computed and stored

    queries = [sql for sql in _overview_queries(client) if "cases_" in sql]

    # The counts read the open-incident counters, the trends the hourly counters and the stored
    # medians; only the urgent list reads the incidents, the first fifteen entries of its index.
    assert len(queries) == 3, queries
    counts, urgent, trends = queries
    assert "cases_overviewopen" in counts and "cases_incident" not in counts, counts
    assert urgent.endswith("LIMIT 15")
    plan = _plan(urgent)
    assert "incident_open_severity_idx" in plan and "Sort" not in plan, plan
    assert "cases_overviewhour" in trends and "cases_overviewweekmedian" in trends
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {trends}")
        executed = json.dumps(cursor.fetchone()[0])
    # Nothing changed since the last request: no week's medians are re-computed, so the clock and
    # incident indexes in the statement are never executed.
    assert '"Actual Loops": 0' in executed
    assert not re.search(r'"Relation Name": "cases_(slaclock|incident)"[^}]*"Actual Loops": [1-9]', executed)


def test_a_week_whose_medians_are_re_computed_reads_its_range_of_the_partial_indexes(client, analyst):
    client.force_login(analyst)
    _desk(300, owner=analyst)
    OverviewWeekMedian.objects.all().delete()

    trends = next(sql for sql in _overview_queries(client) if "cases_overviewhour" in sql)

    plan = _plan(trends)
    assert "slaclock_ack_stopped_idx" in plan and "incident_resolved_idx" in plan, plan
    assert OverviewWeekMedian.objects.count() == 12
