"""SLA clocks for the demo desk, derived from each incident's own history (SLA_SPEC, DESIGN.md §4).

The demo writes ninety days of history with `bulk_create`, so the SLA hooks of the services never
ran for it. This module replays that history, in time order, through the same rules the hooks
apply (`cases.services.sla`): our acknowledge / first-notice / resolve clocks start at opening,
leaving `new` meets acknowledge, the first sent notice meets first-notice and starts the update
cadence (each later notice renews it), waiting on a partner pauses ours until the partner's reply
or the next status change, partner clocks start at the first notice to that partner, and so on.
Each clock's state is folded from its events with the engine's own `fold`, so a seeded clock and
`clock_replay` of it always agree.

Warnings and breaches the periodic sweep would have fired in the past are recorded at the instant
the clock crossed (as the sweep stamps them), with `notified_at` set: they are history, and
nobody gets mailed about them when the desk starts. Crossings still ahead are left to the sweep.

`NEAR_BREACH` re-times two curated incidents so that, right after `make run`, a lead receives a
real warning and breach mail within minutes (see its comment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from cases import timeline as case_timeline
from cases.models import CaseEvent, Correspondence, Incident, PartnerEngagement, SlaClock, SlaClockEvent, SlaPolicy
from cases.models.incident import REOPEN_FROM, Status
from cases.sla.rules import (
    PARTNER_METRICS,
    PAUSABLE_OURS,
    POLICY_TARGETS,
    RESOLVED_BY_DESK,
    ClockState,
    fold,
    warn_after_for,
)
from cases.timeline.events import PAYLOADS
from demo.stories import Lifecycle
from partners.businesstime import business_add, business_elapsed, schedules_for
from partners.models import BusinessCalendar, Partner

Family, Metric, State = SlaClock.Family, SlaClock.Metric, SlaClock.State
Kind = SlaClockEvent.Kind
PartnerStatus = PartnerEngagement.PartnerStatus
ACTIVE = (State.RUNNING, State.PAUSED)
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED)
OURS_AT_OPEN = (Metric.ACKNOWLEDGE, Metric.FIRST_NOTICE, Metric.RESOLVE)
BATCH_SIZE = 2000


# --- incidents that cross warn and breach right after start --------------------------------------


@dataclass(frozen=True)
class NearBreach:
    status: str
    severity: str
    age: timedelta  # how long before the seed the incident opened
    steps: tuple[tuple[str, str, timedelta], ...] = ()  # (from, to, after opening)


# Why: a fresh demo must show the SLA machinery working, not only its history. With the default
# policies (SEV1: acknowledge 15 min, resolve 4 h, warn at 75 %):
# - demo:0001 is a SEV1 still `new`, opened 10 minutes before the seed: its acknowledge clock
#   warns 1¼ minutes and breaches 5 minutes after seeding (and first notice follows at 12½ / 20).
# - demo:0020 is a SEV1 under investigation for 3 h 56 min: its resolve clock breaches 4 minutes
#   after seeding (its warning, at 3 h, is already history).
# So a lead gets a warning mail and two breach mails in the mailbox within minutes of `make run`.
NEAR_BREACH: dict[int, NearBreach] = {
    1: NearBreach(Status.NEW, "sev1", timedelta(minutes=10)),
    20: NearBreach(
        Status.INVESTIGATING,
        "sev1",
        timedelta(hours=3, minutes=56),
        (
            (Status.NEW, Status.TRIAGING, timedelta(minutes=6)),
            (Status.TRIAGING, Status.INVESTIGATING, timedelta(minutes=40)),
        ),
    ),
}


def near_breach_life(near: NearBreach, planned: Lifecycle, *, now: datetime) -> Lifecycle:
    """The planned lifecycle re-timed to `near`: opened `near.age` before `now`, steps as given."""
    opened = now - near.age
    steps = [(previous, to, opened + after) for previous, to, after in near.steps]
    anchor = steps[-1][2] if steps else now - near.age * 0.2
    return Lifecycle(
        status=near.status,
        severity=near.severity,
        opened_at=opened,
        started_at=opened - timedelta(minutes=4),
        detected_at=opened - timedelta(minutes=1),
        anchor=anchor,
        horizon=now - near.age * 0.05,
        steps=steps,
    )


# --- policies --------------------------------------------------------------------------------


class PolicyBook:
    """Active policies and calendars, loaded once; the same choice as `sla_policy_for`."""

    def __init__(self) -> None:
        self.policies = list(SlaPolicy.objects.filter(active=True))
        calendars = {calendar.pk: calendar for calendar in BusinessCalendar.objects.all()}
        self.always_open = {pk for pk, calendar in calendars.items() if calendar.is_24x7}
        self.schedules = schedules_for(calendars)
        self._cache: dict[tuple, SlaPolicy | None] = {}

    def policy_for(self, severity: str, partner: Partner | None = None) -> SlaPolicy | None:
        key = (severity, partner.pk if partner else None)
        if key not in self._cache:
            candidates = [
                policy
                for policy in self.policies
                if policy.severity == severity
                and (
                    (policy.partner_id is None and not policy.partner_kind)
                    or (partner is not None and policy.partner_id == partner.pk)
                    or (partner is not None and policy.partner_id is None and policy.partner_kind == partner.kind)
                )
            ]
            self._cache[key] = min(
                candidates, key=lambda p: 0 if p.partner_id is not None else (1 if p.partner_kind else 2), default=None
            )
        return self._cache[key]

    def calendar_id(self, policy: SlaPolicy, partner: Partner | None) -> int:
        if partner is not None and partner.calendar_id and policy.calendar_id not in self.always_open:
            return partner.calendar_id
        return policy.calendar_id


# --- the replay ------------------------------------------------------------------------------


@dataclass
class SimClock:
    clock: SlaClock
    state: ClockState = field(default_factory=ClockState)
    events: list[SlaClockEvent] = field(default_factory=list)
    # (CaseEvent kind, at, actor_id, reason, index of the clock event) for the timeline
    timeline: list[tuple[str, datetime, int | None, str, int]] = field(default_factory=list)


@dataclass
class Engaged:
    """What the replay needs of a partner engagement."""

    engagement: PartnerEngagement
    partner: Partner


class IncidentReplay:
    """One incident's history applied in time order, producing its clocks and their events."""

    def __init__(self, incident: Incident, *, severity: str, book: PolicyBook, now: datetime) -> None:
        self.incident = incident
        self.severity = severity
        self.status = Status.NEW
        self.book = book
        self.now = now
        self.ours: dict[str, SimClock] = {}
        self.partner: dict[int, dict[str, SimClock]] = {}  # id(engagement) -> metric -> clock
        self.engaged: list[Engaged] = []

    # -- writing events, with the sweep's crossings in between --

    def _sweep(self, sim: SimClock, until: datetime) -> None:
        """Warnings and breaches the sweep would have fired up to `until` (never after now)."""
        until = min(until, self.now)
        state = sim.state
        while state.state == State.RUNNING:
            if state.warned_at is None and state.warn_due_at is not None and state.warn_due_at <= until:
                kind, at = Kind.WARN, state.warn_due_at
            elif state.breached_at is None and state.due_at is not None and state.due_at <= until:
                kind, at = Kind.BREACH, state.due_at
            else:
                return
            data = {
                "status": self.status,
                "waiting_on": self._waiting_on(at),
                "pause_reason": state.pause_reason,
                "due_at": state.due_at.isoformat(),
                "target": state.target.total_seconds(),
            }
            self._append(sim, kind, at, data=data, notified_at=at)
            timeline_kind = CaseEvent.Kind.SLA_WARNING if kind == Kind.WARN else CaseEvent.Kind.SLA_BREACHED
            sim.timeline.append((timeline_kind, at, None, state.pause_reason, len(sim.events) - 1))

    def _waiting_on(self, at: datetime) -> list[str]:
        names = {
            engaged.partner.name
            for engaged in self.engaged
            if engaged.engagement.first_notified_at is not None
            and engaged.engagement.first_notified_at <= at
            and engaged.engagement.partner_status != PartnerStatus.NOT_INVOLVED
            and (engaged.engagement.resolved_at is None or engaged.engagement.resolved_at > at)
        }
        return sorted(names)

    def _append(self, sim, kind, at, *, reason="", data=None, cycle=None, notified_at=None, actor_id=None):
        state = sim.state
        instants = [value for value in (state.consumed_at, state.warned_at, state.breached_at) if value is not None]
        at = max([at, *instants])  # never before the clock's latest event, as the engine does
        data = dict(data or {})
        cycle = state.cycle if cycle is None else cycle
        if kind == Kind.STOP and "outcome" not in data:
            data["outcome"] = State.MET
        fold(state, kind=kind, at=at, reason=reason, data=data, cycle=cycle, schedules=self.book.schedules)
        if kind == Kind.STOP:
            data["outcome"] = state.state
        sim.events.append(
            SlaClockEvent(
                kind=kind,
                at=at,
                reason=reason[:250],
                data=data,
                cycle=cycle,
                notified_at=notified_at,
                actor_id=actor_id,
            )
        )
        if kind in (Kind.PAUSE, Kind.RESUME):
            timeline_kind = CaseEvent.Kind.SLA_PAUSED if kind == Kind.PAUSE else CaseEvent.Kind.SLA_RESUMED
            sim.timeline.append((timeline_kind, at, actor_id, reason, len(sim.events) - 1))

    def event(self, sim: SimClock, kind: str, at: datetime, **kwargs) -> None:
        self._sweep(sim, at)
        self._append(sim, kind, at, **kwargs)

    def _clocks(self) -> list[SimClock]:
        return [*self.ours.values(), *(sim for clocks in self.partner.values() for sim in clocks.values())]

    def _create(self, metric: str, policy: SlaPolicy, at: datetime, engaged: Engaged | None = None) -> SimClock | None:
        target = getattr(policy, POLICY_TARGETS[metric])
        if target is None:
            return None
        clock = SlaClock(
            incident=self.incident,
            engagement=engaged.engagement if engaged else None,
            family=Family.PARTNER if engaged else Family.OURS,
            metric=metric,
            policy_id=policy.pk,
            calendar_id=self.book.calendar_id(policy, engaged.partner if engaged else None),
            target=target,
            warn_after=warn_after_for(policy, target),
        )
        sim = SimClock(clock)
        data = {
            "target": clock.target.total_seconds(),
            "warn_after": clock.warn_after.total_seconds(),
            "calendar": clock.calendar_id,
            "policy": clock.policy_id,
        }
        self._append(sim, Kind.START, at, data=data, cycle=1)
        return sim

    # -- the hooks, as cases.services.sla applies them --

    def open(self, at: datetime) -> None:
        policy = self.book.policy_for(self.severity)
        if policy is None:
            return
        for metric in OURS_AT_OPEN:
            sim = self._create(metric, policy, at)
            if sim is not None:
                self.ours[metric] = sim

    def transition(self, old: str, new: str, reason: str, at: datetime, actor_id: int | None) -> None:
        if old == new:
            return
        resolving = new in CLOSED_STATUSES
        reopening = old in REOPEN_FROM and new == Status.INVESTIGATING
        for metric, sim in list(self.ours.items()):
            state = sim.state.state
            if reopening and metric == Metric.RESOLVE and state in (State.MET, State.BREACHED):
                self.event(sim, Kind.RESUME, at, reason=reason, data={"status": new, "reopen": True}, actor_id=actor_id)
            elif state not in ACTIVE:
                continue
            elif metric == Metric.ACKNOWLEDGE and old == Status.NEW:
                self.event(sim, Kind.STOP, at, reason=reason, data={"status": new}, actor_id=actor_id)
            elif resolving:
                data = {"status": new}
                if metric == Metric.FIRST_NOTICE:
                    data["outcome"] = State.CANCELLED
                self.event(sim, Kind.STOP, at, reason=reason, data=data, actor_id=actor_id)
            elif metric in PAUSABLE_OURS:
                if new == Status.WAITING_ON_PARTNER and state == State.RUNNING:
                    self.event(sim, Kind.PAUSE, at, reason=reason, data={"status": new}, actor_id=actor_id)
                elif old == Status.WAITING_ON_PARTNER and state == State.PAUSED:
                    self.event(sim, Kind.RESUME, at, reason=reason, data={"status": new}, actor_id=actor_id)
        for clocks in self.partner.values():
            for metric, sim in clocks.items():
                state = sim.state.state
                if state not in ACTIVE:
                    continue
                if resolving:
                    data = {"outcome": State.CANCELLED, "status": new}
                    self.event(sim, Kind.STOP, at, reason=RESOLVED_BY_DESK, data=data, actor_id=actor_id)
                elif metric == Metric.RESOLVE and new == Status.MITIGATED and state == State.RUNNING:
                    self.event(sim, Kind.PAUSE, at, reason=reason, data={"status": new}, actor_id=actor_id)
                elif metric == Metric.RESOLVE and old == Status.MITIGATED and state == State.PAUSED:
                    self.event(sim, Kind.RESUME, at, reason=reason, data={"status": new}, actor_id=actor_id)
        self.status = new

    def severity_change(self, severity: str, at: datetime, actor_id: int | None) -> None:
        self.severity = severity
        for engaged_key, sim in [(None, s) for s in self.ours.values()] + [
            (key, s) for key, clocks in self.partner.items() for s in clocks.values()
        ]:
            if sim.state.state not in ACTIVE:
                continue
            engaged = next((e for e in self.engaged if id(e.engagement) == engaged_key), None)
            partner = engaged.partner if engaged else None
            policy = self.book.policy_for(severity, partner)
            if policy is None or not policy.retarget_on_severity_change:
                continue
            target = getattr(policy, POLICY_TARGETS[sim.clock.metric])
            if target is None:
                data = {"outcome": State.CANCELLED, "severity": severity}
                self.event(sim, Kind.STOP, at, data=data, actor_id=actor_id)
                continue
            warn_after = warn_after_for(policy, target)
            calendar_id = self.book.calendar_id(policy, partner)
            state = sim.state
            if (target, warn_after, calendar_id, policy.pk) == (
                state.target,
                state.warn_after,
                state.calendar_id,
                state.policy_id,
            ):
                continue
            data = {
                "severity": severity,
                "old_target": state.target.total_seconds(),
                "new_target": target.total_seconds(),
                "old_warn_after": state.warn_after.total_seconds(),
                "new_warn_after": warn_after.total_seconds(),
                "old_calendar": state.calendar_id,
                "new_calendar": calendar_id,
                "old_policy": state.policy_id,
                "new_policy": policy.pk,
            }
            self.event(sim, Kind.RETARGET, at, data=data, actor_id=actor_id)

    def _start_partner(self, engaged: Engaged, at: datetime) -> list[SimClock]:
        if self.status in CLOSED_STATUSES or engaged.engagement.partner_status == PartnerStatus.NOT_INVOLVED:
            return []
        if id(engaged.engagement) in self.partner or not self.ours:
            return []
        policy = self.book.policy_for(self.severity, engaged.partner)
        clocks = {}
        for metric in PARTNER_METRICS if policy else ():
            sim = self._create(metric, policy, at, engaged)
            if sim is not None:
                clocks[metric] = sim
        self.partner[id(engaged.engagement)] = clocks
        if Metric.RESOLVE in clocks and self.status == Status.MITIGATED:
            self.event(clocks[Metric.RESOLVE], Kind.PAUSE, at, data={"status": self.status})
        return list(clocks.values())

    def _waiting_reason(self) -> str | None:
        if self.status != Status.WAITING_ON_PARTNER:
            return None
        for metric, sim in self.ours.items():
            if metric != Metric.UPDATE and sim.state.state == State.PAUSED:
                return sim.state.pause_reason
        return None

    def notice_sent(self, engaged: Engaged | None, at: datetime, correspondence_id: int | None) -> None:
        if not self.ours:
            return
        is_open = self.status not in CLOSED_STATUSES
        update = self.ours.get(Metric.UPDATE)
        new_update = None
        if is_open and update is None:
            policy = self.book.policy_for(self.severity)
            new_update = self._create(Metric.UPDATE, policy, at) if policy else None
            if new_update is not None:
                self.ours[Metric.UPDATE] = new_update
        if engaged is not None:
            self._start_partner(engaged, at)
        reference = {"correspondence": correspondence_id} if correspondence_id else {}
        first_notice = self.ours.get(Metric.FIRST_NOTICE)
        if first_notice is not None and first_notice.state.state in ACTIVE:
            self.event(first_notice, Kind.STOP, at, data=dict(reference))
        waiting_reason = self._waiting_reason()
        if update is not None and is_open:
            paused = update.state.state == State.PAUSED
            pause_reason = update.state.pause_reason
            if update.state.state in ACTIVE:
                self.event(update, Kind.STOP, at, data={**reference, "renewed": True})
            self.event(update, Kind.START, at, data=dict(reference), cycle=update.state.cycle + 1)
            if paused or waiting_reason is not None:
                self.event(update, Kind.PAUSE, at, reason=pause_reason if paused else waiting_reason)
        if new_update is not None and waiting_reason is not None:
            self.event(new_update, Kind.PAUSE, at, reason=waiting_reason)

    def partner_notified(self, engaged: Engaged, at: datetime) -> None:
        """A partner marked notified without a notice sent through the desk (or before it)."""
        self._start_partner(engaged, at)

    def partner_reply(self, engaged: Engaged, at: datetime) -> None:
        acknowledge = self.partner.get(id(engaged.engagement), {}).get(Metric.ACKNOWLEDGE)
        if acknowledge is not None and acknowledge.state.state in ACTIVE:
            self.event(acknowledge, Kind.STOP, at, data={"reply": True})
        for metric, sim in self.ours.items():
            if metric in PAUSABLE_OURS and sim.state.state == State.PAUSED:
                data = {"reply_from": engaged.partner.name}
                self.event(sim, Kind.RESUME, at, reason=sim.state.pause_reason, data=data)

    def partner_acknowledged(self, engaged: Engaged, at: datetime) -> None:
        acknowledge = self.partner.get(id(engaged.engagement), {}).get(Metric.ACKNOWLEDGE)
        if acknowledge is not None and acknowledge.state.state in ACTIVE:
            self.event(acknowledge, Kind.STOP, at, data={"acknowledged": True})

    def partner_resolved(self, engaged: Engaged, at: datetime) -> None:
        resolve = self.partner.get(id(engaged.engagement), {}).get(Metric.RESOLVE)
        if resolve is not None and resolve.state.state in ACTIVE:
            self.event(resolve, Kind.STOP, at, data={"partner_status": PartnerStatus.RESOLVED})

    def finish(self) -> list[SimClock]:
        """Crossings up to now on the clocks still running; the clocks with their final state."""
        clocks = self._clocks()
        for sim in clocks:
            self._sweep(sim, self.now)
            sim.state.write_to(sim.clock)
        return clocks


# --- history → replay ------------------------------------------------------------------------

# Order of things that happen at the same instant: the opening first, then status and severity
# changes, notices, replies and what a person recorded on the engagement.
OPEN, STATUS, SEVERITY, NOTIFIED, NOTICE, REPLY, ACKNOWLEDGED, PARTNER_RESOLVED = range(8)


def replay_incident(incident: Incident, items: list[tuple], *, book: PolicyBook, now: datetime, engaged: list[Engaged]):
    """Apply `items` — (at, order, what, payload) — and return the incident's SimClocks."""
    items = sorted(items, key=lambda item: (item[0], item[1]))
    opening = next(item for item in items if item[1] == OPEN)
    replay = IncidentReplay(incident, severity=opening[2], book=book, now=now)
    replay.engaged = engaged
    for at, order, what, payload in items:
        if order == OPEN:
            replay.open(at)
        elif order == STATUS:
            old, new, reason, actor_id = payload
            replay.transition(old, new, reason, at, actor_id)
        elif order == SEVERITY:
            replay.severity_change(what, at, payload)
        elif order == NOTIFIED:
            replay.partner_notified(payload, at)
        elif order == NOTICE:
            replay.notice_sent(payload, at, what)
        elif order == REPLY:
            replay.partner_reply(payload, at)
        elif order == ACKNOWLEDGED:
            replay.partner_acknowledged(payload, at)
        elif order == PARTNER_RESOLVED:
            replay.partner_resolved(payload, at)
    return replay.finish()


def engagement_items(engaged: list[Engaged]) -> list[tuple]:
    items = []
    for one in engaged:
        engagement = one.engagement
        if engagement.first_notified_at:
            items.append((engagement.first_notified_at, NOTIFIED, None, one))
        if engagement.acknowledged_at:
            items.append((engagement.acknowledged_at, ACKNOWLEDGED, None, one))
        if engagement.partner_status == PartnerStatus.RESOLVED and engagement.resolved_at:
            items.append((engagement.resolved_at, PARTNER_RESOLVED, None, one))
    return items


def timeline_item(kind: str, at: datetime, actor_id: int | None, data: dict) -> tuple | None:
    """The replay item of a timeline row: opening, status change or severity change; else None."""
    if kind == CaseEvent.Kind.OPENED:
        return (at, OPEN, data["severity"], None)
    if kind == CaseEvent.Kind.STATUS_CHANGED:
        return (at, STATUS, None, (data["from"], data["to"], data.get("reason", ""), actor_id))
    if kind == CaseEvent.Kind.SEVERITY_CHANGED:
        return (at, SEVERITY, data["to"], actor_id)
    return None


def write_clocks(replays: list[tuple[Incident, list[SimClock]]]) -> tuple[int, int]:
    """Insert the clocks, their events and their timeline rows; returns (clocks, events)."""
    sims = [sim for _incident, clocks in replays for sim in clocks]
    SlaClock.objects.bulk_create([sim.clock for sim in sims], batch_size=BATCH_SIZE)
    events = []
    for sim in sims:
        for event in sim.events:
            event.clock = sim.clock
            events.append(event)
    SlaClockEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
    timeline = []
    for sim in sims:
        clock = sim.clock
        partner = clock.engagement.partner.name if clock.engagement_id else None
        for kind, at, actor_id, reason, index in sim.timeline:
            facts = {"clock": clock.pk, "metric": clock.metric, "family": clock.family, "partner": partner}
            facts["reason"] = reason
            if kind in (CaseEvent.Kind.SLA_WARNING, CaseEvent.Kind.SLA_BREACHED):
                facts["event"] = sim.events[index].pk
            row = case_timeline.event(PAYLOADS[kind](**facts), incident=clock.incident, actor=None, at=at)
            row.actor_id = actor_id
            timeline.append(row)
    CaseEvent.objects.bulk_create(timeline, batch_size=BATCH_SIZE)
    return len(sims), len(events)


# --- the curated demo: from what is in the database ------------------------------------------


def seed_demo_clocks(*, prefix: str, now: datetime | None = None) -> int:
    """Clocks for the incidents with fingerprints starting with `prefix` that have none yet.

    Reads each incident's history from the database (its timeline, sent notices, partner replies
    and engagements), so it also completes a desk seeded before SLAs existed. Returns how many
    incidents got clocks.
    """
    now = now or timezone.now()
    incidents = list(
        Incident.objects.filter(fingerprint__startswith=prefix, sla_clocks__isnull=True).order_by("created_at", "pk")
    )
    if not incidents:
        return 0
    ids = [incident.pk for incident in incidents]
    items: dict[int, list[tuple]] = {pk: [] for pk in ids}
    timeline_kinds = [CaseEvent.Kind.OPENED, CaseEvent.Kind.STATUS_CHANGED, CaseEvent.Kind.SEVERITY_CHANGED]
    for incident_id, kind, at, actor_id, data in CaseEvent.objects.filter(
        incident_id__in=ids, kind__in=timeline_kinds
    ).values_list("incident_id", "kind", "created_at", "actor_id", "data"):
        items[incident_id].append(timeline_item(kind, at, actor_id, data))
    engaged: dict[int, list[Engaged]] = {pk: [] for pk in ids}
    by_engagement: dict[int, Engaged] = {}
    for engagement in PartnerEngagement.objects.filter(incident_id__in=ids).select_related("partner"):
        one = Engaged(engagement, engagement.partner)
        engaged[engagement.incident_id].append(one)
        by_engagement[engagement.pk] = one
    for incident_id, one in ((pk, e) for pk, rows in engaged.items() for e in rows):
        items[incident_id].extend(engagement_items([one]))
    sent = Correspondence.objects.filter(
        incident_id__in=ids, direction=Correspondence.Direction.OUTBOUND, sent_at__isnull=False
    )
    for pk, incident_id, engagement_id, at in sent.values_list("pk", "incident_id", "engagement_id", "sent_at"):
        items[incident_id].append((at, NOTICE, pk, by_engagement.get(engagement_id)))
    replies = Correspondence.objects.filter(
        Q(is_auto_reply=False),
        incident_id__in=ids,
        direction=Correspondence.Direction.INBOUND,
        engagement__isnull=False,
        received_at__isnull=False,
    )
    for incident_id, engagement_id, at in replies.values_list("incident_id", "engagement_id", "received_at"):
        items[incident_id].append((at, REPLY, None, by_engagement[engagement_id]))
    book = PolicyBook()
    replays = [
        (incident, replay_incident(incident, items[incident.pk], book=book, now=now, engaged=engaged[incident.pk]))
        for incident in incidents
        if any(item[1] == OPEN for item in items[incident.pk])
    ]
    write_clocks(replays)
    return len(replays)


# --- bulk incidents: simple rules, written with COPY -------------------------------------------


class BulkClockWriter:
    """Clocks for bulk benchmark incidents (`seed_demo --incidents N`), at ~100k incidents a run.

    Replaying every history event by event costs milliseconds per incident, so bulk incidents get
    simple rules instead, still one start/warn/breach/stop history per clock that `clock_replay`
    folds to the same state:
    - ours: acknowledge (met or breached when the incident left `new`), first notice (met at the
      first partner notification, else cancelled at resolution or running), resolve (stopped at
      resolution; an open incident's runs, or is paused while it waits on a partner). Pauses in
      the past are not modelled and there is no update cadence (bulk incidents have no mail).
    - partner: acknowledge and resolve per notified engagement, from its first notification to its
      acknowledgement / resolution, cancelled when the desk resolved first, the partner's resolve
      paused while the incident is mitigated.
    - warnings and breaches crossed before the stop (or before now) are events with notified_at.
    Rows go in with COPY under ids reserved from the sequences: bulk_create of ~1M rows would
    triple the run time.
    """

    CLOCK_COLUMNS = (
        "id", "incident_id", "engagement_id", "family", "metric", "policy_id", "calendar_id", "target",
        "warn_after", "state", "started_at", "due_at", "warn_due_at", "warned_at", "breached_at",
        "stopped_at", "consumed", "consumed_at", "pause_reason", "cycle",
    )  # fmt: skip
    EVENT_COLUMNS = ("id", "clock_id", "kind", "at", "reason", "data", "cycle", "notified_at")

    def __init__(self, *, book: PolicyBook, now: datetime) -> None:
        self.book = book
        self.now = now
        self.clocks: list[tuple] = []
        self.events: list[list] = []  # clock_id filled in when ids are reserved

    def clock(self, *, incident, engagement, metric, policy, partner, start, stop=None, outcome=None,
              pause=None, pause_reason="", status_at=lambda at: "") -> None:  # fmt: skip
        """One clock started at `start`; stopped at `stop` (outcome cancelled or computed), or paused at `pause`."""
        target = getattr(policy, POLICY_TARGETS[metric])
        if target is None:
            return
        warn_after = warn_after_for(policy, target)
        calendar_id = self.book.calendar_id(policy, partner)
        schedule = self.book.schedules[calendar_id]
        warn_at = business_add(schedule, start, warn_after)
        due_at = business_add(schedule, start, target)
        end = stop or pause or self.now
        index = len(self.clocks)
        events = [(Kind.START, start, "", {"target": target.total_seconds(), "warn_after": warn_after.total_seconds(),
                                           "calendar": calendar_id, "policy": policy.pk}, None)]  # fmt: skip
        warned_at = breached_at = None
        limit = min(end, self.now)
        # The sweep fires while running at the crossing instant: strictly before a stop or pause.
        if warn_at < limit or (warn_at == limit and stop is None and pause is None):
            warned_at = warn_at
        if due_at < limit or (due_at == limit and stop is None and pause is None):
            breached_at = due_at
        for kind, at in ((Kind.WARN, warned_at), (Kind.BREACH, breached_at)):
            if at is not None:
                data = {"status": status_at(at), "waiting_on": [], "pause_reason": "", "due_at": due_at.isoformat(),
                        "target": target.total_seconds()}  # fmt: skip
                events.append((kind, at, "", data, at))
        consumed, consumed_at, state, stopped_at = timedelta(0), start, State.RUNNING, None
        warn_due = None if warned_at else warn_at
        due = due_at
        if stop is not None:
            consumed, consumed_at, stopped_at = business_elapsed(schedule, start, stop), stop, stop
            if outcome == State.CANCELLED:
                state = State.CANCELLED
            else:
                state = State.BREACHED if breached_at is not None or consumed > target else State.MET
            reason = RESOLVED_BY_DESK if outcome == State.CANCELLED and engagement is not None else ""
            events.append((Kind.STOP, stop, reason, {"outcome": state}, None))
            warn_due = due = None
        elif pause is not None:
            consumed, consumed_at, state = business_elapsed(schedule, start, pause), pause, State.PAUSED
            events.append((Kind.PAUSE, pause, pause_reason, {}, None))
            warn_due = due = None
        self.clocks.append(
            [None, incident.pk, engagement.pk if engagement is not None else None,
             Family.PARTNER if engagement is not None else Family.OURS, metric, policy.pk, calendar_id, target,
             warn_after, state, start, due, warn_due, warned_at, breached_at, stopped_at, consumed, consumed_at,
             pause_reason if state == State.PAUSED else "", 1]
        )  # fmt: skip
        for kind, at, reason, data, notified_at in events:
            self.events.append([None, index, kind, at, reason[:250], data, 1, notified_at])

    def incident(self, incident: Incident, opened_at: datetime, severity: str, steps, engagements) -> None:
        """`steps`: (from, to, at, reason) in time order; `engagements`: the incident's engagement rows."""
        policy = self.book.policy_for(severity)
        if policy is None:
            return

        def status_at(at: datetime) -> str:
            status = Status.NEW
            for _previous, to, when, _reason in steps:
                if when > at:
                    break
                status = to
            return status

        resolved = incident.resolved_at if incident.status in CLOSED_STATUSES else None
        ours = {"incident": incident, "engagement": None, "policy": policy, "partner": None, "status_at": status_at}
        left_new = steps[0][2] if steps else None
        self.clock(metric=Metric.ACKNOWLEDGE, start=opened_at, stop=left_new, **ours)
        notified = [
            e for e in engagements if e.first_notified_at and (resolved is None or e.first_notified_at < resolved)
        ]
        first = min((e.first_notified_at for e in notified), default=None)
        if first is not None:
            self.clock(metric=Metric.FIRST_NOTICE, start=opened_at, stop=first, **ours)
        else:
            self.clock(metric=Metric.FIRST_NOTICE, start=opened_at, stop=resolved, outcome=State.CANCELLED, **ours)
        waiting = steps[-1] if steps and incident.status == Status.WAITING_ON_PARTNER else None
        self.clock(
            metric=Metric.RESOLVE,
            start=opened_at,
            stop=resolved,
            pause=waiting[2] if waiting else None,
            pause_reason=waiting[3] if waiting else "",
            **ours,
        )
        for engagement in notified:
            if engagement.partner_status == PartnerStatus.NOT_INVOLVED:
                continue
            partner = engagement.partner
            partner_policy = self.book.policy_for(severity, partner)
            if partner_policy is None:
                continue
            theirs = {"incident": incident, "engagement": engagement, "policy": partner_policy, "partner": partner,
                      "start": engagement.first_notified_at, "status_at": status_at}  # fmt: skip
            acknowledged = engagement.acknowledged_at
            if acknowledged and (resolved is None or acknowledged <= resolved):
                self.clock(metric=Metric.ACKNOWLEDGE, stop=acknowledged, **theirs)
            else:
                self.clock(metric=Metric.ACKNOWLEDGE, stop=resolved, outcome=State.CANCELLED, **theirs)
            fixed = engagement.resolved_at if engagement.partner_status == PartnerStatus.RESOLVED else None
            if fixed and (resolved is None or fixed <= resolved):
                self.clock(metric=Metric.RESOLVE, stop=fixed, **theirs)
            elif resolved is not None:
                self.clock(metric=Metric.RESOLVE, stop=resolved, outcome=State.CANCELLED, **theirs)
            elif incident.status == Status.MITIGATED and incident.mitigated_at:
                paused = max(incident.mitigated_at, engagement.first_notified_at)
                self.clock(metric=Metric.RESOLVE, pause=paused, pause_reason="", **theirs)
            else:
                self.clock(metric=Metric.RESOLVE, **theirs)

    def write(self) -> tuple[int, int]:
        """Reserve ids, COPY the clocks then their events; returns (clocks, events)."""
        if not self.clocks:
            return 0, 0
        with connection.cursor() as cursor:
            clock_ids = _reserve_ids(cursor, SlaClock, len(self.clocks))
            event_ids = _reserve_ids(cursor, SlaClockEvent, len(self.events))
            for row, pk in zip(self.clocks, clock_ids, strict=True):
                row[0] = pk
            for row, pk in zip(self.events, event_ids, strict=True):
                row[0], row[1], row[5] = pk, clock_ids[row[1]], json.dumps(row[5])
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            _copy(raw, SlaClock._meta.db_table, self.CLOCK_COLUMNS, self.clocks)
            _copy(raw, SlaClockEvent._meta.db_table, self.EVENT_COLUMNS, self.events)
        counts = len(self.clocks), len(self.events)
        self.clocks, self.events = [], []
        return counts


def _reserve_ids(cursor, model, count: int) -> list[int]:
    table = model._meta.db_table
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def bulk_clocks(incidents, engagements, case_events, *, book: PolicyBook, now: datetime) -> None:
    """Clocks for one batch of bulk incidents, from the rows the batch just inserted."""
    writer = BulkClockWriter(book=book, now=now)
    opened: dict[int, tuple[datetime, str]] = {}
    steps: dict[int, list[tuple]] = {id(incident): [] for incident in incidents}
    for event in case_events:
        if event.kind == CaseEvent.Kind.OPENED:
            opened[id(event.incident)] = (event.created_at, event.data["severity"])
        elif event.kind == CaseEvent.Kind.STATUS_CHANGED:
            data = event.data
            steps[id(event.incident)].append((data["from"], data["to"], event.created_at, data.get("reason", "")))
    engaged: dict[int, list[PartnerEngagement]] = {id(incident): [] for incident in incidents}
    for engagement in engagements:
        engaged[id(engagement.incident)].append(engagement)
    for incident in incidents:
        at, severity = opened[id(incident)]
        history = sorted(steps[id(incident)], key=lambda step: step[2])
        writer.incident(incident, at, severity, history, engaged[id(incident)])
    writer.write()
