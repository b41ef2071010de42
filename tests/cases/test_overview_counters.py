"""The overview's counters (plus their pending deltas) equal a recompute from the incidents and clocks
after every kind of write and across folds, writers never wait for each other on them, and its
stored medians never outlive a change in their week."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from cases.models import (
    Incident,
    OverviewHour,
    OverviewHourDelta,
    OverviewOpen,
    OverviewOpenDelta,
    OverviewWeekMedian,
    SlaClock,
)
from cases.numbering import format_reference, reserve_numbers
from cases.overview import overview_counters_differences, overview_counters_fold, overview_counters_rebuild
from cases.selectors import WeekTrend, _trends_from_rows, incident_list_visible_to, incident_trends, trend_weeks_start
from cases.services import incident_open, incident_transition
from cases.tasks import overview_counters_fold_task
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
    assert overview_counters_fold() > 0
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
    overview_counters_fold()
    assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 1

    for status in ("triaging", "investigating", "mitigated", "resolved"):
        incident = incident_transition(incident=incident, actor=analyst, to=status)

    assert overview_counters_differences() == []
    overview_counters_fold()
    assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 0
    hour = OverviewHour.objects.get(hour=incident.resolved_at.replace(minute=0, second=0, microsecond=0))
    assert hour.resolved == 1 and hour.acknowledged == 1


def test_a_difference_is_found_and_the_rebuild_mends_it(analyst, desk):
    overview_counters_fold()
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


def _pending() -> tuple[int, int]:
    return OverviewHourDelta.objects.count(), OverviewOpenDelta.objects.count()


def test_a_fold_moves_the_deltas_into_the_counters_and_changes_no_figure(analyst, desk):
    assert _pending() != (0, 0) and not OverviewHour.objects.exists()
    trends = _trends(analyst, MEXICO)
    assert overview_counters_differences() == []

    assert overview_counters_fold() > 0

    assert _pending() == (0, 0)
    assert overview_counters_differences() == []
    assert _trends(analyst, MEXICO) == trends == _recomputed(analyst, MEXICO)


def test_a_fold_is_idempotent_and_keeps_the_writes_between_folds(analyst, desk):
    overview_counters_fold()
    folded = list(OverviewHour.objects.order_by("hour").values_list())

    assert overview_counters_fold() == 0  # nothing pending: nothing written
    assert list(OverviewHour.objects.order_by("hour").values_list()) == folded

    incident = incident_open(actor=analyst, title="Caída de Banorte", category="auth_rate", severity="sev1")
    incident_transition(incident=incident, actor=analyst, to="triaging")
    assert _pending() != (0, 0)
    assert overview_counters_differences() == []
    overview_counters_fold()
    Incident.objects.filter(pk=incident.pk).update(status="resolved", resolved_at=timezone.now())
    overview_counters_fold()
    overview_counters_fold()

    assert _pending() == (0, 0)
    assert overview_counters_differences() == []


def test_a_fold_keeps_the_stored_medians(analyst, desk):
    """A week's `changes` total counts its pending deltas: folding them moves, and changes, nothing."""
    weeks = _trends(analyst, MEXICO)
    week = next(week for week in reversed(weeks) if week.acknowledged)
    # A value no clock gave: read back only while the stored median is reused.
    OverviewWeekMedian.objects.filter(zone="America/Mexico_City", week=week.start).update(mtta=timedelta(days=3))

    overview_counters_fold()

    assert {row.start: row for row in _trends(analyst, MEXICO)}[week.start].mtta == timedelta(days=3)


def test_the_fold_task_runs_from_beat(analyst, desk):
    schedule = settings.CELERY_BEAT_SCHEDULE["fold-overview-counters"]
    assert schedule == {"task": overview_counters_fold_task.name, "schedule": 60.0}
    assert settings.CELERY_TASK_ROUTES[overview_counters_fold_task.name] == {"queue": "default"}

    assert overview_counters_fold_task.apply().get() > 0

    assert _pending() == (0, 0)
    assert overview_counters_differences() == []


def test_the_rebuild_folds_the_pending_deltas(analyst, desk):
    call_command("rebuild_overview_counters")

    assert _pending() == (0, 0)
    assert overview_counters_differences() == []


@pytest.mark.django_db(transaction=True)
def test_a_writer_never_waits_for_another_on_the_counters(analyst):
    """Two transactions open incidents of the same severity and owner in the same hour and resolve
    one: the second, and a fold, go through while the first still holds its transaction open (each
    with a lock timeout of one second), and nothing is lost once both committed."""
    numbers = reserve_numbers(2026, 3)  # the references' counter row is locked by its own writer
    resolving = IncidentFactory(
        reference=format_reference(2026, numbers[0]), severity="sev2", owner=analyst, status="mitigated"
    )
    first_open, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer():
        try:
            with transaction.atomic():
                IncidentFactory(reference=format_reference(2026, numbers[1]), severity="sev2", owner=analyst)
                first_open.set()
                release.wait(timeout=30)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            first_open.set()
            connection.close()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert first_open.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            IncidentFactory(reference=format_reference(2026, numbers[2]), severity="sev2", owner=analyst)
            Incident.objects.filter(pk=resolving.pk).update(status="resolved", resolved_at=timezone.now())
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            overview_counters_fold()
        # The first writer's deltas are not committed: the fold left them for the next one.
        assert overview_counters_differences() == []
        assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 1
    finally:
        release.set()
        thread.join(timeout=30)

    assert errors == []
    assert _pending() != (0, 0)
    assert overview_counters_differences() == []
    overview_counters_fold()
    assert _pending() == (0, 0)
    assert overview_counters_differences() == []
    assert OverviewOpen.objects.get(severity="sev2", owner_id=analyst.pk).count == 2
