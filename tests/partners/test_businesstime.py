"""Business-time arithmetic: properties on synthetic schedules, and the known traps on the
real calendars that migrations load (mx-banking, us-eastern-business, 24x7)."""

from __future__ import annotations

import time as wallclock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from partners.businesstime import (
    Schedule,
    business_add,
    business_elapsed,
    is_open,
    merge_intervals,
    next_open,
    next_openings,
    schedule_for,
    schedules_for,
)
from partners.models import BusinessCalendar

NEW_YORK = ZoneInfo("America/New_York")
MEXICO_CITY = ZoneInfo("America/Mexico_City")
H = timedelta(hours=1)
M = timedelta(minutes=1)
BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def local(tz: ZoneInfo, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


# --- synthetic schedules for the properties -------------------------------------------------

ZONES = [
    ZoneInfo("UTC"),
    NEW_YORK,
    MEXICO_CITY,
    ZoneInfo("Europe/London"),
    ZoneInfo("Australia/Lord_Howe"),  # a 30-minute DST shift
    ZoneInfo("America/Santiago"),  # changes clocks at local midnight
]


@st.composite
def day_hours(draw) -> tuple[tuple[time, time], ...]:
    """0–3 disjoint intervals of a day, on a 15-minute grid (like real working hours)."""
    marks = sorted(draw(st.sets(st.integers(min_value=0, max_value=95), max_size=6)))
    if len(marks) % 2:
        marks = marks[:-1]
    as_time = [time(mark * 15 // 60, mark * 15 % 60) for mark in marks]
    return tuple(zip(as_time[::2], as_time[1::2], strict=True))


@st.composite
def schedules(draw, always_open: bool | None = False) -> Schedule:
    if always_open is None:
        always_open = draw(st.booleans())
    hours = tuple(draw(day_hours()) for _ in range(7))
    assume(always_open or any(hours))
    holidays = draw(st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)), max_size=40))
    return Schedule(tz=draw(st.sampled_from(ZONES)), always_open=always_open, hours=hours, holidays=holidays)


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@BOUNDED
@given(schedules(always_open=None), instants, durations)
def test_elapsed_undoes_add(schedule, start, duration):
    end = business_add(schedule, start, duration)

    assert end >= start
    assert end.tzinfo is UTC
    assert business_elapsed(schedule, start, end) == duration


@BOUNDED
@given(schedules(), instants, st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=20)))
def test_add_is_the_earliest_such_instant(schedule, start, duration):
    end = business_add(schedule, start, duration)

    assert business_elapsed(schedule, start, end - timedelta(microseconds=1)) < duration
    # It ends inside an open interval or exactly at its close, never in closed time.
    assert is_open(schedule, end - timedelta(microseconds=1))


@BOUNDED
@given(schedules(always_open=None), instants, instants, instants)
def test_elapsed_is_monotonic_and_additive(schedule, first, second, third):
    a, b, c = sorted((first, second, third))

    ab, bc, ac = (business_elapsed(schedule, x, y) for x, y in ((a, b), (b, c), (a, c)))

    assert ac == ab + bc
    assert business_elapsed(schedule, b, c) <= business_elapsed(schedule, a, c)  # later start, less
    assert business_elapsed(schedule, a, b) <= business_elapsed(schedule, a, c)  # later end, more
    assert ac <= c - a
    assert business_elapsed(schedule, c, a) == timedelta(0) or a == c


@BOUNDED
@given(schedules(), instants, durations, durations)
def test_add_is_monotonic(schedule, start, first, second):
    shorter, longer = sorted((first, second))

    assert business_add(schedule, start, shorter) <= business_add(schedule, start, longer)
    later = start + (longer - shorter)
    assert business_add(schedule, start, shorter) <= business_add(schedule, later, shorter)


@BOUNDED
@given(schedules(), instants)
def test_closed_time_counts_nothing(schedule, at):
    opening = next_open(schedule, at)

    assert opening >= at
    assert business_elapsed(schedule, at, opening) == timedelta(0)
    assert is_open(schedule, at) == (opening == at)
    assert is_open(schedule, opening)


@BOUNDED
@given(schedules(), st.dates(min_value=date(2026, 1, 2), max_value=date(2026, 12, 30)))
def test_a_holiday_counts_nothing(schedule, day):
    schedule = Schedule(tz=schedule.tz, always_open=False, hours=schedule.hours, holidays=schedule.holidays | {day})
    midnight = datetime.combine(day, time(0), tzinfo=schedule.tz)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=schedule.tz)

    assert business_elapsed(schedule, midnight, next_midnight) == timedelta(0)


@BOUNDED
@given(schedules(always_open=True), instants, durations)
def test_24x7_is_plain_arithmetic(schedule, start, duration):
    assert business_add(schedule, start, duration) == start + duration
    assert business_elapsed(schedule, start, start + duration) == duration
    assert next_open(schedule, start) == start


# --- validation and edge rules --------------------------------------------------------------


def test_a_schedule_without_hours_refuses_to_add_instead_of_looping():
    closed = Schedule(tz=MEXICO_CITY, always_open=False)

    with pytest.raises(ValueError, match="no business hours at all"):
        business_add(closed, datetime(2026, 1, 5, tzinfo=UTC), H)
    with pytest.raises(ValueError, match="no business hours at all"):
        next_open(closed, datetime(2026, 1, 5, tzinfo=UTC))
    assert business_elapsed(closed, datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 2, 5, tzinfo=UTC)) == timedelta(0)
    assert is_open(closed, datetime(2026, 1, 5, 12, tzinfo=UTC)) is False


def test_zero_duration_is_the_start_itself_even_when_closed():
    weekdays = Schedule(tz=MEXICO_CITY, always_open=False, hours=(((time(9), time(18)),),) * 5 + ((), ()))
    saturday = local(MEXICO_CITY, 2026, 3, 14, 12)

    assert business_add(weekdays, saturday, timedelta(0)) == saturday.astimezone(UTC)
    assert business_add(weekdays, saturday, M) == local(MEXICO_CITY, 2026, 3, 16, 9, 1)


def test_naive_datetimes_and_negative_durations_are_refused():
    schedule = Schedule(tz=UTC, always_open=True)

    with pytest.raises(ValueError, match="aware"):
        business_elapsed(schedule, datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="negative"):
        business_add(schedule, datetime(2026, 1, 1, tzinfo=UTC), -M)


def test_schedule_validates_its_shape():
    with pytest.raises(ValueError, match="7 weekdays"):
        Schedule(tz=UTC, always_open=False, hours=((),) * 6)
    with pytest.raises(ValueError, match="open before"):
        Schedule(tz=UTC, always_open=False, hours=(((time(18), time(9)),),) + ((),) * 6)


def test_several_intervals_a_day_and_a_weekday_without_hours():
    split = ((time(9), time(13)), (time(15), time(19)))
    schedule = Schedule(tz=MEXICO_CITY, always_open=False, hours=(split, (), split, split, split, (), ()))
    monday = date(2026, 6, 1)

    assert business_elapsed(schedule, local(MEXICO_CITY, 2026, 6, 1, 10), local(MEXICO_CITY, 2026, 6, 1, 16)) == 4 * H
    assert business_add(schedule, local(MEXICO_CITY, 2026, 6, 1, 12), 2 * H) == local(MEXICO_CITY, 2026, 6, 1, 16)
    # Tuesday has no hours: from Monday's close to Wednesday's opening nothing counts.
    assert next_open(schedule, local(MEXICO_CITY, 2026, 6, 1, 19)) == local(MEXICO_CITY, 2026, 6, 3, 9)
    assert business_add(schedule, local(MEXICO_CITY, 2026, 6, 1, 18), 1 * H + M) == local(MEXICO_CITY, 2026, 6, 3, 9, 1)
    assert monday.weekday() == 0


def test_overlapping_working_hours_are_merged():
    assert merge_intervals([(time(11), time(14)), (time(9), time(12)), (time(15), time(16))]) == (
        (time(9), time(14)),
        (time(15), time(16)),
    )


# --- the real calendars (loaded by partners/migrations/0002_reference_calendars.py) ---------


@pytest.fixture
def mx(db) -> Schedule:
    return schedule_for(BusinessCalendar.objects.get(code="mx-banking"))


@pytest.fixture
def us(db) -> Schedule:
    return schedule_for(BusinessCalendar.objects.get(code="us-eastern-business"))


@pytest.fixture
def always(db) -> Schedule:
    return schedule_for(BusinessCalendar.objects.get(code="24x7"))


def test_schedule_for_reads_the_calendar_in_two_queries(db, django_assert_num_queries):
    calendar = BusinessCalendar.objects.get(code="mx-banking")

    with django_assert_num_queries(2):
        schedule = schedule_for(calendar)

    assert schedule.tz == MEXICO_CITY
    assert schedule.always_open is False
    assert schedule.hours[0] == ((time(9), time(18)),)
    assert schedule.hours[5] == schedule.hours[6] == ()
    assert date(2026, 3, 16) in schedule.holidays  # Natalicio de Benito Juárez


def test_schedules_for_reads_many_calendars_in_one_query(db, django_assert_num_queries):
    ids = list(BusinessCalendar.objects.values_list("pk", flat=True))

    with django_assert_num_queries(1):
        by_id = schedules_for(ids)

    by_code = {code: by_id[pk] for pk, code in BusinessCalendar.objects.values_list("pk", "code")}
    assert by_code["24x7"].always_open is True
    assert by_code["us-eastern-business"].tz == NEW_YORK
    assert date(2026, 11, 26) in by_code["us-eastern-business"].holidays  # Thanksgiving
    assert by_code["mx-banking"] == schedule_for(BusinessCalendar.objects.get(code="mx-banking"))


def test_us_business_hours_stay_nine_hours_across_spring_forward(us):
    # Friday 6 March 2026 is EST (UTC−5); Monday 9 March is EDT (UTC−4): Sunday 8 March changed.
    friday_noon = local(NEW_YORK, 2026, 3, 6, 12)
    monday_noon = local(NEW_YORK, 2026, 3, 9, 12)

    # Python subtracts datetimes of one ZoneInfo as wall clocks (72 h); in UTC an hour is lost.
    assert monday_noon - friday_noon == 72 * H
    assert monday_noon.astimezone(UTC) - friday_noon.astimezone(UTC) == 71 * H
    assert business_elapsed(us, friday_noon, monday_noon) == 6 * H + 3 * H
    assert next_open(us, local(NEW_YORK, 2026, 3, 6, 19)) == datetime(2026, 3, 9, 13, tzinfo=UTC)
    assert business_add(us, local(NEW_YORK, 2026, 3, 6, 17), 2 * H) == datetime(2026, 3, 9, 14, tzinfo=UTC)


def test_us_business_hours_across_fall_back(us):
    # Friday 30 October 2026 is EDT; Monday 2 November is EST: Sunday 1 November changed.
    assert next_open(us, local(NEW_YORK, 2026, 10, 30, 18)) == datetime(2026, 11, 2, 14, tzinfo=UTC)
    assert business_elapsed(us, local(NEW_YORK, 2026, 10, 30, 9), local(NEW_YORK, 2026, 11, 2, 18)) == 18 * H


def test_mexico_city_has_no_dst_since_2022(mx):
    # Opening is 15:00 UTC all year: before and after both US changes, and in April, when
    # Mexico used to change its clocks.
    for day in (date(2026, 3, 6), date(2026, 3, 9), date(2026, 4, 6), date(2026, 10, 30), date(2026, 11, 3)):
        assert next_open(mx, datetime.combine(day, time(0), tzinfo=UTC)) == datetime.combine(day, time(15), tzinfo=UTC)


def test_a_day_with_hours_across_the_dst_change_keeps_its_real_length():
    every_day = Schedule(tz=NEW_YORK, always_open=False, hours=(((time(9), time(18)),),) * 7)
    night = Schedule(tz=NEW_YORK, always_open=False, hours=(((time(1), time(4)),),) * 7)

    # The local day of 8 March 2026 has 23 hours, 1 November 2026 has 25; 09–18 is 9 h on both.
    for day, wall in ((date(2026, 3, 8), 23 * H), (date(2026, 11, 1), 25 * H)):
        start = datetime.combine(day, time(0), tzinfo=NEW_YORK)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=NEW_YORK)
        assert end.astimezone(UTC) - start.astimezone(UTC) == wall
        assert business_elapsed(every_day, start, end) == 9 * H
        # 01:00–04:00 local straddles the change: it is 2 real hours in March, 4 in November.
        assert business_elapsed(night, start, end) == (2 * H if day.month == 3 else 4 * H)


def test_nonexistent_local_times_are_read_with_the_offset_before_the_gap():
    # 02:30 does not exist on 8 March 2026 in New York; read as EST it is 07:30 UTC (03:30 EDT),
    # so an interval 02:30–03:30 is empty that day and nothing is counted twice.
    gap = Schedule(tz=NEW_YORK, always_open=False, hours=(((time(2, 30), time(3, 30)),),) * 7)

    assert business_elapsed(gap, local(NEW_YORK, 2026, 3, 8, 0), local(NEW_YORK, 2026, 3, 9, 0)) == timedelta(0)
    assert business_elapsed(gap, local(NEW_YORK, 2026, 3, 9, 0), local(NEW_YORK, 2026, 3, 10, 0)) == H


def test_a_pause_spanning_a_mexican_bank_holiday(mx):
    # SEV3 acknowledge, 4 business hours: started Friday 13 March 2026 16:00, paused at 17:00
    # (1 h consumed), resumed Monday 16 March 11:00, the Natalicio de Benito Juárez holiday.
    started, paused, resumed = (
        local(MEXICO_CITY, 2026, 3, 13, 16),
        local(MEXICO_CITY, 2026, 3, 13, 17),
        local(MEXICO_CITY, 2026, 3, 16, 11),
    )
    consumed = business_elapsed(mx, started, paused)

    assert consumed == H
    assert business_elapsed(mx, local(MEXICO_CITY, 2026, 3, 13, 18), local(MEXICO_CITY, 2026, 3, 17, 9)) == timedelta(0)
    assert business_add(mx, resumed, 4 * H - consumed) == local(MEXICO_CITY, 2026, 3, 17, 12).astimezone(UTC)


def test_resume_outside_business_hours_waits_for_the_next_opening(mx):
    saturday = local(MEXICO_CITY, 2026, 3, 14, 10)

    assert is_open(mx, saturday) is False
    assert next_open(mx, saturday) == local(MEXICO_CITY, 2026, 3, 17, 9)  # Monday is a holiday
    assert is_open(mx, local(MEXICO_CITY, 2026, 3, 17, 9)) is True
    assert is_open(mx, local(MEXICO_CITY, 2026, 3, 17, 18)) is False  # closing instant excluded


def test_23_30_on_31_december(mx, us, always):
    # 2025: 1 January 2026 (Thursday) is a holiday, 2 January is a Friday.
    new_year_eve_2025 = local(MEXICO_CITY, 2025, 12, 31, 23, 30)
    assert next_open(mx, new_year_eve_2025) == local(MEXICO_CITY, 2026, 1, 2, 9)
    assert business_add(mx, new_year_eve_2025, 4 * H) == datetime(2026, 1, 2, 19, tzinfo=UTC)
    # 2026: 1 January 2027 is a Friday and a holiday, 2 January a Saturday: Monday 4 January.
    new_year_eve_2026 = local(MEXICO_CITY, 2026, 12, 31, 23, 30)
    assert next_open(mx, new_year_eve_2026) == local(MEXICO_CITY, 2027, 1, 4, 9)
    assert next_open(us, local(NEW_YORK, 2026, 12, 31, 23, 30)) == local(NEW_YORK, 2027, 1, 4, 9)
    # SEV1 on the 24x7 calendar: 15 minutes later, across the year boundary.
    assert business_add(always, new_year_eve_2026, 15 * M) == local(MEXICO_CITY, 2026, 12, 31, 23, 45)
    assert business_elapsed(always, new_year_eve_2026, local(MEXICO_CITY, 2027, 1, 1, 0, 30)) == H


def test_next_openings_show_when_the_clock_runs(mx, always):
    openings = next_openings(mx, local(MEXICO_CITY, 2026, 3, 13, 12), 3)

    assert [(start.astimezone(MEXICO_CITY), end.astimezone(MEXICO_CITY)) for start, end in openings] == [
        (local(MEXICO_CITY, 2026, 3, 13, 9), local(MEXICO_CITY, 2026, 3, 13, 18)),
        (local(MEXICO_CITY, 2026, 3, 17, 9), local(MEXICO_CITY, 2026, 3, 17, 18)),
        (local(MEXICO_CITY, 2026, 3, 18, 9), local(MEXICO_CITY, 2026, 3, 18, 18)),
    ]
    assert next_openings(always, datetime(2026, 1, 1, tzinfo=UTC), 5) == []


def test_long_spans_are_fast(mx, us):
    start = local(MEXICO_CITY, 2026, 1, 5, 9)
    began = wallclock.perf_counter()

    for _ in range(100):
        due = business_add(mx, start, 20 * 9 * H)  # SEV4 resolve: 20 business days
        year = business_elapsed(us, start, start + timedelta(days=365))

    assert wallclock.perf_counter() - began < 2.0  # 100 of each; ~1 ms per year in practice
    assert due == local(MEXICO_CITY, 2026, 1, 30, 18)  # four whole weeks, no holiday among them
    # 261 weekdays from 5 January 2026 to 4 January 2027, 11 of them US public holidays.
    assert year == 250 * 9 * H
