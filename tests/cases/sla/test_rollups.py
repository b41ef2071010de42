"""The SLA reports' rollups: equal to a re-computation from the clocks on a varied desk (DST days,
paused, running, cancelled, partner and our clocks), kept right by the live paths (hooks, sweep,
severity and owner changes), rebuilt by the command, and read in a number of queries that does
not grow with the data."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Category, SlaClock, SlaRollup, SlaRollupPending, SlaRollupStaleMonth, SlaRollupTimes
from cases.services.incidents import incident_assign, incident_change_severity, incident_open
from cases.sla.reports import ReportFilter, selectors, sla_attainment, sla_breaches, sla_partner_scorecard, sla_time_to
from cases.sla.rollups import (
    MICROSECOND,
    TIME_BUCKETS,
    sla_rollup_differences,
    sla_rollup_fold,
    sla_rollup_rebuild,
    whole_months,
)
from cases.sla.sweep import sla_sweep
from tests.api.helpers import token_client
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory, UserFactory

pytestmark = pytest.mark.django_db

MEXICO = ZoneInfo("America/Mexico_City")
# Mexico City kept daylight saving time until 2022: 3 April 2022 had 23 hours, 30 October 25.
SPRING = dt.date(2022, 4, 3)
AUTUMN = dt.date(2022, 10, 30)
YEAR_2022 = ReportFilter(start=dt.date(2022, 1, 1), end=dt.date(2022, 12, 31))


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=MEXICO)


def varied_desk() -> dict:
    """~140 clocks over both 2022 DST days and their neighbours and two month edges, every state,
    ours and partners'."""
    ana, bruno = UserFactory(role="analyst"), UserFactory(role="analyst")
    prosa, visa = PartnerFactory(), PartnerFactory()
    owners = itertools.cycle([ana, bruno, None])
    severities = itertools.cycle(["sev1", "sev2", "sev3", "sev4"])
    hours = [(0, 5), (0, 59), (1, 30), (2, 30), (12, 0), (22, 59), (23, 30), (23, 59)]
    states = itertools.cycle(["met", "breached", "running", "paused", "cancelled", "met", "breached_running"])
    made = []
    for day in (
        SPRING - dt.timedelta(days=1),
        SPRING,
        AUTUMN - dt.timedelta(days=1),
        AUTUMN,
        AUTUMN + dt.timedelta(days=1),
        dt.date(2022, 5, 1),  # the first and last days of months, where month rows meet day rows
        dt.date(2022, 9, 30),
    ):
        for hour, minute in hours[::2] if day not in (SPRING, AUTUMN) else hours:
            started = local(day, hour, minute)
            incident = IncidentFactory(severity=next(severities), owner=next(owners))
            engagement = PartnerEngagementFactory(incident=incident, partner=prosa if hour % 2 else visa)
            for metric, partner in (
                ("acknowledge", None),
                ("resolve", None),
                ("acknowledge", engagement),
                ("resolve", engagement),
            ):
                state = next(states)
                consumed = dt.timedelta(minutes=7 * (len(made) % 13) + 1, seconds=len(made) % 7)
                kwargs = {}
                if state in ("met", "breached", "cancelled"):
                    kwargs["stopped_at"] = started + consumed + dt.timedelta(minutes=len(made) % 5)
                if state == "breached":
                    kwargs["breached_at"] = started + consumed / 2 if len(made) % 2 else None
                if state == "breached_running":
                    state, kwargs["breached_at"] = "running", started + consumed
                if state in ("running", "paused") and "breached_at" not in kwargs and len(made) % 3 == 0:
                    kwargs["breached_at"] = started + consumed
                made.append(
                    SlaClockFactory(
                        incident=incident,
                        engagement=partner,
                        metric=metric,
                        started_at=started,
                        state=state,
                        consumed=consumed,
                        target=dt.timedelta(minutes=30),
                        due_at=None,
                        warn_due_at=None,
                        **kwargs,
                    )
                )
    return {"clocks": made, "ana": ana, "bruno": bruno, "prosa": prosa, "visa": visa}


def report_figures(user, filters: ReportFilter) -> tuple:
    return (
        [sla_attainment(user=user, filters=filters, dimension=d) for d in selectors.DIMENSIONS],
        sla_time_to(user=user, filters=filters),
        [
            (
                row.partner_id,
                row.engagements,
                row.acknowledged,
                row.acknowledge_p50,
                row.acknowledge_p90,
                row.acknowledge_wall_p50,
                row.acknowledge_wall_p90,
                row.resolved,
                row.resolve_p50,
                row.resolve_p90,
                row.resolve_wall_p50,
                row.resolve_wall_p90,
                row.met,
                row.breached,
                row.notices,
                row.follow_ups,
            )
            for row in sla_partner_scorecard(user=user, filters=filters)
        ],
        sla_breaches(user=user, filters=filters).total,
    )


def figures_from_clocks(user, filters: ReportFilter, monkeypatch) -> tuple:
    """The same figures with every selector reading the clocks (the way they did before rollups)."""
    with monkeypatch.context() as patched:
        patched.setattr(selectors, "_attainment_from_rollups", selectors._attainment_from_clocks)
        patched.setattr(
            selectors,
            "_time_to_from_rollups",
            lambda f: selectors._time_to_from_clocks(f, ["", "sev1", "sev2", "sev3", "sev4"]),
        )
        patched.setattr(selectors, "_scorecard_from_rollups", selectors._scorecard_from_clocks)
        patched.setattr(
            selectors, "breach_count", lambda f: selectors.clocks_in_range(f).filter(selectors.BREACHED).count()
        )
        return report_figures(user, filters)


FILTERS = [
    YEAR_2022,
    ReportFilter(start=SPRING, end=SPRING),
    ReportFilter(start=AUTUMN, end=AUTUMN),
    ReportFilter(start=AUTUMN - dt.timedelta(days=1), end=AUTUMN + dt.timedelta(days=1), severity="sev3"),
    ReportFilter(start=dt.date(2022, 1, 1), end=dt.date(2022, 12, 31), family="partner"),
    ReportFilter(start=dt.date(2022, 1, 1), end=dt.date(2022, 12, 31), family="ours", severity="sev1"),
    # Month rows at the range's edges: April whole (the 23-hour day inside it), 1 to 29 October
    # from day rows (the 25-hour day left out); then 3 to 30 April from day rows and October whole.
    ReportFilter(start=dt.date(2022, 4, 1), end=dt.date(2022, 10, 29)),
    ReportFilter(start=SPRING, end=dt.date(2022, 10, 31)),
    ReportFilter(start=dt.date(2022, 3, 31), end=AUTUMN, severity="sev2"),
    ReportFilter(start=dt.date(2022, 10, 1), end=dt.date(2022, 10, 31), family="partner"),
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f.query().values()))
def test_report_figures_from_rollups_equal_those_from_the_clocks(filters, lead, monkeypatch):
    varied_desk()

    from_rollups = report_figures(lead, filters)
    from_clocks = figures_from_clocks(lead, filters, monkeypatch)

    assert from_rollups == from_clocks
    assert from_rollups[3] > 0 or filters.severity  # breaches are part of the desk


def test_rollups_equal_a_recompute_and_the_dst_days_hold_their_whole_day(lead):
    desk = varied_desk()
    sla_rollup_fold(months=(dt.date(2022, 1, 1), dt.date(2023, 1, 1)))  # as a report of 2022 does

    assert not SlaRollupPending.objects.exists()
    assert not SlaRollupStaleMonth.objects.exists()
    assert sla_rollup_differences(first=dt.date(2022, 1, 1), last=dt.date(2022, 12, 31)) == []
    # 00:05 to 23:59 local of the 23- and 25-hour days are one desk day each.
    days = SlaRollup.objects.filter(span="day")
    for day, starts in ((SPRING, 8), (AUTUMN, 8)):
        rows = days.filter(day=day)
        assert sum(row.clocks for row in rows) == starts * 4
    assert sum(row.clocks for row in days) == len(desk["clocks"])
    paused_or_running = [c for c in desk["clocks"] if c.state in ("running", "paused")]
    assert paused_or_running  # they count breached when past target, never in the durations
    stopped = [c for c in desk["clocks"] if c.state in ("met", "breached") and c.stopped_at]
    assert sum(len(row.wall) for row in days) == len(stopped)
    # A month row holds its days: April (2 and 3 April), October (29 to 31 October).
    months = SlaRollup.objects.filter(span="month")
    assert sorted({row.day for row in months}) == [dt.date(2022, m, 1) for m in (4, 5, 9, 10)]
    for month in (4, 10):
        in_month = [row for row in days if row.day.month == month]
        month_rows = [row for row in months if row.day.month == month]
        for name in ("clocks", "engagements", "met", "breached"):
            assert sum(getattr(row, name) for row in month_rows) == sum(getattr(row, name) for row in in_month)
        assert all(row.wall == row.business == [] for row in month_rows)  # the durations' month rows hold them
    assert sum(row.clocks for row in months) == len(desk["clocks"])


def test_the_durations_rows_are_sorted_bucketed_and_merged_into_months(lead):
    desk = varied_desk()
    sla_rollup_fold(months=(dt.date(2022, 1, 1), dt.date(2023, 1, 1)))

    times = list(SlaRollupTimes.objects.all())
    assert {row.metric for row in times} == {"acknowledge", "resolve"}
    for row in times:
        for values, ends in ((row.wall, row.wall_ends), (row.business, row.business_ends)):
            assert values == sorted(values) and values
            assert all(isinstance(value, int) for value in values)  # whole microseconds
            bounds = [bound // MICROSECOND for bound in TIME_BUCKETS[row.family]]
            assert ends == [sum(v <= bound for v in values) for bound in bounds] + [len(values)]
    stopped = SlaClock.objects.filter(state__in=["met", "breached"], stopped_at__isnull=False)
    assert len(stopped) == len([c for c in desk["clocks"] if c.state in ("met", "breached") and c.stopped_at])
    days = [row for row in times if row.span == "day"]
    assert sorted(d for row in days for d in row.business) == sorted(c.consumed // MICROSECOND for c in stopped)
    walls = sorted((c.stopped_at - c.started_at) // MICROSECOND for c in stopped)
    assert sorted(d for row in days for d in row.wall) == walls
    october = [row for row in times if row.day.month == 10]  # the month row holds its three days
    for kind in ("wall", "business"):
        month = sorted(d for row in october if row.span == "month" for d in getattr(row, kind))
        assert month == sorted(d for row in october if row.span == "day" for d in getattr(row, kind))


def test_the_durations_are_stored_to_be_sliced_and_summed_without_decompressing():
    """A percentile sums every bucket end of its rows and slices their value arrays: a compressed
    array is decompressed whole at each subscript (800 subscripts a row for our clocks' ends), so
    the ends stay in the row uncompressed and the values out of line uncompressed."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname IN ('wall', 'business', 'wall_ends', 'business_ends')",
            [SlaRollupTimes._meta.db_table],
        )
        storage = dict(cursor.fetchall())
    assert storage == {"wall": "e", "business": "e", "wall_ends": "p", "business_ends": "p"}


# Durations at and around the buckets' bounds (both families' sets: ours are finer), below the
# first and above the last, repeated ones, and groups of one and two values (no interpolation, and
# interpolation of two).
PARTNER_BOUNDS, OUR_BOUNDS = TIME_BUCKETS["partner"], TIME_BUCKETS["ours"]
EDGE_DURATIONS = [
    dt.timedelta(0),
    dt.timedelta(seconds=59, microseconds=999_999),
    PARTNER_BOUNDS[0],
    PARTNER_BOUNDS[0],
    PARTNER_BOUNDS[1],
    PARTNER_BOUNDS[1] + dt.timedelta(microseconds=1),
    PARTNER_BOUNDS[2] - dt.timedelta(microseconds=1),
    OUR_BOUNDS[3],
    OUR_BOUNDS[3] + dt.timedelta(microseconds=1),
    OUR_BOUNDS[200] - dt.timedelta(microseconds=1),
    dt.timedelta(hours=3, seconds=7),
    dt.timedelta(days=1),
    dt.timedelta(days=1, microseconds=3),
    PARTNER_BOUNDS[-1],
    dt.timedelta(days=400, hours=5),
]


def test_percentiles_at_the_buckets_edges_equal_percentile_cont(lead, monkeypatch):
    prosa, visa = PartnerFactory(), PartnerFactory()
    started = local(AUTUMN, 1, 30)  # the 25-hour day
    for n, consumed in enumerate(EDGE_DURATIONS * 2):
        incident = IncidentFactory(severity="sev1" if n % 3 else "sev2")
        partner = prosa if n < len(EDGE_DURATIONS) + 1 else visa  # visa: the odd one out in a group of one
        engagement = PartnerEngagementFactory(incident=incident, partner=partner if n != 1 else visa)
        for metric, clock_engagement in (("acknowledge", None), ("resolve", engagement)):
            SlaClockFactory(
                incident=incident,
                engagement=clock_engagement,
                metric=metric,
                started_at=started + dt.timedelta(seconds=n),
                state="met",
                stopped_at=started + consumed + dt.timedelta(microseconds=7 * n),
                consumed=consumed,
                target=dt.timedelta(minutes=30),
                due_at=None,
                warn_due_at=None,
            )

    for filters in (
        ReportFilter(start=AUTUMN, end=AUTUMN),
        ReportFilter(start=dt.date(2022, 10, 1), end=dt.date(2022, 11, 2)),  # October whole, two edge days
        ReportFilter(start=AUTUMN, end=AUTUMN, severity="sev2"),
    ):
        from_rollups = report_figures(lead, filters)
        assert from_rollups == figures_from_clocks(lead, filters, monkeypatch)
        sev2 = len(range(0, len(EDGE_DURATIONS) * 2, 3))  # every third clock is SEV2
        assert [row.clocks for row in from_rollups[1]][:1] == [
            len(EDGE_DURATIONS * 2) if not filters.severity else sev2
        ]
    assert sla_rollup_differences(first=dt.date(2022, 10, 1), last=dt.date(2022, 10, 31)) == []


def test_a_median_among_zero_business_times_reads_one_of_them(lead, monkeypatch):
    partner = PartnerFactory()
    started = local(SPRING, 12)  # the 23-hour day
    # Business times 0, 0, 0, 3 and 9 minutes (acknowledged outside business hours, mostly): the
    # median's ranks both lie in the zero bucket, the p90's across it and the next.
    for n, minutes in enumerate([0, 3, 0, 9, 0]):
        incident = IncidentFactory(severity="sev3")
        engagement = PartnerEngagementFactory(incident=incident, partner=partner)
        for clock_engagement in (None, engagement):
            SlaClockFactory(
                incident=incident,
                engagement=clock_engagement,
                metric="acknowledge",
                started_at=started + dt.timedelta(minutes=n),
                state="met",
                stopped_at=started + dt.timedelta(minutes=n + 20),
                consumed=dt.timedelta(minutes=minutes),
                target=dt.timedelta(minutes=30),
                due_at=None,
                warn_due_at=None,
            )
    filters = ReportFilter(start=SPRING, end=SPRING)

    figures = report_figures(lead, filters)

    assert figures == figures_from_clocks(lead, filters, monkeypatch)
    overall = figures[1][0]
    assert (overall.clocks, overall.business_p50, overall.business_p90) == (
        5,
        dt.timedelta(0),
        dt.timedelta(minutes=6, seconds=36),  # 3 + (9 − 3) × 0.6
    )
    assert figures[2][0][3:5] == (dt.timedelta(0), dt.timedelta(minutes=6, seconds=36))


def test_a_changed_rollup_is_found_and_the_command_puts_it_right(lead):
    varied_desk()
    call_command("rebuild_sla_rollups", "--start", "2022-01-01", "--end", "2022-12-31")
    call_command("rebuild_sla_rollups", "--check")  # equal: no error
    SlaRollup.objects.filter(day=AUTUMN).update(met=99)

    with pytest.raises(CommandError, match="rollup rows differ"):
        call_command("rebuild_sla_rollups", "--check")
    call_command("rebuild_sla_rollups")
    call_command("rebuild_sla_rollups", "--check")
    SlaRollup.objects.filter(span="month", day=dt.date(2022, 4, 1)).update(clocks=99)  # a month row too

    with pytest.raises(CommandError, match="rollup rows differ"):
        call_command("rebuild_sla_rollups", "--check", "--start", "2022-04-03", "--end", "2022-04-03")
    call_command("rebuild_sla_rollups", "--start", "2022-04-03", "--end", "2022-04-03")
    call_command("rebuild_sla_rollups", "--check")
    # The durations' rows: a day row's bucket ends, a month row's sorted values.
    SlaRollupTimes.objects.filter(span="day", day=AUTUMN, metric="resolve").update(wall_ends=[0])
    with pytest.raises(CommandError, match="rollup rows differ"):
        call_command("rebuild_sla_rollups", "--check", "--start", "2022-10-30", "--end", "2022-10-30")
    call_command("rebuild_sla_rollups", "--start", "2022-10-30", "--end", "2022-10-30")
    call_command("rebuild_sla_rollups", "--check")
    month = SlaRollupTimes.objects.filter(span="month", day=dt.date(2022, 10, 1))
    row = next(row for row in month if len(set(row.business)) > 1)
    SlaRollupTimes.objects.filter(pk=row.pk).update(business=row.business[::-1])
    with pytest.raises(CommandError, match="rollup rows differ"):
        call_command("rebuild_sla_rollups", "--check", "--start", "2022-10-01", "--end", "2022-10-31")
    with pytest.raises(CommandError, match="not a date"):
        call_command("rebuild_sla_rollups", "--start", "yesterday")


def test_a_fold_leaves_a_month_stale_until_a_report_reads_it_whole(lead, monkeypatch):
    desk = varied_desk()
    call_command("rebuild_sla_rollups")
    april = ReportFilter(start=dt.date(2022, 4, 1), end=dt.date(2022, 4, 30))
    before = report_figures(lead, april)
    clock = next(c for c in desk["clocks"] if c.started_at.astimezone(MEXICO).date() == SPRING and c.state == "met")
    SlaClock.objects.filter(pk=clock.pk).update(state="breached", breached_at=clock.stopped_at)
    SlaRollupPending.objects.create(day=SPRING)  # as the clock's own save marks it

    sla_rollup_fold(wait=False)  # beat: the day re-computed, its month only marked stale

    assert list(SlaRollupStaleMonth.objects.values_list("month", flat=True)) == [dt.date(2022, 4, 1)]
    assert sla_rollup_differences(first=SPRING, last=SPRING) == []  # a stale month is not compared
    # The 3rd of April alone reads its day row; April whole re-sums the month first.
    assert report_figures(lead, ReportFilter(start=SPRING, end=SPRING)) == figures_from_clocks(
        lead, ReportFilter(start=SPRING, end=SPRING), monkeypatch
    )
    assert SlaRollupStaleMonth.objects.exists()
    after = report_figures(lead, april)
    assert not SlaRollupStaleMonth.objects.exists()
    assert after == figures_from_clocks(lead, april, monkeypatch)
    assert after[3] == before[3] + 1  # one more breach
    assert sla_rollup_differences(first=dt.date(2022, 4, 1), last=dt.date(2022, 4, 30)) == []


def test_a_late_owner_or_severity_change_moves_the_days_figures(lead, analyst):
    incident = incident_open(actor=analyst, title="Late changes", category=Category.OUTAGE, severity="sev2")
    today = incident.created_at.astimezone(MEXICO).date()
    filters = ReportFilter(start=today, end=today)
    clock = SlaClock.objects.get(incident=incident, metric="acknowledge")
    SlaClock.objects.filter(pk=clock.pk).update(state="met", stopped_at=clock.started_at + dt.timedelta(minutes=5))
    sla_rollup_rebuild(first=today, last=today)  # the direct update above is no service: rebuild
    assert [(r.key, r.met) for r in sla_attainment(user=lead, filters=filters, dimension="severity")] == [("sev2", 1)]

    incident_change_severity(incident=incident, actor=lead, severity="sev1", reason="Wider than thought")
    other = UserFactory(username="otto", role="analyst")
    incident_assign(incident=incident, actor=lead, owner=other)

    assert SlaRollupPending.objects.filter(day=today).exists()  # marked in the changes' transactions
    by_severity = sla_attainment(user=lead, filters=filters, dimension="severity")
    by_owner = sla_attainment(user=lead, filters=filters, dimension="owner")
    assert [(r.key, r.metric, r.met) for r in by_severity] == [("sev1", "acknowledge", 1)]
    assert [(r.key, r.met) for r in by_owner] == [(str(other.pk), 1)]
    assert sla_rollup_differences(first=today, last=today) == []


def test_the_sweeps_breach_reaches_the_rollups(lead, analyst):
    incident = incident_open(actor=analyst, title="Swept", category=Category.OUTAGE, severity="sev1")
    today = incident.created_at.astimezone(MEXICO).date()
    filters = ReportFilter(start=today, end=today)
    sla_rollup_fold()
    assert sla_breaches(user=lead, filters=filters).total == 0

    sla_sweep(now=incident.created_at + dt.timedelta(days=1))

    assert SlaRollupPending.objects.filter(day=today).exists()
    assert (
        sla_breaches(user=lead, filters=filters).total == SlaClock.objects.filter(breached_at__isnull=False).count() > 0
    )
    assert sla_rollup_differences(first=today, last=today) == []


def _queries(callable_) -> int:
    with CaptureQueriesContext(connection) as context:
        callable_()
    return len(context)


def test_report_and_api_queries_do_not_grow_with_the_data(lead):
    varied_desk()
    sla_rollup_fold()
    client = token_client(lead)
    endpoints = ["attainment", "time-to", "breaches", "scorecard"]

    def counts():
        sla_rollup_fold(months=whole_months(YEAR_2022.start, YEAR_2022.end))  # nothing pending or stale
        selector_count = _queries(lambda: report_figures(lead, YEAR_2022))
        api = [
            _queries(
                lambda e=e: client.get(reverse(f"api:sla-report-{e}"), {"start": "2022-01-01", "end": "2022-12-31"})
            )
            for e in endpoints
        ]
        return selector_count, api

    counts()  # warm up: the lead's permissions, the token, content types
    before = counts()
    varied_desk(), varied_desk()  # three times the clocks
    # 4 attainment + time-to + scorecard (its sums, its percentiles and its notice counts) + breach
    # count and page, each figure after its one-statement fold.
    assert counts() == before
    assert before[0] <= 18
