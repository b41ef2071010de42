"""Business-time arithmetic: how much of a calendar's open time lies between two instants, and
which instant lies a given amount of open time after another.

SLA clocks count "4 business hours" or "5 business days" against a `BusinessCalendar`. This
module does the arithmetic on a `Schedule`, an immutable snapshot of a calendar loaded with
`schedule_for` / `schedules_for`, so a sweep or a report loads each calendar once and then
computes without queries.

Rules, in one place:

- Every datetime in and out is aware; results are in UTC. Naive datetimes raise ValueError.
  Arithmetic is done in UTC because Python subtracts two datetimes sharing one ZoneInfo as wall
  clock times, which is wrong across a DST change.
- A 24x7 schedule is plain arithmetic: hours, holidays and time zone are ignored.
- Otherwise the open intervals of each local day are the weekday's working hours in the
  schedule's time zone, converted to UTC day by day with zoneinfo. So US hours 09:00–18:00 stay
  9 real hours on the day clocks change (the day itself has 23 or 25 hours), and the UTC offset
  of the opening moves with DST, while Mexico City (no DST since 2022) keeps UTC−6.
- Intervals are half-open, [opens, closes): a calendar is open at 09:00 and closed at 18:00.
- A holiday closes its whole local day; a weekday without working hours is closed.
- A local time that does not exist (inside the spring-forward gap, e.g. 02:30 on 8 March 2026 in
  New York) is read with the offset in force before the gap, so it lands after the gap
  (02:30 EST = 03:30 EDT); an ambiguous local time (inside the fall-back hour) is its first
  occurrence. This is zoneinfo's `fold=0`, PEP 495. An interval that ends up empty or overlaps
  the previous one after conversion is clipped, so open time is never counted twice.

Costs: both `business_elapsed` and `business_add` walk the calendar one local day at a time,
never minute by minute: a year is ~365 steps. A schedule converts each local day's hours to UTC
once and keeps them (the snapshot never changes), so the thousands of clocks on one calendar
share the conversions instead of repeating them at every step.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ZERO = timedelta(0)
ONE_DAY = timedelta(days=1)
# A schedule with hours on some weekday opens at least once a week unless holidays cover that
# weekday for years; past this many closed days in a row, `business_add` gives up instead of
# looping (it means the calendar data is broken, not that the clock is slow).
MAX_CLOSED_DAYS = 3660

Interval = tuple[time, time]


@dataclass(frozen=True)
class Schedule:
    """An immutable snapshot of a business calendar.

    `hours` has 7 entries, Monday first (date.weekday()), each a sorted tuple of non-overlapping
    (opens, closes) local times with opens < closes. `holidays` are whole local days closed.
    Build it with `schedule_for` / `schedules_for`, or directly in tests.
    """

    tz: ZoneInfo
    always_open: bool
    hours: tuple[tuple[Interval, ...], ...] = ((),) * 7
    holidays: frozenset[date] = frozenset()
    # Each local day's open intervals in UTC, computed once per day asked for (`_day_intervals`):
    # every clock on the calendar walks the same days, and the snapshot never changes.
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError(f"A schedule needs hours for 7 weekdays, got {len(self.hours)}.")
        for day in self.hours:
            for opens, closes in day:
                if not opens < closes:
                    raise ValueError(f"Working hours must open before they close, got {opens}–{closes}.")
        # Asked at every step of the arithmetic; the snapshot never changes.
        object.__setattr__(self, "_open", self.always_open or any(self.hours))

    @property
    def has_open_hours(self) -> bool:
        """Whether business time can ever run: 24x7, or some weekday has working hours."""
        return self._open


def merge_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted, with overlapping or touching intervals merged (09–12 and 11–14 become 09–14)."""
    merged: list[list[time]] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], closes)
        else:
            merged.append([opens, closes])
    return tuple((opens, closes) for opens, closes in merged)


def _build(zone: str, always_open: bool, hours_rows: Iterable[tuple[int, time, time]], holidays) -> Schedule:
    per_day: list[list[Interval]] = [[] for _ in range(7)]
    for weekday, opens, closes in hours_rows:
        per_day[weekday].append((opens, closes))
    return Schedule(
        tz=ZoneInfo(zone),
        always_open=always_open,
        hours=tuple(merge_intervals(day) for day in per_day),
        holidays=frozenset(holidays),
    )


def schedule_for(calendar) -> Schedule:
    """The schedule of one `BusinessCalendar` (2 queries: working hours, holidays).

    Not cached globally: a lead's edit of a calendar takes effect on the next load.
    """
    if calendar.is_24x7:
        return Schedule(tz=ZoneInfo(calendar.timezone), always_open=True)
    hours = calendar.working_hours.values_list("weekday", "opens", "closes")
    holidays = calendar.holidays.values_list("date", flat=True)
    return _build(calendar.timezone, calendar.is_24x7, hours, holidays)


_CALENDAR_IDS = [-9_000_000_004]  # what the schedules' query is compiled with (payhealth.db.compiled)


def _schedules_query():
    from django.contrib.postgres.expressions import ArraySubquery
    from django.db.models import IntegerField, OuterRef
    from django.db.models.functions import JSONObject

    from partners.models import BusinessCalendar, Holiday, WorkingHours
    from payhealth.db import compiled, equals_any

    def build():
        hours = WorkingHours.objects.filter(calendar=OuterRef("pk")).values(
            json=JSONObject(weekday="weekday", opens="opens", closes="closes")
        )
        holidays = Holiday.objects.filter(calendar=OuterRef("pk")).values("date")
        return (
            BusinessCalendar.objects.filter(equals_any("id", _CALENDAR_IDS, IntegerField()))
            .annotate(hour_rows=ArraySubquery(hours), holiday_dates=ArraySubquery(holidays))
            .values_list("id", "timezone", "is_24x7", "hour_rows", "holiday_dates")
        )

    return compiled("partners:schedules", build, _CALENDAR_IDS)


def schedules_for(calendar_ids: Iterable[int]) -> dict[int, Schedule]:
    """Schedules of many calendars by id, in one query (compiled once per process): each calendar
    with its working hours and holidays as arrays (the hours as JSON rows, their times as "HH:MM:SS")."""
    ids = sorted(set(calendar_ids))
    if not ids:
        return {}
    schedules = {}
    for pk, zone, always_open, hour_rows, holiday_dates in _schedules_query().rows(ids):
        if always_open:
            schedules[pk] = Schedule(tz=ZoneInfo(zone), always_open=True)
            continue
        hours = [_hours_row(row) for row in hour_rows or []]
        schedules[pk] = _build(zone, False, hours, holiday_dates or [])
    return schedules


def _hours_row(row) -> tuple[int, time, time]:
    row = json.loads(row) if isinstance(row, str) else row
    return row["weekday"], time.fromisoformat(row["opens"]), time.fromisoformat(row["closes"])


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value!r}.")
    return value.astimezone(UTC)


def _day_intervals(schedule: Schedule, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The open intervals of one local day, in UTC (nothing on a holiday or a closed weekday)."""
    intervals = schedule._days.get(day)
    if intervals is None:
        intervals = schedule._days[day] = tuple(_local_day_in_utc(schedule, day))
    return intervals


def _local_day_in_utc(schedule: Schedule, day: date) -> Iterator[tuple[datetime, datetime]]:
    if day in schedule.holidays:
        return
    for opens, closes in schedule.hours[day.weekday()]:
        start = datetime.combine(day, opens, tzinfo=schedule.tz).astimezone(UTC)
        end = datetime.combine(day, closes, tzinfo=schedule.tz).astimezone(UTC)
        yield start, end


def open_intervals(schedule: Schedule, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open intervals (UTC, half-open, in order, non-overlapping) that end after `since`.

    The first one may have started before `since`. Endless for a schedule with open hours;
    raises ValueError for one without (or after MAX_CLOSED_DAYS closed days in a row). A 24x7
    schedule yields one interval per UTC day.
    """
    since = _utc(since, "since")
    if not schedule.has_open_hours:
        raise ValueError("This calendar has no business hours at all, so business time never runs.")
    if schedule.always_open:
        day_start = since.replace(hour=0, minute=0, second=0, microsecond=0)
        while True:
            yield day_start, day_start + ONE_DAY
            day_start += ONE_DAY
    # Start a day early: an interval of the previous local day can still be open at `since`
    # when the local day and the UTC day differ.
    day = since.astimezone(schedule.tz).date() - ONE_DAY
    last_end: datetime | None = None
    closed_days = 0
    while True:
        found = False
        for start, end in _day_intervals(schedule, day):
            if last_end is not None and start < last_end:
                start = last_end  # clipped after a DST conversion, never counted twice
            if start >= end:
                continue
            last_end = end
            if end > since:
                found = True
                yield start, end
        closed_days = 0 if found else closed_days + 1
        if closed_days > MAX_CLOSED_DAYS:
            raise ValueError(f"This calendar has no business hours in {MAX_CLOSED_DAYS} consecutive days.")
        day += ONE_DAY


def business_elapsed(schedule: Schedule, start: datetime, end: datetime) -> timedelta:
    """Business time between two instants; zero when `end` is not after `start`."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return ZERO
    if schedule.always_open:
        return end - start
    if not schedule.has_open_hours:
        return ZERO
    total = ZERO
    # Walk local days from the day before `start` to the day after `end` (see open_intervals).
    day = start.astimezone(schedule.tz).date() - ONE_DAY
    last_day = end.astimezone(schedule.tz).date() + ONE_DAY
    last_end: datetime | None = None
    while day <= last_day:
        for opens, closes in _day_intervals(schedule, day):
            if last_end is not None and opens < last_end:
                opens = last_end
            if opens >= closes:
                continue
            last_end = closes
            overlap = min(closes, end) - max(opens, start)
            if overlap > ZERO:
                total += overlap
        day += ONE_DAY
    return total


def business_add(schedule: Schedule, start: datetime, duration: timedelta) -> datetime:
    """The earliest instant t >= start with business_elapsed(start, t) == duration (UTC).

    A zero duration gives `start` itself, even outside business hours; a positive one ends
    inside (or at the close of) an open interval. Raises ValueError for a negative duration or
    a schedule without any business hours.
    """
    start = _utc(start, "start")
    if duration < ZERO:
        raise ValueError(f"The duration must not be negative, got {duration}.")
    if duration == ZERO:
        return start
    if schedule.always_open:
        return start + duration
    remaining = duration
    for opens, closes in open_intervals(schedule, start):
        opens = max(opens, start)
        available = closes - opens
        if remaining <= available:
            return opens + remaining
        remaining -= available
    raise AssertionError("open_intervals is endless")  # pragma: no cover


def is_open(schedule: Schedule, at: datetime) -> bool:
    """Whether business time runs at `at` (opening instant included, closing instant excluded)."""
    at = _utc(at, "at")
    if schedule.always_open:
        return True
    if not schedule.has_open_hours:
        return False
    opens, _closes = next(open_intervals(schedule, at))
    return opens <= at


def next_open(schedule: Schedule, at: datetime) -> datetime:
    """`at` (in UTC) if the calendar is open then, else the next opening instant.

    Raises ValueError for a schedule without any business hours.
    """
    at = _utc(at, "at")
    if schedule.always_open:
        return at
    opens, _closes = next(open_intervals(schedule, at))
    return max(opens, at)


def next_openings(schedule: Schedule, at: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The next `count` open intervals (UTC) ending after `at`, for showing "when the clock runs".

    The first may already be in progress. Empty for a 24x7 schedule (always open) and for one
    without business hours (never open).
    """
    if schedule.always_open:
        return []
    if not schedule.has_open_hours:
        return []
    intervals = open_intervals(schedule, at)
    return [next(intervals) for _ in range(count)]


def business_days_close(schedule: Schedule, start: datetime, days: int) -> datetime:
    """The close of the `days`-th business day after the local day of `start` (UTC).

    "Within five business days" of a request made on Saturday 10 August 2019 in Mexico City is
    the close of Friday 16 August: the request's own day never counts, whether open or not. A
    24x7 schedule counts calendar days to the end of the local day. Raises ValueError for a
    schedule without business hours or a count below 1.
    """
    start = _utc(start, "start")
    if days < 1:
        raise ValueError(f"The number of business days must be at least 1, got {days}.")
    first = start.astimezone(schedule.tz).date() + ONE_DAY
    if schedule.always_open:
        return datetime.combine(first + (days - 1) * ONE_DAY, time(), tzinfo=schedule.tz).astimezone(UTC) + ONE_DAY
    since = datetime.combine(first, time(), tzinfo=schedule.tz)
    counted: list[date] = []
    close = None
    for opens, closes in open_intervals(schedule, since):
        day = opens.astimezone(schedule.tz).date()
        if day < first:
            continue
        if day not in counted:
            if len(counted) == days:
                break
            counted.append(day)
        close = closes
    return close
