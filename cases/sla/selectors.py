"""Reading SLA clocks for people: time left, badge levels, the queue's badges and the at-risk list.

The clock hooks (`cases.sla.clocks`) keep the denormalised columns of `SlaClock` current;
nothing here writes. Time left is business time of the clock's own calendar: while running,
the open time between now and `due_at` (negative past it); while paused or stopped, target −
consumed. Comparing clocks across calendars uses `due_at`, an instant.

Query costs stay constant whatever the number of rows: one query for the clocks of a page, one
for their events where shown, and `schedules_for` (1 query) only for the business calendars
among them; a 24x7 calendar needs no query at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import Case, DurationField, ExpressionWrapper, F, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from cases.models import Incident, PartnerEngagement, SlaClock, SlaClockEvent, SlaNotification
from cases.models.incident import OPEN_STATUSES, Severity
from cases.selectors import incident_list_visible_to
from cases.sla.durations import ZERO, Level, due_text, format_duration_long, time_left_text
from partners.businesstime import Schedule, business_elapsed, schedules_for
from partners.models import BusinessCalendar, Partner
from payhealth.db import Compiled, compiled, equals_any, from_json, json_of
from payhealth.ids import parse_id, parse_page
from payhealth.web import PageNumbers

State = SlaClock.State
Family = SlaClock.Family
METRIC_ORDER = {metric: index for index, metric in enumerate(SlaClock.Metric.values)}
ACTIVE_STATES = (State.RUNNING, State.PAUSED)
SEVERITY_ORDER = {severity: index for index, severity in enumerate(Severity.values)}


# Time arithmetic -----------------------------------------------------------------------------


def _elapsed(schedule: Schedule | None, start, end) -> timedelta:
    if schedule is None:  # no schedule: wall time, as on a 24x7 calendar
        return max(end - start, ZERO)
    return business_elapsed(schedule, start, end)


def clock_time_left(clock: SlaClock, *, now, schedule: Schedule | None) -> timedelta:
    """Business time left before the clock breaches; negative once overdue.

    Running: the open time between now and `due_at` (the open time from `due_at` to now, negated,
    when past it). Paused or stopped: target − consumed, frozen. `schedule` is the clock calendar's
    (`None` counts wall time, which is what a 24x7 calendar does).
    """
    if clock.state == State.RUNNING:
        if clock.due_at is None:  # not computed yet: count from the last measurement
            measured = clock.consumed_at or clock.started_at
            return clock.target - clock.consumed - _elapsed(schedule, measured, now)
        if now <= clock.due_at:
            return _elapsed(schedule, now, clock.due_at)
        return -_elapsed(schedule, clock.due_at, now)
    return clock.target - clock.consumed


def clock_level(clock: SlaClock, *, now, time_left: timedelta | None = None) -> str:
    """ok / warning (past the warning instant, or warned) / overdue / paused / met / breached / cancelled."""
    if clock.state == State.PAUSED:
        return Level.PAUSED
    if clock.state == State.MET:
        return Level.MET
    if clock.state == State.BREACHED:
        return Level.BREACHED
    if clock.state == State.CANCELLED:
        return Level.CANCELLED
    overdue = clock.breached_at is not None or (clock.due_at is not None and clock.due_at <= now)
    if overdue or (time_left is not None and time_left <= ZERO):
        return Level.OVERDUE
    if clock.warned_at is not None or (clock.warn_due_at is not None and clock.warn_due_at <= now):
        return Level.WARNING
    return Level.OK


def clock_label(*, metric: str, partner: str | None) -> str:
    """ "Acknowledge" for ours, "BBVA México · Resolve" for a partner's."""
    metric_label = _choice_label(SlaClock.Metric, metric)
    if partner:
        return gettext("%(partner)s · %(metric)s") % {"partner": partner, "metric": metric_label}
    return metric_label


def _choice_label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


# Badges --------------------------------------------------------------------------------------


@dataclass
class ClockBadge:
    """What a badge shows for one clock, computed at one instant in the viewer's language."""

    clock: SlaClock
    label: str
    family: str
    metric: str
    partner: str | None
    state: str
    level: str
    time_left: timedelta
    business: bool
    text: str
    title: str  # the time left spelled out
    calendar: str
    events: list[SlaClockEvent] = field(default_factory=list)

    @property
    def pk(self) -> int:
        return self.clock.pk

    @property
    def consumed_now(self) -> timedelta:
        """Business time used so far: live while running (target − time left), frozen otherwise."""
        if self.state == State.RUNNING:
            return max(self.clock.target - self.time_left, ZERO)
        return self.clock.consumed

    @property
    def overdue(self) -> bool:
        return self.level in (Level.OVERDUE, Level.BREACHED)

    @property
    def due_text(self) -> str:
        """ "overdue by 3 h 12 min" / "due in 25 min": a running clock's row on the at-risk list."""
        return due_text(-abs(self.time_left) if self.overdue else self.time_left, business=self.business)


def _schedule_of(clock: SlaClock, schedules: dict[int, Schedule]) -> Schedule:
    return schedules.get(clock.calendar_id) or Schedule(tz=ZoneInfo("UTC"), always_open=True)


def clock_schedules(clocks: Iterable[SlaClock]) -> dict[int, Schedule]:
    """The schedules of the clocks' calendars: none to load for 24x7 calendars (1 query otherwise).

    Clocks must come with `calendar` selected.
    """
    schedules: dict[int, Schedule] = {}
    wanted = set()
    for clock in clocks:
        if clock.calendar.is_24x7:
            schedules[clock.calendar_id] = Schedule(tz=ZoneInfo(clock.calendar.timezone), always_open=True)
        else:
            wanted.add(clock.calendar_id)
    if wanted:
        schedules.update(schedules_for(wanted))
    return schedules


def clock_badge(clock: SlaClock, *, now, schedule: Schedule) -> ClockBadge:
    """The badge of one clock. `clock` comes with `calendar` and `engagement__partner` selected."""
    time_left = clock_time_left(clock, now=now, schedule=schedule)
    level = clock_level(clock, now=now, time_left=time_left)
    business = not schedule.always_open
    partner = clock.engagement.partner.name if clock.engagement_id else None
    if level in (Level.MET, Level.BREACHED, Level.CANCELLED):
        title = _choice_label(State, clock.state)
    else:
        title = format_duration_long(time_left, business=business)
    return ClockBadge(
        clock=clock,
        label=clock_label(metric=clock.metric, partner=partner),
        family=clock.family,
        metric=clock.metric,
        partner=partner,
        state=clock.state,
        level=level,
        time_left=time_left,
        business=business,
        text=time_left_text(level, time_left, business=business),
        title=title,
        calendar=clock.calendar.name,
    )


def _may_see_clocks(user) -> bool:
    return user.has_perm("cases.view_slaclock") and user.has_perm("cases.view_incident")


def _most_urgent_first(now) -> list:
    """ORDER BY of one incident's clocks, most urgent first: running clocks before paused ones,
    a running clock by its due instant (overdue ones are due earliest; one not computed yet
    counts as due now), a paused one by the time it has left (target − consumed); then the id."""
    running = Q(state=State.RUNNING)
    return [
        Case(When(running, then=Value(0)), default=Value(1), output_field=IntegerField()),
        Case(When(running, then=Coalesce(F("due_at"), Value(now)))).asc(),
        Case(When(~running, then=ExpressionWrapper(F("target") - F("consumed"), DurationField()))).asc(),
        F("id").asc(),
    ]


# What the most urgent clocks' query is compiled with (payhealth.db.compiled), replaced at each run.
_URGENT_IDS = [-9_000_000_003]
_URGENT_NOW = datetime(1901, 2, 3, 4, 5, 6, 789, tzinfo=UTC)
_BADGE_ROW = {"calendar": (BusinessCalendar, ()), "engagement": (PartnerEngagement, (), {"partner": (Partner, ())})}


def _most_urgent_query() -> Compiled:
    """Each incident's most urgent running or paused clock (DISTINCT ON the incident), as one JSON
    row with its calendar, engagement and partner; compiled once per process."""
    return compiled(
        "sla:most-urgent-clocks",
        lambda: (
            SlaClock.objects.filter(equals_any("incident_id", _URGENT_IDS, IntegerField()), state__in=ACTIVE_STATES)
            .order_by("incident_id", *_most_urgent_first(_URGENT_NOW))
            .distinct("incident_id")
            .values(row=json_of(SlaClock, related=_BADGE_ROW))
        ),
        _URGENT_IDS,
        _URGENT_NOW,
    )


def most_urgent_clocks(*, user, incident_ids: Iterable[int], now=None) -> dict[int, ClockBadge]:
    """Incident id → the badge of its most urgent running (else paused) clock, for a page of incidents.

    One query (DISTINCT ON the incident) reads only each incident's most urgent clock, so a page
    builds one badge per row, not one per clock; plus `schedules_for` when a business calendar
    is among them. Incidents without a running or paused clock are absent.
    """
    now = now or timezone.now()
    ids = list(incident_ids)
    if not ids or not _may_see_clocks(user):
        return {}
    joined: dict = {}  # a page's clocks share a few calendars and partners
    clocks = [from_json(SlaClock, row, joined=joined) for (row,) in _most_urgent_query().rows(ids, now)]
    schedules = clock_schedules(clocks)
    return {clock.incident_id: clock_badge(clock, now=now, schedule=_schedule_of(clock, schedules)) for clock in clocks}


def attach_sla_badges(*, user, incidents: list[Incident], now=None) -> None:
    """Set `incident.sla_badge` (a ClockBadge or None) on each incident of a page."""
    badges = most_urgent_clocks(user=user, incident_ids=[incident.pk for incident in incidents], now=now)
    for incident in incidents:
        incident.sla_badge = badges.get(incident.pk)


def sla_badges_for_ids(*, user, ids: Iterable, now=None, limit: int = 100) -> list[tuple[int, ClockBadge | None]]:
    """(incident id, badge or None) for the visible incidents among `ids` (the queue's live refresh)."""
    wanted = list(dict.fromkeys(number for value in ids if (number := parse_id(value)) is not None))[:limit]
    if not wanted:
        return []
    visible = list(incident_list_visible_to(user=user).filter(pk__in=wanted).values_list("pk", flat=True))
    badges = most_urgent_clocks(user=user, incident_ids=visible, now=now)
    return [(pk, badges.get(pk)) for pk in wanted if pk in set(visible)]


# The incident page ---------------------------------------------------------------------------


@dataclass
class IncidentSla:
    """Every clock of one incident, ours first then per partner, each with its history."""

    clocks: list[ClockBadge]
    now: object

    @property
    def active(self) -> list[ClockBadge]:
        """Running and paused clocks: the header's badges."""
        return [badge for badge in self.clocks if badge.state in ACTIVE_STATES]

    @property
    def groups(self) -> list[tuple[str | None, list[ClockBadge]]]:
        """(partner name or None for ours, its clocks), ours first: the section's row groups."""
        groups: dict[str | None, list[ClockBadge]] = {}
        for badge in self.clocks:
            groups.setdefault(badge.partner, []).append(badge)
        return list(groups.items())

    @property
    def ours(self) -> list[ClockBadge]:
        return [badge for badge in self.clocks if badge.family == Family.OURS]

    @property
    def partners(self) -> list[ClockBadge]:
        return [badge for badge in self.clocks if badge.family == Family.PARTNER]


_INCIDENT_ID = -9_000_000_005  # what the incident's clocks and events are compiled with
_ACTOR_ROW = (get_user_model(), ("password",))


def _incident_clocks_query() -> Compiled:
    """The incident's clocks as JSON rows with calendar, engagement and partner."""
    return compiled(
        "sla:incident-clocks",
        lambda: (
            SlaClock.objects.filter(incident_id=_INCIDENT_ID)
            .order_by("id")
            .values(row=json_of(SlaClock, related=_BADGE_ROW))
        ),
        _INCIDENT_ID,
    )


def _incident_clock_events_query() -> Compiled:
    """The events of the incident's clocks, oldest first, each with its actor and its mails (an
    array of JSON rows)."""

    def build():
        mails = (
            SlaNotification.objects.filter(event=OuterRef("pk")).order_by("id").values(json=json_of(SlaNotification))
        )
        return (
            SlaClockEvent.objects.filter(clock__incident_id=_INCIDENT_ID)
            .order_by("at", "id")
            .values(row=json_of(SlaClockEvent, related={"actor": _ACTOR_ROW}), mails=ArraySubquery(mails))
        )

    return compiled("sla:incident-clock-events", build, _INCIDENT_ID)


def incident_sla(*, user, incident: Incident, now=None) -> IncidentSla:
    """The incident's clocks with their events (and each event's mails, as `event.mails`): 2 queries,
    plus `schedules_for` for business calendars; both compiled once per process."""
    now = now or timezone.now()
    if not _may_see_clocks(user):
        return IncidentSla(clocks=[], now=now)
    joined: dict = {}  # calendars, partners and actors shared by several rows
    clocks = [from_json(SlaClock, row, joined=joined) for (row,) in _incident_clocks_query().rows(incident.pk)]
    schedules = clock_schedules(clocks)
    events: dict[int, list[SlaClockEvent]] = defaultdict(list)
    if clocks and user.has_perm("cases.view_slaclockevent"):
        for row, mails in _incident_clock_events_query().rows(incident.pk):
            event = from_json(SlaClockEvent, row, joined=joined)
            event.mails = [from_json(SlaNotification, mail) for mail in mails or []]
            events[event.clock_id].append(event)
    badges = []
    for clock in clocks:
        badge = clock_badge(clock, now=now, schedule=_schedule_of(clock, schedules))
        badge.events = events.get(clock.pk, [])
        badges.append(badge)
    badges.sort(
        key=lambda b: (b.family != Family.OURS, (b.partner or "").lower(), METRIC_ORDER.get(b.metric, 99), b.pk)
    )
    return IncidentSla(clocks=badges, now=now)


# The at-risk list ----------------------------------------------------------------------------

AT_RISK_PAGE_SIZE = 50
AT_RISK_COUNT_CAP = 1000
AT_RISK_PAUSED_LIMIT = 25


@dataclass
class AtRiskFilters:
    family: str = ""  # "", "ours" or "partner"
    severity: list[str] = field(default_factory=list)
    partner: str = ""  # a partner code
    mine: bool = False

    @classmethod
    def from_params(cls, params) -> AtRiskFilters:
        family = params.get("family", "")
        return cls(
            family=family if family in Family.values else "",
            severity=[value for value in params.getlist("severity") if value in Severity.values],
            partner=(params.get("partner") or "").strip()[:50],
            mine=params.get("mine") in ("1", "on", "true"),
        )

    def apply(self, clocks: QuerySet[SlaClock], *, user) -> QuerySet[SlaClock]:
        if self.family:
            clocks = clocks.filter(family=self.family)
        if self.severity:
            clocks = clocks.filter(incident__severity__in=self.severity)
        if self.partner:
            clocks = clocks.filter(engagement__partner__code=self.partner)
        if self.mine:
            clocks = clocks.filter(incident__owner=user)
        return clocks


@dataclass
class AtRiskPage(PageNumbers):
    rows: list[ClockBadge]
    paused: list[ClockBadge]
    paused_count: int
    count: int
    count_capped: bool
    number: int
    per_page: int
    filters: AtRiskFilters

    @property
    def on_page(self) -> int:
        return len(self.rows)


def _open_clocks(user) -> QuerySet[SlaClock]:
    # Desk members see every incident (`incident_list_visible_to`): a join on the status is
    # enough, and lets PostgreSQL walk the (state, due_at) index and stop at the page's end.
    if not (user.has_perm("cases.view_slaclock") and user.has_perm("cases.view_incident")):
        return SlaClock.objects.none()
    return SlaClock.objects.filter(incident__status__in=OPEN_STATUSES)


def _number(value, default: int = 1) -> int:
    return parse_page(value, default)


def _at_risk_key(badge: ClockBadge) -> tuple:
    """Severity (SEV1 first); overdue before due; then by time left, a duration: most overdue first,
    then soonest due."""
    clock = badge.clock
    return (SEVERITY_ORDER.get(clock.incident.severity, 99), not badge.overdue, badge.time_left, clock.pk)


def sla_at_risk(*, user, params, now=None, per_page: int = AT_RISK_PAGE_SIZE) -> AtRiskPage:
    """Running clocks of open incidents by severity (SEV1 first); within a severity the overdue ones,
    most overdue first, then the others, soonest due first; the paused ones apart.

    The database orders on the incident's severity, then overdue (`due_at` passed) before not, then
    `due_at`, and pages on that order; the clocks of a page are then ordered on their time left (a
    duration of each clock's own calendar, so a business-hours clock overdue by 3 business hours
    sorts after a 24x7 one overdue by 5 hours). The page is read in two steps (ids, then rows) so
    the OFFSET walks narrow tuples only. The count stops at AT_RISK_COUNT_CAP.
    """
    now = now or timezone.now()
    filters = AtRiskFilters.from_params(params)
    running = filters.apply(_open_clocks(user).filter(state=State.RUNNING), user=user)
    number = _number(params.get("page"))
    cap = max(AT_RISK_COUNT_CAP, number * per_page)
    count = running.order_by().values("pk")[: cap + 1].count()
    capped = count > cap
    count = min(count, cap)
    number = min(number, max(1, -(-count // per_page)))
    offset = (number - 1) * per_page
    not_overdue = Case(When(due_at__lte=now, then=Value(0)), default=Value(1), output_field=IntegerField())
    ids = list(
        running.annotate(not_overdue=not_overdue)
        .order_by("incident__severity", "not_overdue", F("due_at").asc(nulls_last=True), "id")
        .values_list("pk", flat=True)[offset : offset + per_page]
    )
    related = ("calendar", "engagement__partner", "incident", "incident__owner")
    rows = list(SlaClock.objects.filter(pk__in=ids).select_related(*related)) if ids else []

    paused_qs = filters.apply(_open_clocks(user).filter(state=State.PAUSED), user=user)
    # Least time left first; sorted on narrow tuples, the wide rows read for the few shown.
    paused_ids = list(
        paused_qs.order_by(F("target") - F("consumed"), "id").values_list("pk", flat=True)[:AT_RISK_PAUSED_LIMIT]
    )
    paused = list(SlaClock.objects.filter(pk__in=paused_ids).select_related(*related)) if paused_ids else []
    paused.sort(key=lambda clock: (clock.target - clock.consumed, clock.pk))
    paused_count = len(paused)
    if paused_count == AT_RISK_PAUSED_LIMIT:
        paused_count = paused_qs.order_by().count()

    schedules = clock_schedules([*rows, *paused])
    badges = [clock_badge(clock, now=now, schedule=_schedule_of(clock, schedules)) for clock in rows]
    badges.sort(key=_at_risk_key)
    return AtRiskPage(
        rows=badges,
        paused=[clock_badge(clock, now=now, schedule=_schedule_of(clock, schedules)) for clock in paused],
        paused_count=paused_count,
        count=count,
        count_capped=capped,
        number=number,
        per_page=per_page,
        filters=filters,
    )


OVERDUE_COUNT_CAP = 99
ATTENTION_SEVERITIES = (Severity.SEV1, Severity.SEV2)


def sla_attention_count(*, user, now=None) -> int:
    """What the navigation's badge counts for `user`, up to OVERDUE_COUNT_CAP + 1: running clocks of
    open incidents that are the viewer's own and overdue, or on a SEV1/SEV2 incident (anyone's) and
    at risk (overdue, or past their warning instant). A clock that is both counts once.

    One query: a count that stops at the cap, so a backlog never costs a full count on every page.
    """
    now = now or timezone.now()
    overdue = Q(due_at__lte=now)
    at_risk = overdue | Q(warn_due_at__lte=now) | Q(warned_at__isnull=False) | Q(breached_at__isnull=False)
    wanted = (Q(incident__owner=user) & (overdue | Q(breached_at__isnull=False))) | (
        Q(incident__severity__in=ATTENTION_SEVERITIES) & at_risk
    )
    clocks = _open_clocks(user).filter(wanted, state=State.RUNNING)
    return clocks.order_by().values("pk")[: OVERDUE_COUNT_CAP + 1].count()
