"""The overview's counters equal a recompute from the incidents and clocks after every kind of write,
and its stored medians never outlive a change in their week."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.utils import timezone

from cases.models import Incident, OverviewHour, OverviewOpen, OverviewWeekMedian, SlaClock
from cases.overview import overview_counters_differences, overview_counters_rebuild
from cases.selectors import WeekTrend, _trends_from_rows, incident_list_visible_to, incident_trends, trend_weeks_start
from cases.services import incident_open, incident_transition
from tests.factories import IncidentFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

MEXICO = ZoneInfo("America/Mexico_City")
NOW = datetime(2026, 12, 2, 12, tzinfo=MEXICO)


def _recomputed(user, zone) -> list[WeekTrend]:
    """The trends grouped from the incidents and clocks themselves (the path the counters replace)."""
    with timezone.override(zone):
        since = trend_weeks_start(now=NOW)
        first = timezone.localtime(since, zone).date()
        rows = {first + timedelta(days=7 * i): WeekTrend(start=first + timedelta(days=7 * i)) for i in range(12)}
        return _trends_from_rows(rows, zone, since, incident_list_visible_to(user=user).order_by())


def _trends(user, zone) -> list[WeekTrend]:
    with timezone.override(zone):
        return incident_trends(user=user, now=NOW)


@pytest.fixture
def desk(analyst):
    """Incidents opened, resolved and acknowledged over the last ten weeks, clocks met and breached."""
    for index in range(40):
        opened = NOW - timedelta(days=index * 1.7, hours=index)
        incident = IncidentFactory(severity=f"sev{1 + index % 4}", owner=analyst if index % 3 else None)
        resolved = opened + timedelta(hours=1 + index % 9) if index % 2 else None
        Incident.objects.filter(pk=incident.pk).update(
            created_at=opened, resolved_at=resolved, status="resolved" if resolved else "investigating"
        )
        SlaClockFactory(
            incident=incident,
            state="met" if index % 5 else "breached",
            started_at=opened,
            stopped_at=opened + timedelta(minutes=3 + 7 * index % 41),
            breached_at=None if index % 5 else opened + timedelta(minutes=2),
            due_at=None,
        )
        SlaClockFactory(
            incident=incident,
            metric="resolve",
            started_at=opened,
            breached_at=opened + timedelta(hours=4) if index % 7 == 0 else None,
        )


def test_the_counters_equal_a_recompute_after_inserts_updates_and_deletes(analyst, desk):
    assert overview_counters_differences() == []
    assert OverviewOpen.objects.filter(count__gt=0).exists() and OverviewHour.objects.exists()

    # A bulk update of many rows, a row deleted, a clock stopped, another re-opened.
    Incident.objects.filter(status="investigating").update(status="mitigated", severity="sev1")
    Incident.objects.order_by("id").first().delete()
    SlaClock.objects.filter(metric="resolve", breached_at__isnull=True).update(state="met", stopped_at=timezone.now())
    SlaClock.objects.filter(state="breached").update(state="running", stopped_at=None, breached_at=None)

    assert overview_counters_differences() == []


def test_the_counters_follow_the_services(analyst):
    incident = incident_open(actor=analyst, title="Caída de aprobación Prosa", category="auth_rate", severity="sev2")
    assert overview_counters_differences() == []
    assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 1

    for status in ("triaging", "investigating", "mitigated", "resolved"):
        incident = incident_transition(incident=incident, actor=analyst, to=status)

    assert overview_counters_differences() == []
    assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 0
    hour = OverviewHour.objects.get(hour=incident.resolved_at.replace(minute=0, second=0, microsecond=0))
    assert hour.resolved == 1 and hour.acknowledged == 1


def test_a_difference_is_found_and_the_rebuild_mends_it(analyst, desk):
    # What a TRUNCATE or a restore without the triggers would leave: counters that lie.
    OverviewOpen.objects.filter(severity="sev3", owner_id=0).update(count=F("count") + 1)
    lost = OverviewHour.objects.filter(opened__gt=0).order_by("hour").first()
    hour = f"{lost.hour.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M:%S}+00"
    lost.delete()
    assert [row[:2] for row in overview_counters_differences()] == [("hour", hour), ("open", "sev3/0")]
    with pytest.raises(CommandError):
        call_command("rebuild_overview_counters", "--check")

    call_command("rebuild_overview_counters")

    assert overview_counters_differences() == []
    call_command("rebuild_overview_counters", "--check")


@pytest.mark.parametrize("zone", ["America/Mexico_City", "Europe/Madrid", "UTC", "Asia/Kolkata", "Australia/Adelaide"])
def test_the_trends_from_the_counters_equal_the_trends_from_the_rows(analyst, desk, zone):
    """In every zone: Kolkata's and Adelaide's weeks start on a half hour, and are read from the rows."""
    zone = ZoneInfo(zone)

    assert _trends(analyst, zone) == _recomputed(analyst, zone)


def test_a_stored_median_is_re_computed_after_a_change_in_its_week(analyst, desk):
    first = _trends(analyst, MEXICO)
    assert OverviewWeekMedian.objects.filter(zone="America/Mexico_City").count() == sum(
        1 for week in first if week.mtta is not None or week.mttr is not None
    )
    week = next(week for week in reversed(first[:-1]) if week.acknowledged >= 2)

    # Every acknowledgement of that week now took 9 hours.
    start = datetime.combine(week.start, datetime.min.time(), tzinfo=MEXICO)
    clocks = SlaClock.objects.filter(
        metric="acknowledge", state__in=["met", "breached"], stopped_at__gte=start, stopped_at__lt=start + timedelta(7)
    )
    for clock in clocks:
        SlaClock.objects.filter(pk=clock.pk).update(started_at=clock.stopped_at - timedelta(hours=9))

    after = {row.start: row for row in _trends(analyst, MEXICO)}
    assert after[week.start].mtta == timedelta(hours=9)
    assert list(after.values()) == _recomputed(analyst, MEXICO)
    # Read again: the stored medians, unchanged.
    assert _trends(analyst, MEXICO) == list(after.values())


def test_a_rebuild_forgets_the_stored_medians(analyst, desk):
    _trends(analyst, MEXICO)
    assert OverviewWeekMedian.objects.exists()

    overview_counters_rebuild()

    assert not OverviewWeekMedian.objects.exists()
    assert _trends(analyst, MEXICO) == _recomputed(analyst, MEXICO)


def test_an_opening_keeps_the_stored_medians_and_an_acknowledgement_renews_them(analyst):
    first = incident_open(actor=analyst, title="Timeouts en Prosa", category="latency", severity="sev2")
    incident_transition(incident=first, actor=analyst, to="triaging")  # stops its acknowledge clock
    with timezone.override(MEXICO):
        today = timezone.localdate(timezone.now())
        week = today - timedelta(days=today.weekday())
        assert incident_trends(user=analyst)[-1].acknowledged == 1
        # A value no clock gave: read back only while the stored medians are reused.
        OverviewWeekMedian.objects.filter(zone="America/Mexico_City", week=week).update(mtta=timedelta(days=3))

        second = incident_open(actor=analyst, title="Caída de BBVA", category="auth_rate", severity="sev3")
        assert incident_trends(user=analyst)[-1].mtta == timedelta(days=3)

        incident_transition(incident=second, actor=analyst, to="triaging")
        this_week = incident_trends(user=analyst)[-1]

    assert this_week.acknowledged == 2 and this_week.mtta < timedelta(minutes=5)
