"""The SLA clocks of live incidents: the rules of `cases.sla.rules` applied to the clock rows.

The clocks hear of an incident's life from its timeline: `on_case_events` is a timeline listener
(PAYHEALTH_TIMELINE_LISTENERS), so the services that open, move, grade, notify and answer write
their timeline row and the clocks follow in the same transaction, without any of them importing
this module. Each hook locks the incident's clocks (in id order, after the service locked the
incident or the notice), lets the rules append events through a `ClockLedger`, then writes the
events, the folded clock columns and the timeline rows of pauses, resumes and breaches in a few
queries. An incident without clocks (opened without a matching policy) is left alone.

A pause, stop or re-target of a clock that crossed its due instant before the sweep came round
first fires the breach the sweep would have fired, at the crossing instant (see `_breach_if_crossed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import groupby

from django.db import IntegrityError, transaction
from django.db.models import Q

from cases import timeline
from cases.correspondence.inbound.store import reply_acknowledged_at
from cases.models import CaseEvent, Correspondence, Incident, PartnerEngagement, SlaClock, SlaClockEvent, SlaPolicy
from cases.services.impact import ENGAGEMENT_TIMES
from cases.sla import rules
from cases.sla.rollups import sla_rollup_mark
from cases.sla.rules import ACTIVE, TIMELINE_PAYLOADS, Kind, SentNotice, State
from cases.timeline import events as ev
from partners.businesstime import Schedule, schedules_for
from partners.models import Partner
from partners.notices import INTERNAL_KINDS
from payhealth.outbox import publish_on_commit

# The task that mails a warning or breach (`sla_event_notify`), published by name.
NOTIFY_TASK = "cases.notify_sla_event_task"


def sla_policy_for(*, severity: str, partner: Partner | None = None, category: str = "") -> SlaPolicy | None:
    """The active policy for the severity: of the incident's category before any category's, then the
    partner's own, else its kind's, else the generic one (one query)."""
    return sla_policies_for(severity=severity, partners=[partner], category=category)[partner]


def sla_policies_for(
    *, severity: str, partners: Iterable[Partner | None], category: str = ""
) -> dict[Partner | None, SlaPolicy | None]:
    """`sla_policy_for` of each partner (None: ours), in one query."""
    partners = list(dict.fromkeys(partners))
    scope = Q(partner__isnull=True, partner_kind="")
    for partner in partners:
        if partner is not None:
            scope |= Q(partner=partner) | Q(partner__isnull=True, partner_kind=partner.kind)
    categories = Q(category="") | Q(category=category) if category else Q(category="")
    candidates = list(
        SlaPolicy.objects.filter(scope, categories, active=True, severity=severity).select_related("calendar")
    )
    return {
        partner: SlaPolicy.most_specific(candidates, severity=severity, partner=partner, category=category)
        for partner in partners
    }


def _locked_clocks(incident_id: int) -> list[SlaClock]:
    return list(
        SlaClock.objects.select_for_update(of=("self",))
        .select_related("engagement__partner")
        .filter(incident_id=incident_id)
        .order_by("pk")
    )


class ClockLedger:
    """The rules' ledger over one incident's clock rows, written in a few queries by `save`.

    `status` is the incident's status before the change, recorded with a breach fired here; the
    clocks started here are inserted together by `save` (see `_insert_created` for a concurrent
    hook making the same clock).
    """

    def __init__(self, *, incident: Incident, actor, status: str | None = None, new_incident: bool = False) -> None:
        self.incident = incident
        self.actor = actor if getattr(actor, "pk", None) else None
        self.status = status
        self.new_incident = new_incident
        self.clocks: list[SlaClock] = [] if new_incident else _locked_clocks(incident.pk)
        self.schedules: dict[int, Schedule] = {}
        self._policies: dict[tuple, SlaPolicy | None] = {}
        self._crossing: dict | None = None
        self.created: list[SlaClock] = []
        self.changed: dict[int, SlaClock] = {}
        self.new_events: list[SlaClockEvent] = []
        self.breaches: list[SlaClockEvent] = []
        # (payload class, clock, reason, instant, actor, the clock event a crossing names)
        self.timeline: list[tuple] = []

    # -- the Ledger the rules write through --

    def know_policies(self, *, severity: str, partners: Iterable[Partner]) -> None:
        """Read the policies of the severity for these partners and ours in one query, ahead of
        `policy_for` (notices delivered together engage many partners)."""
        unknown = [p for p in [None, *partners] if (severity, p.pk if p else None) not in self._policies]
        if unknown:
            found = sla_policies_for(severity=severity, partners=unknown, category=self.incident.category)
            for partner, policy in found.items():
                self._policies[(severity, partner.pk if partner else None)] = policy

    def policy_for(self, *, severity: str, partner: Partner | None = None) -> SlaPolicy | None:
        """The policy of the severity for the partner (None: ours) and the incident's category."""
        key = (severity, partner.pk if partner else None)
        if key not in self._policies:
            self._policies[key] = sla_policy_for(severity=severity, partner=partner, category=self.incident.category)
        return self._policies[key]

    def cycle_started_at(self, clock: SlaClock) -> datetime | None:
        for event in reversed(self.new_events):  # a start appended here, not written yet
            if event.clock is clock and event.kind == Kind.START and event.cycle == clock.cycle:
                return event.at
        starts = clock.events.filter(kind=Kind.START, cycle=clock.cycle).order_by("-at")
        return starts.values_list("at", flat=True).first()

    def start(self, metric: str, at: datetime, *, policy: SlaPolicy, engagement: PartnerEngagement | None = None):
        clock = rules.new_clock(
            incident_id=self.incident.pk, metric=metric, policy=policy, engagement=engagement, at=at
        )
        if clock is None:
            return None
        self.created.append(clock)  # inserted by `save`, with the state its events folded into it
        self.clocks.append(clock)
        self.append(clock, Kind.START, at, data=rules.start_data(clock), cycle=1)
        return clock

    def append(self, clock: SlaClock, kind: str, at: datetime, *, reason="", data=None, cycle=None) -> None:
        if kind in (Kind.PAUSE, Kind.STOP, Kind.RETARGET):
            self._breach_if_crossed(clock, at)
        self._append(clock, kind, at, reason=reason, data=data, cycle=cycle)

    # -- folding and writing --

    def _need(self, calendar_ids) -> None:
        missing = {pk for pk in calendar_ids if pk is not None and pk not in self.schedules}
        if missing:
            # Every calendar of the incident's clocks at once (one query), not one by one.
            missing |= {c.calendar_id for c in self.clocks if c.calendar_id not in self.schedules}
            self.schedules.update(schedules_for(missing))

    def _append(self, clock: SlaClock, kind: str, at: datetime, *, reason="", data=None, cycle=None) -> SlaClockEvent:
        self._need({clock.calendar_id, *rules.event_calendars(data or {})})
        event = rules.fold_event(clock, kind, at, reason=reason, data=data, cycle=cycle, schedules=self.schedules)
        event.actor = None if kind in (Kind.WARN, Kind.BREACH) else self.actor  # crossings are PayHealth's own
        self.new_events.append(event)
        if clock.pk is not None:
            self.changed[clock.pk] = clock
        if kind in (Kind.PAUSE, Kind.RESUME):
            self.timeline.append((TIMELINE_PAYLOADS[kind], clock, reason, event.at, self.actor, None))
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
        if self._crossing is None:  # the same for every clock of the incident: read once
            waiting = PartnerEngagement.objects.filter(
                incident_id=self.incident.pk, partner_status__in=PartnerEngagement.WAITING_STATUSES
            ).order_by("partner__name")
            self._crossing = {
                "status": self.status or Incident.objects.values_list("status", flat=True).get(pk=self.incident.pk),
                "waiting_on": list(waiting.values_list("partner__name", flat=True)),
            }
        facts = rules.crossing_facts(clock=clock, **self._crossing)
        event = self._append(clock, Kind.BREACH, clock.due_at, data=facts)
        self.breaches.append(event)
        self.timeline.append((ev.SlaBreached, clock, clock.pause_reason, event.at, None, event))

    def _insert_created(self) -> None:
        """The clocks started here, in one INSERT. One that a concurrent hook made since we locked
        the incident's clocks (two notices to one partner delivered at once) is the other hook's:
        ours is dropped with its events, so there is one clock, never an error."""
        if self.new_incident:  # nothing can race there
            SlaClock.objects.bulk_create(self.created)
            return
        try:
            with transaction.atomic():
                SlaClock.objects.bulk_create(self.created)
            return
        except IntegrityError:
            pass
        dropped = set()
        for clock in self.created:
            clock.pk = None
            try:
                with transaction.atomic():
                    clock.save()
            except IntegrityError:
                dropped.add(id(clock))
        self.clocks = [clock for clock in self.clocks if id(clock) not in dropped]
        self.new_events = [event for event in self.new_events if id(event.clock) not in dropped]
        self.breaches = [event for event in self.breaches if id(event.clock) not in dropped]
        self.timeline = [entry for entry in self.timeline if id(entry[1]) not in dropped]

    def save(self) -> None:
        if not self.new_events:
            return
        if self.created:
            self._insert_created()
        SlaClockEvent.objects.bulk_create(self.new_events)
        if self.changed:
            SlaClock.objects.bulk_update(list(self.changed.values()), list(rules.STATE_FIELDS))
        for payload, clock, reason, at, actor, crossing in self.timeline:
            facts = rules.clock_facts(clock, reason)
            if crossing is not None:  # a breach names its clock event, which has an id only now
                facts["event"] = crossing.pk
            timeline.record(payload(**facts), incident=self.incident, actor=actor, at=at)
        publish_on_commit(NOTIFY_TASK, [event.pk for event in self.breaches])
        sla_rollup_mark(incident_ids=[self.incident.pk])


# --- the hooks ----------------------------------------------------------------------------------


@transaction.atomic
def sla_clocks_start_for_incident(*, incident: Incident, at: datetime) -> list[SlaClock]:
    """Our acknowledge, first-notice and resolve clocks, from the generic policy of the severity."""
    ledger = ClockLedger(incident=incident, actor=None, new_incident=True)
    rules.on_open(ledger, severity=incident.severity, at=at)
    ledger.save()
    return ledger.created


@transaction.atomic
def sla_on_transition(*, incident: Incident, actor, old: str, new: str, reason: str, at: datetime) -> None:
    if old == new:
        return
    ledger = ClockLedger(incident=incident, actor=actor, status=old)
    if ledger.clocks:
        rules.on_transition(ledger, old=old, new=new, reason=reason, at=at)
        ledger.save()


@transaction.atomic
def sla_on_severity_change(*, incident: Incident, actor, at: datetime) -> None:
    ledger = ClockLedger(incident=incident, actor=actor)
    if any(clock.state in ACTIVE for clock in ledger.clocks):
        rules.on_severity_change(ledger, severity=incident.severity, at=at)
        ledger.save()


def sla_on_notice_sent(*, correspondence: Correspondence, at: datetime) -> None:
    sla_on_notices_sent(sent=[(correspondence, at)])


@transaction.atomic
def sla_on_notices_sent(*, sent: Sequence[tuple[Correspondence, datetime]]) -> None:
    """Notices that reached the SMTP server, each with its instant, in order. An incident's clocks
    are locked, read and written once for all of its notices (a batch delivers many to one
    incident); the rules see the earlier notices' effects on the clocks in memory."""
    timed = [
        (correspondence, at)
        for correspondence, at in sent
        if correspondence.incident_id is not None
        and correspondence.direction == Correspondence.Direction.OUTBOUND
        # an internal update to a merchant's account team moves no SLA clock
        and not (correspondence.engagement_id is None and correspondence.kind in INTERNAL_KINDS)
    ]
    if not timed:
        return
    incidents = Incident.objects.only("pk", "status", "severity", "category").in_bulk(
        {correspondence.incident_id for correspondence, _ in timed}
    )
    engagements = PartnerEngagement.objects.select_related("partner").in_bulk(
        {correspondence.engagement_id for correspondence, _ in timed if correspondence.engagement_id}
    )
    ledgers: dict[int, ClockLedger] = {}
    for correspondence, at in timed:
        incident = incidents[correspondence.incident_id]
        if incident.pk not in ledgers:
            ledgers[incident.pk] = ClockLedger(incident=incident, actor=None)
            ledgers[incident.pk].know_policies(
                severity=incident.severity,
                partners=[
                    engagements[notice.engagement_id].partner
                    for notice, _ in timed
                    if notice.incident_id == incident.pk and notice.engagement_id
                ],
            )
        ledger = ledgers[incident.pk]
        notice = SentNotice(pk=correspondence.pk, kind=correspondence.kind, created_at=correspondence.created_at)
        engagement = engagements.get(correspondence.engagement_id)
        rules.on_notice_sent(
            ledger, status=incident.status, severity=incident.severity, engagement=engagement, notice=notice, at=at
        )
    for ledger in ledgers.values():
        ledger.save()


@transaction.atomic
def sla_on_partner_reply(
    *, engagement: PartnerEngagement, at: datetime, actor=None, acknowledged_at: datetime | None = None
) -> None:
    """A partner's reply received at `at`; its acknowledge clock stops at `acknowledged_at` (the
    reply's Date, bounded) when given."""
    incident = Incident.objects.only("pk", "category").get(pk=engagement.incident_id)
    ledger = ClockLedger(incident=incident, actor=actor)
    rules.on_partner_reply(ledger, engagement=engagement, at=at, acknowledged_at=acknowledged_at)
    ledger.save()


def sla_on_engagement_change(*, engagement: PartnerEngagement, actor, at: datetime) -> None:
    sla_on_engagement_changes(changes=[(engagement, actor, at)])


@transaction.atomic
def sla_on_engagement_changes(*, changes: Sequence[tuple[PartnerEngagement, object, datetime]]) -> None:
    """Engagements changed (each with who and when), in order; an incident's clocks are locked,
    read and written once for all of its engagements (first notices stamped together)."""
    incidents = Incident.objects.only("pk", "status", "severity", "category").in_bulk(
        {engagement.incident_id for engagement, _, _ in changes}
    )
    ledgers: dict[int, ClockLedger] = {}
    for engagement, actor, at in changes:
        incident = incidents[engagement.incident_id]
        ledger = ledgers.get(incident.pk)
        if ledger is None:
            ledger = ledgers[incident.pk] = ClockLedger(incident=incident, actor=actor)
        ledger.actor = actor if getattr(actor, "pk", None) else None
        rules.on_engagement_change(
            ledger, engagement=engagement, status=incident.status, severity=incident.severity, at=at
        )
    for ledger in ledgers.values():
        ledger.save()


def clock_replay(clock: SlaClock) -> dict:
    """The clock's state recomputed from its events and calendars alone (reports are reproducible).

    The keys are the denormalised columns (`rules.STATE_FIELDS`); a clock whose columns differ from
    this has been written by something other than these hooks.
    """
    history = list(clock.events.order_by("at", "id"))
    calendars = {clock.calendar_id}
    for event in history:
        calendars |= rules.event_calendars(event.data)
    return rules.replay(history, schedules_for(calendars))


# --- the timeline listener ------------------------------------------------------------------------


def _engagement(pk: int) -> PartnerEngagement:
    return PartnerEngagement.objects.select_related("partner").get(pk=pk)


def _opened(row: CaseEvent, payload: ev.IncidentOpened) -> None:
    sla_clocks_start_for_incident(incident=row.incident, at=row.created_at)


def _status_changed(row: CaseEvent, payload: ev.StatusChanged) -> None:
    sla_on_transition(
        incident=row.incident,
        actor=row.actor,
        old=payload.was,
        new=payload.to,
        reason=payload.reason,
        at=row.created_at,
    )


def _severity_changed(row: CaseEvent, payload: ev.SeverityChanged) -> None:
    sla_on_severity_change(incident=row.incident, actor=row.actor, at=row.created_at)
    sla_rollup_mark(incident_ids=[row.incident_id])  # the reports group every clock by severity


def _owner_changed(row: CaseEvent, payload: ev.OwnerChanged) -> None:
    sla_rollup_mark(incident_ids=[row.incident_id])  # the reports group every clock by owner


def _notices_sent(rows: list[CaseEvent]) -> None:
    """Notices sent together (one timeline INSERT): their clocks follow in one hook."""
    ids = [timeline.read(row).correspondence for row in rows]
    notices = Correspondence.objects.only(
        "pk", "incident_id", "engagement_id", "direction", "kind", "created_at"
    ).in_bulk(ids)
    sla_on_notices_sent(sent=[(notices[pk], row.created_at) for pk, row in zip(ids, rows, strict=True)])


def _reply_received(row: CaseEvent, payload: ev.ReplyReceived) -> None:
    if not (payload.partner_reply and payload.engagement):
        return  # auto-replies, bounces and colleagues' copies answer nothing
    reply = Correspondence.objects.get(pk=payload.correspondence)
    sla_on_partner_reply(
        engagement=_engagement(payload.engagement),
        at=reply.received_at or row.created_at,
        acknowledged_at=reply_acknowledged_at(reply) if reply.received_at else None,
        actor=row.actor,
    )


def _partner_engaged(row: CaseEvent, payload: ev.PartnerEngaged) -> None:
    if payload.partner_status and payload.partner_status != PartnerEngagement.PartnerStatus.NOT_NOTIFIED:
        sla_on_engagement_change(engagement=_engagement(payload.engagement), actor=row.actor, at=row.created_at)


def _moves_clocks(payload: ev.PartnerUpdated) -> bool:
    return bool({"partner_status", *ENGAGEMENT_TIMES} & set(payload.changes or {}))


def _partners_updated(rows: list[CaseEvent]) -> None:
    """Engagements updated one after the other: those whose status or times changed move their
    clocks in one hook."""
    moved = [(row, payload) for row in rows if _moves_clocks(payload := timeline.read(row))]
    if not moved:
        return
    engagements = PartnerEngagement.objects.select_related("partner").in_bulk({p.engagement for _, p in moved})
    sla_on_engagement_changes(
        changes=[(engagements[payload.engagement], row.actor, row.created_at) for row, payload in moved]
    )


HANDLERS = {
    CaseEvent.Kind.OPENED: _opened,
    CaseEvent.Kind.STATUS_CHANGED: _status_changed,
    CaseEvent.Kind.SEVERITY_CHANGED: _severity_changed,
    CaseEvent.Kind.OWNER_CHANGED: _owner_changed,
    CaseEvent.Kind.REPLY_RECEIVED: _reply_received,
    CaseEvent.Kind.PARTNER_ENGAGED: _partner_engaged,
}


# Kinds whose consecutive rows are handled together (a batch of notices and their first-notice stamps).
TOGETHER = {CaseEvent.Kind.NOTICE_SENT: _notices_sent, CaseEvent.Kind.PARTNER_UPDATED: _partners_updated}


def on_case_events(rows) -> None:
    """Timeline listener: the clocks follow what the incident's timeline says happened, in order;
    consecutive notices sent, or engagements updated, are handled together."""
    for kind, run in groupby(rows, key=lambda row: row.kind if row.kind in TOGETHER else None):
        if kind is not None:
            TOGETHER[kind](list(run))
            continue
        for row in run:
            handler = HANDLERS.get(row.kind)
            if handler is not None:
                handler(row, timeline.read(row))
