"""SLA clocks: starting, pausing, resuming, stopping and re-targeting them (DESIGN.md §4).

A clock's history is its `SlaClockEvent`s; its state (consumed business time, due and warning
instants, running/paused/met/breached/cancelled) is a fold of those events over its calendar.
Every action below appends events and folds them into the denormalised columns with the same
function `clock_replay` uses from scratch, so the incremental state and a report's recomputation
can never disagree. The periodic sweep (`cases.services.sla_sweep`) only reads `warn_due_at` and
`due_at`, which is why each event recomputes them.

The hooks are called by the incident, notice, delivery, inbound and engagement services inside
their transactions, after the incident (or the notice) is locked; they lock the clocks they
change, in id order. An incident without clocks (opened before SLAs existed, or without a
matching policy) is left alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q

from cases import timeline
from cases.models import Correspondence, Incident, PartnerEngagement, SlaClock, SlaClockEvent, SlaPolicy
from cases.models.incident import REOPEN_FROM, Status
from cases.timeline.events import SlaBreached, SlaPaused, SlaResumed
from partners.businesstime import Schedule, business_add, business_elapsed, schedules_for
from partners.models import Partner
from payhealth.outbox import publish_on_commit

Family = SlaClock.Family
Metric = SlaClock.Metric
State = SlaClock.State
Kind = SlaClockEvent.Kind
PartnerStatus = PartnerEngagement.PartnerStatus

# The task that mails a warning or breach (`sla_event_notify`), published by name.
NOTIFY_TASK = "cases.notify_sla_event_task"
STOPPED = (State.MET, State.BREACHED, State.CANCELLED)
ACTIVE = (State.RUNNING, State.PAUSED)
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED)
# The ours clocks that pause while the desk waits on a partner (DESIGN §4: first notice never waits).
PAUSABLE_OURS = (Metric.ACKNOWLEDGE, Metric.UPDATE, Metric.RESOLVE)
POLICY_TARGETS = {
    Metric.ACKNOWLEDGE: "acknowledge_target",
    Metric.FIRST_NOTICE: "first_notice_target",
    Metric.UPDATE: "update_every",
    Metric.RESOLVE: "resolve_target",
}
OURS_AT_OPEN = (Metric.ACKNOWLEDGE, Metric.FIRST_NOTICE, Metric.RESOLVE)
PARTNER_METRICS = (Metric.ACKNOWLEDGE, Metric.RESOLVE)
# The reason a partner clock is cancelled with when the desk resolves the incident first.
RESOLVED_BY_DESK = "incident resolved by the desk"
# Fields `ClockState` writes back to the clock row.
STATE_FIELDS = (
    "state",
    "started_at",
    "consumed",
    "consumed_at",
    "due_at",
    "warn_due_at",
    "warned_at",
    "breached_at",
    "stopped_at",
    "pause_reason",
    "cycle",
    "target",
    "warn_after",
    "calendar_id",
    "policy_id",
)


# --- policies ---------------------------------------------------------------------------------


def sla_policy_for(*, severity: str, partner: Partner | None = None) -> SlaPolicy | None:
    """The active policy for the severity: the partner's own, else its kind's, else the generic one.

    Without a partner only the generic policy (no partner, no partner kind) applies. One query.
    """
    scope = Q(partner__isnull=True, partner_kind="")
    if partner is not None:
        scope |= Q(partner=partner) | Q(partner__isnull=True, partner_kind=partner.kind)
    candidates = list(SlaPolicy.objects.filter(scope, active=True, severity=severity).select_related("calendar"))

    def rank(policy: SlaPolicy) -> int:
        if policy.partner_id is not None:
            return 0
        return 1 if policy.partner_kind else 2

    return min(candidates, key=rank, default=None)


def clock_calendar_id(policy: SlaPolicy, partner: Partner | None) -> int:
    """The policy's calendar; a partner keeping its own hours (not 24x7) keeps them (US desks, DST)."""
    if partner is not None and partner.calendar_id and not policy.calendar.is_24x7:
        return partner.calendar_id
    return policy.calendar_id


def _target(policy: SlaPolicy, metric: str) -> timedelta | None:
    return getattr(policy, POLICY_TARGETS[metric])


def warn_after_for(policy: SlaPolicy, target: timedelta) -> timedelta:
    """When a clock of `target` warns under `policy`: its warn share, at least a second, at most the target."""
    warn = timedelta(seconds=round(target.total_seconds() * float(policy.warn_at)))
    return min(max(warn, timedelta(seconds=1)), target)


def _seconds(value: timedelta) -> float:
    return value.total_seconds()


# --- the fold ---------------------------------------------------------------------------------


@dataclass
class ClockState:
    """Everything derived from a clock's events; what `clock_replay` returns (as a dict)."""

    state: str = State.RUNNING
    started_at: datetime | None = None
    consumed: timedelta = timedelta(0)
    consumed_at: datetime | None = None
    due_at: datetime | None = None
    warn_due_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    pause_reason: str = ""
    cycle: int = 1
    target: timedelta | None = None
    warn_after: timedelta | None = None
    calendar_id: int | None = None
    policy_id: int | None = None

    @classmethod
    def of(cls, clock: SlaClock) -> ClockState:
        return cls(**{field: getattr(clock, field) for field in STATE_FIELDS})

    def write_to(self, clock: SlaClock) -> None:
        for field in STATE_FIELDS:
            setattr(clock, field, getattr(self, field))

    @property
    def last_at(self) -> datetime | None:
        """The latest instant any event of the clock happened at: a new event cannot come before it."""
        instants = [value for value in (self.consumed_at, self.warned_at, self.breached_at) if value is not None]
        return max(instants, default=None)


def stop_outcome(state: ClockState, *, cancelled: bool) -> str:
    if cancelled:
        return State.CANCELLED
    if state.breached_at is not None or state.consumed > state.target:
        return State.BREACHED
    return State.MET


def fold(state: ClockState, *, kind: str, at: datetime, reason: str, data: dict, cycle: int, schedules) -> ClockState:
    """Apply one event to the state (in place, and returned). `schedules[calendar_id]` -> Schedule."""

    def accrue() -> None:
        state.consumed += business_elapsed(schedules[state.calendar_id], state.consumed_at, at)
        state.consumed_at = at

    if kind == Kind.START:
        if state.started_at is None:
            state.started_at = at
        if "target" in data:
            state.target = timedelta(seconds=data["target"])
            state.warn_after = timedelta(seconds=data["warn_after"])
            state.calendar_id = data["calendar"]
            state.policy_id = data["policy"]
        state.cycle = cycle
        state.state = State.RUNNING
        state.consumed, state.consumed_at = timedelta(0), at
        state.warned_at = state.breached_at = state.stopped_at = None
    elif kind == Kind.PAUSE:
        if state.state == State.RUNNING:
            accrue()
            state.state = State.PAUSED
            state.pause_reason = reason
    elif kind == Kind.RESUME:
        if state.state == State.PAUSED or state.state in STOPPED:
            state.consumed_at = at
            state.state = State.RUNNING
            state.stopped_at = None
    elif kind == Kind.STOP:
        if state.state in ACTIVE:
            if state.state == State.RUNNING:
                accrue()
            else:
                state.consumed_at = at
            state.state = stop_outcome(state, cancelled=data.get("outcome") == State.CANCELLED)
            state.stopped_at = at
    elif kind == Kind.RETARGET:
        if state.state == State.RUNNING:
            accrue()
        state.target = timedelta(seconds=data["new_target"])
        state.warn_after = timedelta(seconds=data["new_warn_after"])
        state.calendar_id = data["new_calendar"]
        state.policy_id = data["new_policy"]
    elif kind == Kind.WARN and state.warned_at is None:
        state.warned_at = at
    elif kind == Kind.BREACH and state.breached_at is None:
        state.breached_at = at
    if state.state == State.RUNNING:
        schedule: Schedule = schedules[state.calendar_id]
        state.due_at = business_add(schedule, state.consumed_at, max(state.target - state.consumed, timedelta(0)))
        state.warn_due_at = (
            business_add(schedule, state.consumed_at, max(state.warn_after - state.consumed, timedelta(0)))
            if state.warned_at is None
            else None
        )
    else:
        state.due_at = state.warn_due_at = None
    return state


def _event_calendars(event: SlaClockEvent) -> set[int]:
    return {event.data[key] for key in ("calendar", "old_calendar", "new_calendar") if key in event.data}


def clock_replay(clock: SlaClock) -> dict:
    """The clock's state recomputed from its events and calendars alone (reports are reproducible).

    The keys are the denormalised columns (`STATE_FIELDS`); a clock whose columns differ from
    this has been written by something other than these services.
    """
    history = list(clock.events.order_by("at", "id"))
    calendars = {clock.calendar_id}
    for event in history:
        calendars |= _event_calendars(event)
    schedules = schedules_for(calendars)
    state = ClockState(state=State.RUNNING)
    for event in history:
        fold(
            state,
            kind=event.kind,
            at=event.at,
            reason=event.reason,
            data=event.data,
            cycle=event.cycle,
            schedules=schedules,
        )
    return asdict(state)


# --- writing events ---------------------------------------------------------------------------


class _Changes:
    """The events one hook appends, folded into their clocks, written in a few queries at the end."""

    def __init__(
        self, *, incident: Incident, actor, clocks: list[SlaClock], calendar_ids=(), status: str | None = None
    ) -> None:
        self.incident = incident
        # The incident's status before the hook's change, recorded with a breach fired here.
        self.status = status
        self.breaches: list[SlaClockEvent] = []
        self._crossing_facts: dict | None = None
        self.actor = actor if getattr(actor, "pk", None) else None
        self.schedules: dict[int, Schedule] = {}
        # loaded together on the first event (3 queries), not at all when the hook changes nothing
        self._wanted = {clock.calendar_id for clock in clocks} | set(calendar_ids)
        self.new_events: list[SlaClockEvent] = []
        self.changed: dict[int, SlaClock] = {}
        # (payload class, its fields, instant, actor, the clock event a crossing names or None)
        self.timeline: list[tuple] = []

    def _need(self, calendar_ids) -> None:
        missing = {pk for pk in {*calendar_ids, *self._wanted} if pk is not None and pk not in self.schedules}
        self._wanted = set()
        if missing:
            self.schedules.update(schedules_for(missing))

    def append(
        self, clock: SlaClock, kind: str, at: datetime, *, reason: str = "", data: dict | None = None, cycle=None
    ) -> SlaClockEvent:
        if kind in (Kind.PAUSE, Kind.STOP, Kind.RETARGET):
            self._breach_if_crossed(clock, at)
        state = ClockState.of(clock)
        last = state.last_at
        if last is not None and at < last:
            at = last  # an event never lands before the clock's latest one (a back-dated stamp, say)
        data = dict(data or {})
        cycle = clock.cycle if cycle is None else cycle
        if kind == Kind.STOP and "outcome" not in data:
            data["outcome"] = State.MET
        self._need({clock.calendar_id, *_event_calendars(SlaClockEvent(data=data))})
        fold(state, kind=kind, at=at, reason=reason, data=data, cycle=cycle, schedules=self.schedules)
        if kind == Kind.STOP:
            data["outcome"] = state.state
        state.write_to(clock)
        actor = None if kind in (Kind.WARN, Kind.BREACH) else self.actor  # crossings are PayHealth's own
        event = SlaClockEvent(clock=clock, kind=kind, at=at, reason=reason[:250], actor=actor, data=data)
        event.cycle = cycle
        self.new_events.append(event)
        self.changed[clock.pk] = clock
        if kind in (Kind.PAUSE, Kind.RESUME):
            payload = SlaPaused if kind == Kind.PAUSE else SlaResumed
            self.timeline.append((payload, _clock_facts(clock, reason), at, self.actor, None))
        return event

    def _breach_if_crossed(self, clock: SlaClock, at: datetime) -> None:
        """Fire the breach the sweep has not reached yet, at the instant the target was crossed.

        The sweep runs every minute; a pause, stop or re-target in between would otherwise hide a
        crossing (a paused clock has no due instant, a stopped one is only marked breached). Fired
        here instead, it is the same event, timeline row and notification the sweep would have made,
        and the clock's lock (held by every hook) keeps a concurrent sweep from firing it again.
        """
        if clock.state != State.RUNNING or clock.breached_at is not None or clock.due_at is None or clock.due_at > at:
            return
        if self._crossing_facts is None:  # the same for every clock of the incident: read once
            waiting = PartnerEngagement.objects.filter(
                incident_id=self.incident.pk, partner_status__in=PartnerEngagement.WAITING_STATUSES
            ).order_by("partner__name")
            self._crossing_facts = {
                "status": self.status or Incident.objects.values_list("status", flat=True).get(pk=self.incident.pk),
                "waiting_on": list(waiting.values_list("partner__name", flat=True)),
            }
        facts = {
            **self._crossing_facts,
            "pause_reason": clock.pause_reason,
            "due_at": clock.due_at.isoformat(),
            "target": _seconds(clock.target),
        }
        event = self.append(clock, Kind.BREACH, clock.due_at, data=facts)
        self.breaches.append(event)
        self.timeline.append((SlaBreached, _clock_facts(clock, clock.pause_reason), event.at, None, event))

    def save(self) -> None:
        if not self.new_events:
            return
        SlaClockEvent.objects.bulk_create(self.new_events)
        SlaClock.objects.bulk_update(list(self.changed.values()), list(STATE_FIELDS))
        for payload, facts, at, actor, crossing in self.timeline:
            if crossing is not None:  # a breach names its clock event, which has an id only now
                facts = {**facts, "event": crossing.pk}
            timeline.record(payload(**facts), incident=self.incident, actor=actor, at=at)
        publish_on_commit(NOTIFY_TASK, [event.pk for event in self.breaches])


def _clock_facts(clock: SlaClock, reason: str) -> dict:
    """What a timeline row about a clock says of it (the fields of `SlaClockChange`)."""
    return {
        "clock": clock.pk,
        "metric": clock.metric,
        "family": clock.family,
        "partner": clock.engagement.partner.name if clock.engagement_id else None,
        "reason": reason,
    }


def _locked_clocks(incident_id: int, **filters) -> list[SlaClock]:
    return list(
        SlaClock.objects.select_for_update(of=("self",))
        .select_related("engagement__partner")
        .filter(incident_id=incident_id, **filters)
        .order_by("pk")
    )


def _new_clock(
    *, incident: Incident, engagement: PartnerEngagement | None, metric: str, policy: SlaPolicy, at: datetime
) -> SlaClock | None:
    """An unsaved clock for the metric, or None when the policy does not track it."""
    target = _target(policy, metric)
    if target is None:
        return None
    partner = engagement.partner if engagement is not None else None
    return SlaClock(
        incident=incident,
        engagement=engagement,
        family=Family.PARTNER if engagement is not None else Family.OURS,
        metric=metric,
        policy=policy,
        calendar_id=clock_calendar_id(policy, partner),
        target=target,
        warn_after=warn_after_for(policy, target),
        state=State.RUNNING,
        started_at=at,
        consumed_at=at,
    )


def _create_clock(
    *, incident: Incident, engagement: PartnerEngagement | None, metric: str, policy: SlaPolicy, at: datetime
) -> SlaClock | None:
    """Insert the clock, or None when it exists already (a concurrent hook made it) or is not tracked:
    get-or-create on the unique (incident, engagement, metric) constraint, never check-then-act."""
    clock = _new_clock(incident=incident, engagement=engagement, metric=metric, policy=policy, at=at)
    if clock is None:
        return None
    try:
        with transaction.atomic():
            clock.save()
    except IntegrityError:
        return None
    return clock


def _start_data(clock: SlaClock) -> dict:
    return {
        "target": _seconds(clock.target),
        "warn_after": _seconds(clock.warn_after),
        "calendar": clock.calendar_id,
        "policy": clock.policy_id,
    }


def _start_new(changes: _Changes, clock: SlaClock, at: datetime, *, cycle: int = 1) -> None:
    changes.append(clock, Kind.START, at, data=_start_data(clock), cycle=cycle)


# --- incident hooks ---------------------------------------------------------------------------


@transaction.atomic
def sla_clocks_start_for_incident(*, incident: Incident, at: datetime) -> list[SlaClock]:
    """Our acknowledge, first-notice and resolve clocks, from the generic policy of the severity."""
    policy = sla_policy_for(severity=incident.severity)
    if policy is None:
        return []
    clocks = [
        _new_clock(incident=incident, engagement=None, metric=metric, policy=policy, at=at) for metric in OURS_AT_OPEN
    ]
    created = SlaClock.objects.bulk_create([clock for clock in clocks if clock is not None])  # a new incident: no race
    changes = _Changes(incident=incident, actor=None, clocks=created)
    for clock in created:
        _start_new(changes, clock, at)
    changes.save()
    return created


@transaction.atomic
def sla_on_transition(*, incident: Incident, actor, old: str, new: str, reason: str, at: datetime) -> None:
    """Status changes: acknowledge is met leaving `new`; ours pause in waiting_on_partner and resume
    out of it; partner resolve clocks pause in `mitigated`; resolving stops (or cancels) clocks and
    a reopen resumes our resolve clock with its consumed time."""
    if old == new:
        return
    clocks = _locked_clocks(incident.pk)
    if not clocks:
        return
    changes = _Changes(incident=incident, actor=actor, clocks=clocks, status=old)
    resolving = new in CLOSED_STATUSES
    reopening = old in REOPEN_FROM and new == Status.INVESTIGATING
    for clock in clocks:
        if clock.family == Family.OURS:
            _ours_on_transition(changes, clock, old=old, new=new, reason=reason, at=at, reopening=reopening)
        elif clock.state in ACTIVE:
            if resolving:
                changes.append(
                    clock, Kind.STOP, at, reason=RESOLVED_BY_DESK, data={"outcome": State.CANCELLED, "status": new}
                )
            elif clock.metric == Metric.RESOLVE and new == Status.MITIGATED and clock.state == State.RUNNING:
                changes.append(clock, Kind.PAUSE, at, reason=reason, data={"status": new})
            elif clock.metric == Metric.RESOLVE and old == Status.MITIGATED and clock.state == State.PAUSED:
                changes.append(clock, Kind.RESUME, at, reason=reason, data={"status": new})
    changes.save()


def _ours_on_transition(changes: _Changes, clock: SlaClock, *, old, new, reason, at, reopening) -> None:
    resolving = new in CLOSED_STATUSES
    if reopening and clock.metric == Metric.RESOLVE and clock.state in (State.MET, State.BREACHED):
        changes.append(clock, Kind.RESUME, at, reason=reason, data={"status": new, "reopen": True})
        return
    if clock.state not in ACTIVE:
        return
    if clock.metric == Metric.ACKNOWLEDGE and old == Status.NEW:
        changes.append(clock, Kind.STOP, at, reason=reason, data={"status": new})
    elif resolving:
        cancelled = clock.metric == Metric.FIRST_NOTICE  # never needed: resolved before any notice
        data = {"status": new, "outcome": State.CANCELLED} if cancelled else {"status": new}
        changes.append(clock, Kind.STOP, at, reason=reason, data=data)
    elif clock.metric in PAUSABLE_OURS:
        if new == Status.WAITING_ON_PARTNER and clock.state == State.RUNNING:
            changes.append(clock, Kind.PAUSE, at, reason=reason, data={"status": new})
        elif old == Status.WAITING_ON_PARTNER and clock.state == State.PAUSED:
            changes.append(clock, Kind.RESUME, at, reason=reason, data={"status": new})


@transaction.atomic
def sla_on_severity_change(*, incident: Incident, actor, at: datetime) -> None:
    """Re-target running and paused clocks to the new severity's policy when it says so.

    Consumed time is kept; a warning or breach already fired stays fired; a new target already
    exceeded is breached by the next sweep. A metric the new policy does not track ("as needed")
    is cancelled.
    """
    clocks = [clock for clock in _locked_clocks(incident.pk) if clock.state in ACTIVE]
    if not clocks:
        return
    policies: dict[int | None, SlaPolicy | None] = {}
    for clock in clocks:
        partner = clock.engagement.partner if clock.engagement_id else None
        key = partner.pk if partner else None
        if key not in policies:
            policies[key] = sla_policy_for(severity=incident.severity, partner=partner)
    wanted = {policy.calendar_id for policy in policies.values() if policy is not None}
    wanted |= {clock.engagement.partner.calendar_id for clock in clocks if clock.engagement_id}
    changes = _Changes(incident=incident, actor=actor, clocks=clocks, calendar_ids=wanted)
    for clock in clocks:
        partner = clock.engagement.partner if clock.engagement_id else None
        policy = policies[partner.pk if partner else None]
        if policy is None or not policy.retarget_on_severity_change:
            continue
        target = _target(policy, clock.metric)
        if target is None:
            changes.append(clock, Kind.STOP, at, data={"outcome": State.CANCELLED, "severity": incident.severity})
            continue
        warn_after = warn_after_for(policy, target)
        calendar_id = clock_calendar_id(policy, partner)
        if (target, warn_after, calendar_id, policy.pk) == (
            clock.target,
            clock.warn_after,
            clock.calendar_id,
            clock.policy_id,
        ):
            continue
        data = {
            "severity": incident.severity,
            "old_target": _seconds(clock.target),
            "new_target": _seconds(target),
            "old_warn_after": _seconds(clock.warn_after),
            "new_warn_after": _seconds(warn_after),
            "old_calendar": clock.calendar_id,
            "new_calendar": calendar_id,
            "old_policy": clock.policy_id,
            "new_policy": policy.pk,
        }
        changes.append(clock, Kind.RETARGET, at, data=data)
    changes.save()


# --- notices and replies ----------------------------------------------------------------------


@transaction.atomic
def sla_on_notice_sent(*, correspondence: Correspondence, at: datetime) -> None:
    """An outbound notice reached the SMTP server: our first-notice clock is met, the update cadence
    starts or renews (a new cycle), and the partner's first notice starts its clocks."""
    if correspondence.incident_id is None or correspondence.direction != Correspondence.Direction.OUTBOUND:
        return
    incident = Incident.objects.only("pk", "status", "severity").get(pk=correspondence.incident_id)
    clocks = _locked_clocks(incident.pk)
    ours = {clock.metric: clock for clock in clocks if clock.family == Family.OURS}
    if not ours:
        return  # an incident the SLA engine does not time
    is_open = incident.status not in CLOSED_STATUSES
    engagement = (
        PartnerEngagement.objects.select_related("partner").get(pk=correspondence.engagement_id)
        if correspondence.engagement_id
        else None
    )
    partner_clocks = [clock for clock in clocks if engagement is not None and clock.engagement_id == engagement.pk]
    new_clocks: list[SlaClock] = []
    if is_open and Metric.UPDATE not in ours:
        policy = sla_policy_for(severity=incident.severity)
        clock = (
            _create_clock(incident=incident, engagement=None, metric=Metric.UPDATE, policy=policy, at=at)
            if policy
            else None
        )
        if clock is not None:
            new_clocks.append(clock)
    if (
        is_open
        and engagement is not None
        and not partner_clocks
        and engagement.partner_status != PartnerStatus.NOT_INVOLVED
    ):
        partner_policy = sla_policy_for(severity=incident.severity, partner=engagement.partner)
        for metric in PARTNER_METRICS if partner_policy else ():
            clock = _create_clock(incident=incident, engagement=engagement, metric=metric, policy=partner_policy, at=at)
            if clock is not None:
                clock.engagement = engagement
                new_clocks.append(clock)
    changes = _Changes(incident=incident, actor=None, clocks=[*clocks, *new_clocks])
    first_notice = ours.get(Metric.FIRST_NOTICE)
    if first_notice is not None and first_notice.state in ACTIVE:
        changes.append(first_notice, Kind.STOP, at, data={"correspondence": correspondence.pk})
    waiting_reason = _waiting_reason(incident, ours.values())
    update = ours.get(Metric.UPDATE)
    if update is not None and is_open and _renews_cadence(update, correspondence):
        paused = update.state == State.PAUSED
        if update.state in ACTIVE:
            changes.append(update, Kind.STOP, at, data={"correspondence": correspondence.pk, "renewed": True})
        changes.append(update, Kind.START, at, data={"correspondence": correspondence.pk}, cycle=update.cycle + 1)
        if paused or waiting_reason is not None:
            changes.append(update, Kind.PAUSE, at, reason=update.pause_reason if paused else waiting_reason)
    for clock in new_clocks:
        _start_new(changes, clock, at)
        if clock.family == Family.OURS and waiting_reason is not None:
            changes.append(clock, Kind.PAUSE, at, reason=waiting_reason)
        if clock.family == Family.PARTNER and clock.metric == Metric.RESOLVE and incident.status == Status.MITIGATED:
            changes.append(clock, Kind.PAUSE, at, data={"status": incident.status})
    changes.save()


def _renews_cadence(update: SlaClock, correspondence: Correspondence) -> bool:
    """One update per compose: only a notice drafted after the running cycle began renews the
    cadence, so the other partners and language groups of the same compose don't each start a
    cycle; and an SLA escalation chases the partner, it is not an update to them."""
    if correspondence.kind == "sla_escalation":
        return False
    cycle_start = (
        update.events.filter(kind=Kind.START, cycle=update.cycle).order_by("-at").values_list("at", flat=True).first()
    )
    return cycle_start is None or correspondence.created_at is None or correspondence.created_at > cycle_start


def _waiting_reason(incident: Incident, ours) -> str | None:
    """While the desk waits on a partner and our clocks are paused: their pause reason, else None."""
    if incident.status != Status.WAITING_ON_PARTNER:
        return None
    for clock in ours:
        if clock.metric != Metric.UPDATE and clock.state == State.PAUSED:
            return clock.pause_reason
    return None


@transaction.atomic
def sla_on_partner_reply(*, engagement: PartnerEngagement, at: datetime, actor=None) -> None:
    """A partner's real reply (never an auto-reply, never a colleague's copy): its acknowledge clock
    is met, and our clocks paused while waiting on a partner resume (unless that partner is already
    marked resolved or not involved)."""
    clocks = _locked_clocks(engagement.incident_id)
    acknowledge = [
        clock
        for clock in clocks
        if clock.engagement_id == engagement.pk and clock.metric == Metric.ACKNOWLEDGE and clock.state in ACTIVE
    ]
    # A partner marked resolved or not involved is not the one the desk waits on: its "thanks,
    # closing our folio" does not end the wait.
    waited_on = engagement.partner_status not in (PartnerStatus.RESOLVED, PartnerStatus.NOT_INVOLVED)
    paused = [
        clock
        for clock in clocks
        if waited_on and clock.family == Family.OURS and clock.metric in PAUSABLE_OURS and clock.state == State.PAUSED
    ]
    if not acknowledge and not paused:
        return
    incident = Incident.objects.only("pk").get(pk=engagement.incident_id)
    changes = _Changes(incident=incident, actor=actor, clocks=[*acknowledge, *paused])
    for clock in acknowledge:
        changes.append(clock, Kind.STOP, at, data={"reply": True})
    partner_name = engagement.partner.name
    for clock in paused:
        changes.append(clock, Kind.RESUME, at, reason=clock.pause_reason, data={"reply_from": partner_name})
    changes.save()


@transaction.atomic
def sla_on_engagement_change(*, engagement: PartnerEngagement, actor, at: datetime) -> None:
    """A person recorded the partner's acknowledgement, resolution or non-involvement.

    `acknowledged_at` meets the partner's acknowledge clock; partner status `resolved` stops its
    resolve clock (met or breached); `not_involved` cancels both. A partner marked notified by
    hand (no notice sent through PayHealth) starts its clocks at `first_notified_at`.
    """
    clocks = [clock for clock in _locked_clocks(engagement.incident_id) if clock.engagement_id == engagement.pk]
    incident = Incident.objects.only("pk", "status", "severity").get(pk=engagement.incident_id)
    new_clocks = []
    if (
        not clocks
        and engagement.first_notified_at is not None
        and incident.status not in CLOSED_STATUSES
        and engagement.partner_status != PartnerStatus.NOT_INVOLVED
        and SlaClock.objects.filter(incident_id=incident.pk, family=Family.OURS).exists()
    ):
        policy = sla_policy_for(severity=incident.severity, partner=engagement.partner)
        for metric in PARTNER_METRICS if policy else ():
            start = min(engagement.first_notified_at, at)
            clock = _create_clock(incident=incident, engagement=engagement, metric=metric, policy=policy, at=start)
            if clock is not None:
                clock.engagement = engagement
                new_clocks.append(clock)
    if not clocks and not new_clocks:
        return
    changes = _Changes(incident=incident, actor=actor, clocks=[*clocks, *new_clocks])
    for clock in new_clocks:
        _start_new(changes, clock, clock.started_at)
        if clock.metric == Metric.RESOLVE and incident.status == Status.MITIGATED:
            changes.append(clock, Kind.PAUSE, clock.started_at, data={"status": incident.status})
    for clock in [*clocks, *new_clocks]:
        if clock.state not in ACTIVE:
            continue
        if engagement.partner_status == PartnerStatus.NOT_INVOLVED:
            changes.append(clock, Kind.STOP, at, data={"outcome": State.CANCELLED, "partner_status": "not_involved"})
        elif clock.metric == Metric.ACKNOWLEDGE and engagement.acknowledged_at is not None:
            changes.append(clock, Kind.STOP, min(engagement.acknowledged_at, at), data={"acknowledged": True})
        elif clock.metric == Metric.RESOLVE and engagement.partner_status == PartnerStatus.RESOLVED:
            stop_at = min(engagement.resolved_at or at, at)
            changes.append(clock, Kind.STOP, stop_at, data={"partner_status": PartnerStatus.RESOLVED})
    changes.save()
