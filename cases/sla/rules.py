"""The SLA rules, with no database in sight: how a clock's events fold into its state, and which
events each fact of an incident's life appends to which of its clocks.

Two callers apply them, each through a `Ledger` of its own: the live hooks (`cases.sla.clocks`),
on the incident's clock rows inside the transaction of the change, and the demo desk, which
replays weeks of seeded history in memory. Neither has rules of its own, so a seeded clock and a
live one follow the same policy, and `replay` of either gives the state its columns hold.

A clock's history is its events (start, pause, resume, warn, breach, stop, retarget); its state
(consumed business time, due and warning instants, running/paused/met/breached/cancelled) is
`fold` of those events over its calendar, event by event. The rules below only decide which
events to append; the ledger folds each one into its clock at once (`fold_event`, the same for
both ledgers), so a rule that looks at a clock after appending to it sees the new state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Protocol

from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from cases.models import PartnerEngagement, SlaClock, SlaClockEvent, SlaPolicy
from cases.models.incident import REOPEN_FROM, Status
from cases.timeline.events import SlaBreached, SlaPaused, SlaResumed, SlaWarning
from partners.businesstime import Schedule, business_add, business_elapsed
from partners.models import NoticeTemplate, Partner

Family = SlaClock.Family
Metric = SlaClock.Metric
State = SlaClock.State
Kind = SlaClockEvent.Kind
PartnerStatus = PartnerEngagement.PartnerStatus

STOPPED = (State.MET, State.BREACHED, State.CANCELLED)
ACTIVE = (State.RUNNING, State.PAUSED)
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED)
# Our clocks that pause while the desk waits on a partner (first notice never waits).
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
# What a clock event's data says of the incident when a warning or breach fires (the sweep's SQL
# writes the same keys).
CROSSING_FACTS = ("status", "waiting_on", "pause_reason", "due_at", "target")
# The clock events that also go on the incident's timeline, with their payload.
TIMELINE_PAYLOADS = {Kind.PAUSE: SlaPaused, Kind.RESUME: SlaResumed, Kind.WARN: SlaWarning, Kind.BREACH: SlaBreached}
# Fields the fold writes back to the clock row.
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


def target_of(policy: SlaPolicy, metric: str) -> timedelta | None:
    """The policy's target for the metric; None when the policy does not track it ("as needed")."""
    return getattr(policy, POLICY_TARGETS[metric])


def warn_after_for(policy: SlaPolicy, target: timedelta) -> timedelta:
    """When a clock of `target` warns under `policy`: its warn share, at least a second, at most the target."""
    warn = timedelta(seconds=round(target.total_seconds() * float(policy.warn_at)))
    return min(max(warn, timedelta(seconds=1)), target)


def start_data(clock: SlaClock) -> dict:
    """What a start event records of the clock's terms, so a replay needs nothing else."""
    return {
        "target": clock.target.total_seconds(),
        "warn_after": clock.warn_after.total_seconds(),
        "calendar": clock.calendar_id,
        "policy": clock.policy_id,
    }


def crossing_facts(*, status: str, waiting_on: Iterable[str], clock: SlaClock) -> dict:
    """The facts a warning or breach records: the incident's status, the partners it waited on,
    the clock's pause reason, due instant and target (`CROSSING_FACTS`)."""
    return {
        "status": status,
        "waiting_on": list(waiting_on),
        "pause_reason": clock.pause_reason,
        "due_at": clock.due_at.isoformat(),
        "target": clock.target.total_seconds(),
    }


def clock_facts(clock: SlaClock, reason: str) -> dict:
    """What a timeline row about the clock says of it (the fields of `SlaClockChange`)."""
    return {
        "clock": clock.pk,
        "metric": clock.metric,
        "family": clock.family,
        "partner": clock.engagement.partner.name if clock.engagement_id else None,
        "reason": reason,
    }


# --- the fold ---------------------------------------------------------------------------------------


@dataclass
class ClockState:
    """Everything derived from a clock's events; what `replay` returns."""

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
        columns = clock.__dict__  # read as the fields' descriptors would, without their calls
        try:
            return cls(*[columns[field] for field in STATE_FIELDS])  # the fields' order (tested)
        except KeyError:  # a column deferred: loaded by its descriptor
            return cls(*[getattr(clock, field) for field in STATE_FIELDS])

    def write_to(self, clock: SlaClock) -> None:
        """Set the clock's columns the fold changed (an event changes two or three of fifteen; the
        others hold the very objects `of` read, and setting a foreign key column is not free)."""
        columns = clock.__dict__
        for field in STATE_FIELDS:
            value = getattr(self, field)
            if columns.get(field, self) is not value:
                setattr(clock, field, value)

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


def fold(
    state: ClockState, *, kind: str, at: datetime, reason: str, data: dict, cycle: int, schedules: dict[int, Schedule]
) -> ClockState:
    """Apply one event to the state (in place, and returned). `schedules[calendar_id]` is a Schedule."""

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
        schedule = schedules[state.calendar_id]
        state.due_at = business_add(schedule, state.consumed_at, max(state.target - state.consumed, timedelta(0)))
        state.warn_due_at = (
            business_add(schedule, state.consumed_at, max(state.warn_after - state.consumed, timedelta(0)))
            if state.warned_at is None
            else None
        )
    else:
        state.due_at = state.warn_due_at = None
    return state


def fold_event(
    clock: SlaClock,
    kind: str,
    at: datetime,
    *,
    reason: str = "",
    data: dict | None = None,
    cycle: int | None = None,
    schedules: dict[int, Schedule],
) -> SlaClockEvent:
    """Fold one event into the clock's columns at once and return the unsaved event that records it.

    What every ledger does with an appended event, so the live hooks and the demo's replay record
    the same event for the same rule: it never lands before the clock's latest event (a back-dated
    stamp lands at that instant instead, so the history stays in order and replays to the same
    state), it counts in the clock's current cycle unless it starts a new one, and a stop records
    the outcome the fold gave it (met or breached; cancelled when the rule said so). The caller
    sets the actor and saves the event.
    """
    state = ClockState.of(clock)
    last = state.last_at
    if last is not None and at < last:
        at = last
    data = dict(data or {})
    cycle = clock.cycle if cycle is None else cycle
    if kind == Kind.STOP and "outcome" not in data:
        data["outcome"] = State.MET
    fold(state, kind=kind, at=at, reason=reason, data=data, cycle=cycle, schedules=schedules)
    if kind == Kind.STOP:
        data["outcome"] = state.state
    state.write_to(clock)
    return _unsaved(
        SlaClockEvent,
        {"clock": clock},
        id=None,
        clock_id=clock.pk,
        kind=kind,
        at=at,
        reason=reason[:250],
        actor_id=None,
        data=data,
        cycle=cycle,
        notified_at=None,
    )


def _unsaved(model, related: dict, **columns):
    """What `model(**columns)` gives, with the related objects in `related` cached as
    `model(clock=clock)` caches them, filled directly: the columns in the instance's `__dict__`
    and a fresh `ModelState` (still to be added) holding those objects in its field cache, which
    is all the constructor leaves on a model without `pre_init`/`post_init` listeners (one with
    listeners goes through the constructor, so they still hear of it). The keyword constructor
    costs several times more, and the replay of a year of seeded history builds millions of
    clocks and events. Every column must be given, and only columns: a KeyError names the odd ones."""
    attnames, names, cache_names = _attnames(model)
    if columns.keys() != names:
        raise KeyError(names ^ columns.keys())
    listened = pre_init.receivers or post_init.receivers  # nothing connected at all: no look-up
    if listened and (pre_init.has_listeners(model) or post_init.has_listeners(model)):
        row = model(*[columns[attname] for attname in attnames])
        for name, obj in related.items():
            model._meta.get_field(name).set_cached_value(row, obj)
        return row
    row = model.__new__(model)
    state = row._state = ModelState()
    # What each relation's `set_cached_value` does, without looking the field up each time.
    state.fields_cache = {cache_names[name]: obj for name, obj in related.items()}
    row.__dict__.update(columns)
    return row


def _attnames(model) -> tuple[tuple[str, ...], frozenset[str], dict[str, str]]:
    """The model's columns (attribute names) in the constructor's order, as a set, and the field
    cache's key of each relation by its name."""
    names = _ATTNAMES.get(model)
    if names is None:
        fields = model._meta.concrete_fields
        attnames = tuple(field.attname for field in fields)
        cache_names = {field.name: field.cache_name for field in fields if field.is_relation}
        names = _ATTNAMES[model] = (attnames, frozenset(attnames), cache_names)
    return names


_ATTNAMES: dict[type, tuple[tuple[str, ...], frozenset[str], dict[str, str]]] = {}


def event_calendars(data: dict) -> set[int]:
    """The calendars an event's data names (a start's, a retarget's old and new)."""
    return {data[key] for key in ("calendar", "old_calendar", "new_calendar") if key in data}


def replay(history: Iterable[SlaClockEvent], schedules: dict[int, Schedule]) -> dict:
    """A clock's state from its events alone, in order (keys: `STATE_FIELDS`)."""
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


# --- the ledger --------------------------------------------------------------------------------------


class Ledger(Protocol):
    """Where the rules read an incident's clocks and append their events.

    `append` folds the event into the clock at once (the clock's attributes are its new state);
    `start` makes a clock for the metric under the policy and appends its start, or answers None
    when the policy does not track the metric or the clock exists already.
    """

    clocks: list[SlaClock]

    def append(
        self, clock: SlaClock, kind: str, at: datetime, *, reason: str = "", data: dict | None = None, cycle=None
    ) -> None: ...

    def start(
        self, metric: str, at: datetime, *, policy: SlaPolicy, engagement: PartnerEngagement | None = None
    ) -> SlaClock | None: ...

    def policy_for(self, *, severity: str, partner: Partner | None = None) -> SlaPolicy | None: ...

    def cycle_started_at(self, clock: SlaClock) -> datetime | None:
        """When the clock's current cycle started (the update cadence renews per notice)."""


def new_clock(
    *, incident_id: int | None, metric: str, policy: SlaPolicy, engagement: PartnerEngagement | None, at: datetime
) -> SlaClock | None:
    """An unsaved clock for the metric under the policy (None when the policy does not track it)."""
    target = target_of(policy, metric)
    if target is None:
        return None
    partner = engagement.partner if engagement is not None else None
    return _unsaved(
        SlaClock,
        {"policy": policy, "engagement": engagement},
        id=None,
        incident_id=incident_id,
        engagement_id=None if engagement is None else engagement.pk,
        family=Family.PARTNER if engagement is not None else Family.OURS,
        metric=metric,
        policy_id=policy.pk,
        calendar_id=policy.calendar_id_for(partner),
        target=target,
        warn_after=warn_after_for(policy, target),
        state=State.RUNNING,
        started_at=at,
        due_at=None,
        warn_due_at=None,
        warned_at=None,
        breached_at=None,
        stopped_at=None,
        consumed=timedelta(0),
        consumed_at=at,
        pause_reason="",
        cycle=1,
    )


def _ours(ledger: Ledger) -> dict[str, SlaClock]:
    return {clock.metric: clock for clock in ledger.clocks if clock.family == Family.OURS}


def _of(ledger: Ledger, engagement: PartnerEngagement) -> list[SlaClock]:
    return [clock for clock in ledger.clocks if clock.engagement_id == engagement.pk]


def waiting_reason(status: str, ours: Iterable[SlaClock]) -> str | None:
    """While the desk waits on a partner and our clocks are paused: their pause reason, else None."""
    if status != Status.WAITING_ON_PARTNER:
        return None
    for clock in ours:
        if clock.metric != Metric.UPDATE and clock.state == State.PAUSED:
            return clock.pause_reason
    return None


# --- the rules: a fact of the incident's life → events on its clocks ----------------------------------


def on_open(ledger: Ledger, *, severity: str, at: datetime) -> None:
    """Our acknowledge, first-notice and resolve clocks start, from the generic policy of the severity."""
    policy = ledger.policy_for(severity=severity)
    if policy is None:
        return
    for metric in OURS_AT_OPEN:
        ledger.start(metric, at, policy=policy)


def on_transition(ledger: Ledger, *, old: str, new: str, reason: str, at: datetime) -> None:
    """Acknowledge is met leaving `new`; ours pause in waiting_on_partner and resume out of it; a
    partner's resolve clock pauses in `mitigated`; resolving stops ours (first notice cancelled,
    never needed) and cancels the partners'; a reopen resumes our resolve clock with its consumed time."""
    if old == new:
        return
    resolving = new in CLOSED_STATUSES
    reopening = old in REOPEN_FROM and new == Status.INVESTIGATING
    for clock in list(ledger.clocks):
        if clock.family == Family.OURS:
            if reopening and clock.metric == Metric.RESOLVE and clock.state in (State.MET, State.BREACHED):
                ledger.append(clock, Kind.RESUME, at, reason=reason, data={"status": new, "reopen": True})
            elif clock.state not in ACTIVE:
                continue
            elif clock.metric == Metric.ACKNOWLEDGE and old == Status.NEW:
                ledger.append(clock, Kind.STOP, at, reason=reason, data={"status": new})
            elif resolving:
                cancelled = clock.metric == Metric.FIRST_NOTICE
                data = {"status": new, "outcome": State.CANCELLED} if cancelled else {"status": new}
                ledger.append(clock, Kind.STOP, at, reason=reason, data=data)
            elif clock.metric in PAUSABLE_OURS:
                if new == Status.WAITING_ON_PARTNER and clock.state == State.RUNNING:
                    ledger.append(clock, Kind.PAUSE, at, reason=reason, data={"status": new})
                elif old == Status.WAITING_ON_PARTNER and clock.state == State.PAUSED:
                    ledger.append(clock, Kind.RESUME, at, reason=reason, data={"status": new})
        elif clock.state in ACTIVE:
            if resolving:
                data = {"outcome": State.CANCELLED, "status": new}
                ledger.append(clock, Kind.STOP, at, reason=RESOLVED_BY_DESK, data=data)
            elif clock.metric == Metric.RESOLVE and new == Status.MITIGATED and clock.state == State.RUNNING:
                ledger.append(clock, Kind.PAUSE, at, reason=reason, data={"status": new})
            elif clock.metric == Metric.RESOLVE and old == Status.MITIGATED and clock.state == State.PAUSED:
                ledger.append(clock, Kind.RESUME, at, reason=reason, data={"status": new})


def on_severity_change(ledger: Ledger, *, severity: str, at: datetime) -> None:
    """Running and paused clocks take the new severity's targets when its policy re-targets.

    Consumed time is kept; a warning or breach already fired stays fired; a new target already
    exceeded is breached by the next sweep. A metric the new policy does not track is cancelled.
    """
    for clock in list(ledger.clocks):
        if clock.state not in ACTIVE:
            continue
        partner = clock.engagement.partner if clock.engagement_id else None
        policy = ledger.policy_for(severity=severity, partner=partner)
        if policy is None or not policy.retarget_on_severity_change:
            continue
        target = target_of(policy, clock.metric)
        if target is None:
            ledger.append(clock, Kind.STOP, at, data={"outcome": State.CANCELLED, "severity": severity})
            continue
        warn_after = warn_after_for(policy, target)
        calendar_id = policy.calendar_id_for(partner)
        if (target, warn_after, calendar_id, policy.pk) == (
            clock.target,
            clock.warn_after,
            clock.calendar_id,
            clock.policy_id,
        ):
            continue
        data = {
            "severity": severity,
            "old_target": clock.target.total_seconds(),
            "new_target": target.total_seconds(),
            "old_warn_after": clock.warn_after.total_seconds(),
            "new_warn_after": warn_after.total_seconds(),
            "old_calendar": clock.calendar_id,
            "new_calendar": calendar_id,
            "old_policy": clock.policy_id,
            "new_policy": policy.pk,
        }
        ledger.append(clock, Kind.RETARGET, at, data=data)


@dataclass(frozen=True)
class SentNotice:
    """What the rules need of a notice that reached the SMTP server."""

    pk: int | None
    kind: str
    created_at: datetime | None


def renews_cadence(ledger: Ledger, update: SlaClock, notice: SentNotice) -> bool:
    """One update per compose: only a notice drafted after the running cycle began renews the
    cadence, so the other partners and language groups of the same compose don't each start a
    cycle; and an SLA escalation chases the partner, it is not an update to them."""
    if notice.kind == NoticeTemplate.Kind.SLA_ESCALATION:
        return False
    cycle_start = ledger.cycle_started_at(update)
    return cycle_start is None or notice.created_at is None or notice.created_at > cycle_start


def on_notice_sent(
    ledger: Ledger,
    *,
    status: str,
    severity: str,
    engagement: PartnerEngagement | None,
    notice: SentNotice,
    at: datetime,
) -> None:
    """A notice reached the SMTP server: our first-notice clock is met, the update cadence starts or
    renews (a new cycle), and the partner's first notice starts its acknowledge and resolve clocks."""
    ours = _ours(ledger)
    if not ours:
        return  # an incident the SLA engine does not time
    is_open = status not in CLOSED_STATUSES
    reference = {"correspondence": notice.pk}
    new_update = None
    if is_open and Metric.UPDATE not in ours:
        policy = ledger.policy_for(severity=severity)
        new_update = ledger.start(Metric.UPDATE, at, policy=policy) if policy else None
    if (
        is_open
        and engagement is not None
        and not _of(ledger, engagement)
        and engagement.partner_status != PartnerStatus.NOT_INVOLVED
    ):
        policy = ledger.policy_for(severity=severity, partner=engagement.partner)
        for metric in PARTNER_METRICS if policy else ():
            clock = ledger.start(metric, at, policy=policy, engagement=engagement)
            if clock is not None and metric == Metric.RESOLVE and status == Status.MITIGATED:
                ledger.append(clock, Kind.PAUSE, at, data={"status": status})
    first_notice = ours.get(Metric.FIRST_NOTICE)
    if first_notice is not None and first_notice.state in ACTIVE:
        ledger.append(first_notice, Kind.STOP, at, data=dict(reference))
    waiting = waiting_reason(status, ours.values())
    update = ours.get(Metric.UPDATE)
    if update is not None and is_open and renews_cadence(ledger, update, notice):
        paused, pause_reason = update.state == State.PAUSED, update.pause_reason
        if update.state in ACTIVE:
            ledger.append(update, Kind.STOP, at, data={**reference, "renewed": True})
        ledger.append(update, Kind.START, at, data=dict(reference), cycle=update.cycle + 1)
        if paused or waiting is not None:
            ledger.append(update, Kind.PAUSE, at, reason=pause_reason if paused else waiting)
    if new_update is not None and waiting is not None:
        ledger.append(new_update, Kind.PAUSE, at, reason=waiting)


def on_partner_reply(
    ledger: Ledger, *, engagement: PartnerEngagement, at: datetime, acknowledged_at: datetime | None = None
) -> None:
    """A partner's real reply (never an auto-reply, never a colleague's copy): its acknowledge clock
    is met (at `acknowledged_at`, when the partner wrote it, if given; else when it arrived), and
    our clocks paused while waiting on a partner resume when it arrived, unless that partner is
    already marked resolved or not involved (its "thanks, closing our folio" ends no wait)."""
    stop_at = min(acknowledged_at, at) if acknowledged_at is not None else at
    for clock in _of(ledger, engagement):
        if clock.metric == Metric.ACKNOWLEDGE and clock.state in ACTIVE:
            ledger.append(clock, Kind.STOP, stop_at, data={"reply": True})
    if engagement.partner_status in (PartnerStatus.RESOLVED, PartnerStatus.NOT_INVOLVED):
        return
    for clock in list(ledger.clocks):
        if clock.family == Family.OURS and clock.metric in PAUSABLE_OURS and clock.state == State.PAUSED:
            data = {"reply_from": engagement.partner.name}
            ledger.append(clock, Kind.RESUME, at, reason=clock.pause_reason, data=data)


def on_engagement_change(
    ledger: Ledger, *, engagement: PartnerEngagement, status: str, severity: str, at: datetime
) -> None:
    """A person recorded the partner's acknowledgement, resolution or non-involvement.

    `acknowledged_at` meets the partner's acknowledge clock; status `resolved` stops its resolve
    clock (met or breached); `not_involved` cancels both. A partner marked notified by hand (no
    notice sent through PayHealth) starts its clocks at `first_notified_at`.
    """
    clocks = _of(ledger, engagement)
    if (
        not clocks
        and engagement.first_notified_at is not None
        and status not in CLOSED_STATUSES
        and engagement.partner_status != PartnerStatus.NOT_INVOLVED
        and _ours(ledger)
    ):
        policy = ledger.policy_for(severity=severity, partner=engagement.partner)
        start = min(engagement.first_notified_at, at)
        for metric in PARTNER_METRICS if policy else ():
            clock = ledger.start(metric, start, policy=policy, engagement=engagement)
            if clock is None:
                continue
            clocks.append(clock)
            if metric == Metric.RESOLVE and status == Status.MITIGATED:
                ledger.append(clock, Kind.PAUSE, start, data={"status": status})
    for clock in clocks:
        if clock.state not in ACTIVE:
            continue
        if engagement.partner_status == PartnerStatus.NOT_INVOLVED:
            data = {"outcome": State.CANCELLED, "partner_status": PartnerStatus.NOT_INVOLVED}
            ledger.append(clock, Kind.STOP, at, data=data)
        elif clock.metric == Metric.ACKNOWLEDGE and engagement.acknowledged_at is not None:
            ledger.append(clock, Kind.STOP, min(engagement.acknowledged_at, at), data={"acknowledged": True})
        elif clock.metric == Metric.RESOLVE and engagement.partner_status == PartnerStatus.RESOLVED:
            stop_at = min(engagement.resolved_at or at, at)
            ledger.append(clock, Kind.STOP, stop_at, data={"partner_status": PartnerStatus.RESOLVED})
