"""SLA clocks for the demo desk, replayed from each incident's own history through the SLA rules.

The demo writes weeks of history at once (`bulk_create`, COPY), so the live clock hooks, which
follow the timeline as the services write it, never ran for it. Each incident's history is
replayed here instead, in time order, through the rules the hooks apply (`cases.sla.rules`), on
a `ReplayLedger`: the rules' ledger over one incident's clocks, held in memory. The demo has no
SLA logic of its own: which clock starts, pauses, resumes, stops or re-targets is the rules'
decision, and every event is folded into its clock by the rules' `fold_event`, so a seeded clock
follows the same policy as a live one and `clock_replay` of a seeded clock gives its columns.

The periodic sweep is played too: before each event, the warnings and breaches it would have
fired up to that instant are recorded at the crossing instant, with the facts the sweep records
and `notified_at` set. They are history: nobody is mailed about them when the desk starts.
Crossings still ahead of the seed are left to the real sweep.

The curated incidents (`seed_demo_clocks`) and the bulk benchmark incidents (`bulk_clocks`) go
through the same replay; only where their history is read from differs (the database for the
former, the rows a batch has just inserted for the latter). Both are written with COPY.

`NEAR_BREACH` re-times two curated incidents so that, right after `make run`, a lead receives a
real warning and breach mail within minutes (see its comment).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from cases.models import CaseEvent, Correspondence, Incident, PartnerEngagement, SlaClock, SlaClockEvent, SlaPolicy
from cases.models.incident import Status
from cases.sla import rules
from cases.sla.rollups import sla_rollup_mark
from cases.sla.rules import TIMELINE_PAYLOADS, SentNotice
from demo.stories import Lifecycle
from partners.businesstime import schedules_for
from partners.models import BusinessCalendar, Partner

State = SlaClock.State
Kind = SlaClockEvent.Kind
PartnerStatus = PartnerEngagement.PartnerStatus


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


# --- policies and calendars ----------------------------------------------------------------------


class PolicyBook:
    """The active policies (with their calendars) and the schedule of every calendar, loaded once.

    A replay asks for a policy at every clock it starts or re-targets, for thousands of incidents:
    choosing among policies loaded once, with the live hooks' own choice (`SlaPolicy.most_specific`),
    costs no query, and one set of schedules serves every clock of every incident.
    """

    def __init__(self) -> None:
        self.policies = list(SlaPolicy.objects.filter(active=True).select_related("calendar"))
        self.schedules = schedules_for(BusinessCalendar.objects.values_list("pk", flat=True))
        self._chosen: dict[tuple[str, int | None, str], SlaPolicy | None] = {}

    def policy_for(self, *, severity: str, partner: Partner | None = None, category: str = "") -> SlaPolicy | None:
        key = (severity, None if partner is None else partner.pk, category)
        if key not in self._chosen:
            self._chosen[key] = SlaPolicy.most_specific(
                self.policies, severity=severity, partner=partner, category=category
            )
        return self._chosen[key]


# --- the ledger --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngagementAsOf:
    """A partner engagement as it was at one instant of the replay: what the rules read of it.

    The engagement row holds the partner's state today (resolved, not involved, …). A rule applied
    to an earlier fact must see the partner as it was then: a partner resolved next week was still
    being waited on when it replied, and one that later turned out not to be involved was notified
    like the others first.
    """

    pk: int
    incident_id: int
    partner: Partner
    partner_status: str = PartnerStatus.NOT_NOTIFIED
    first_notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None


class ReplayLedger:
    """The rules' ledger (`cases.sla.rules.Ledger`) over one incident's clocks, in memory.

    The clocks and their events are unsaved rows. As on the live ledger, each appended event is
    folded into its clock at once (`rules.fold_event`: never before the clock's latest event) and
    pauses and resumes go on the timeline. Before every event the periodic sweep is played
    (`sweep`). `status`, `severity` and `engagements` are the incident as it is at the replay's
    current instant: `replay` moves them along the history, and the crossings record them.
    """

    def __init__(
        self,
        incident: Incident,
        *,
        engagements: Iterable[PartnerEngagement],
        book: PolicyBook,
        now: datetime,
    ) -> None:
        self.incident = incident
        self.book = book
        self.schedules = book.schedules
        self.now = now
        self.status: str = Status.NEW
        self.severity: str | None = None
        self.actor_id: int | None = None  # who made the change being replayed (None: PayHealth)
        self.rows = {row.pk: row for row in engagements}  # the clocks' foreign keys point at these
        self.engagements = {
            pk: EngagementAsOf(pk=pk, incident_id=incident.pk, partner=row.partner) for pk, row in self.rows.items()
        }
        self.clocks: list[SlaClock] = []
        self.events: dict[int, list[SlaClockEvent]] = {}  # id(clock) → its events, in order
        # (payload class, clock, reason, instant, actor id, the clock event a crossing names)
        self.timeline: list[tuple] = []

    # -- the Ledger the rules write through --

    def policy_for(self, *, severity: str, partner: Partner | None = None) -> SlaPolicy | None:
        return self.book.policy_for(severity=severity, partner=partner, category=self.incident.category)

    def cycle_started_at(self, clock: SlaClock) -> datetime | None:
        for event in reversed(self.events[id(clock)]):
            if event.kind == Kind.START and event.cycle == clock.cycle:
                return event.at
        return None

    def start(self, metric: str, at: datetime, *, policy: SlaPolicy, engagement=None) -> SlaClock | None:
        row = None if engagement is None else self.rows[engagement.pk]
        engagement_id = None if row is None else row.pk
        if any(clock.metric == metric and clock.engagement_id == engagement_id for clock in self.clocks):
            return None  # one clock per metric and partner, as the table's unique constraint keeps it
        clock = rules.new_clock(incident_id=self.incident.pk, metric=metric, policy=policy, engagement=row, at=at)
        if clock is None:
            return None
        self.clocks.append(clock)
        self.events[id(clock)] = []
        self.append(clock, Kind.START, at, data=rules.start_data(clock), cycle=1)
        return clock

    def append(self, clock: SlaClock, kind: str, at: datetime, *, reason="", data=None, cycle=None) -> None:
        self.sweep(at)
        event = self._append(clock, kind, at, reason=reason, data=data, cycle=cycle)
        event.actor_id = self.actor_id
        if kind in (Kind.PAUSE, Kind.RESUME):
            self.timeline.append((TIMELINE_PAYLOADS[kind], clock, reason, event.at, self.actor_id, None))

    # -- the sweep, played --

    def sweep(self, until: datetime) -> None:
        """Fire the warnings and breaches the periodic sweep would have fired by `until` (never
        after now), at the instant each clock crossed, as the sweep records them.

        The live sweep runs every minute, so by the time anything happens to an incident, every
        crossing before it has been fired, with the incident's status and the partners it waited on
        at that moment. Played before each event (and each fact of the history), the same crossings
        come out here, with the same facts; crossings after now are left to the real sweep.
        """
        until = min(until, self.now)
        for clock in self.clocks:
            while clock.state == State.RUNNING:
                if clock.warned_at is None and clock.warn_due_at is not None and clock.warn_due_at <= until:
                    kind, at = Kind.WARN, clock.warn_due_at
                elif clock.breached_at is None and clock.due_at is not None and clock.due_at <= until:
                    kind, at = Kind.BREACH, clock.due_at
                else:
                    break
                facts = rules.crossing_facts(status=self.status, waiting_on=self.waiting_on(), clock=clock)
                event = self._append(clock, kind, at, data=facts)
                event.notified_at = event.at  # history: its mail is not sent when the desk starts
                self.timeline.append((TIMELINE_PAYLOADS[kind], clock, clock.pause_reason, event.at, None, event))

    def waiting_on(self) -> list[str]:
        """The partners the desk waits on now (the sweep records them with a crossing)."""
        waiting = PartnerEngagement.WAITING_STATUSES
        return sorted(e.partner.name for e in self.engagements.values() if e.partner_status in waiting)

    def finish(self) -> list[SlaClock]:
        """Play the sweep up to now; the clocks, whose columns hold their state (each event was
        folded into its clock as it was appended)."""
        self.sweep(self.now)
        return self.clocks

    def _append(self, clock: SlaClock, kind: str, at: datetime, *, reason="", data=None, cycle=None) -> SlaClockEvent:
        event = rules.fold_event(clock, kind, at, reason=reason, data=data, cycle=cycle, schedules=self.schedules)
        self.events[id(clock)].append(event)
        return event


# --- an incident's history, as the clocks hear of it ------------------------------------------------

OPENED, STATUS, SEVERITY, NOTICE, REPLY, ENGAGEMENT = range(6)


class Fact(NamedTuple):
    """One thing that happened to the incident and that the clocks hear of.

    `kind` is also the order of facts at the same instant: the opening first, then status and
    severity changes, sent notices, partner replies, and what a person recorded on an engagement
    (as live: a notice is sent before it stamps the partner notified, a reply arrives before the
    partner is marked acknowledged).
    """

    at: datetime
    kind: int
    args: tuple
    actor_id: int | None = None


TIMELINE_FACTS = (CaseEvent.Kind.OPENED, CaseEvent.Kind.STATUS_CHANGED, CaseEvent.Kind.SEVERITY_CHANGED)
# The statuses a partner can be in once it acknowledged (it is resolved later, by its own stamp).
_AFTER_ACKNOWLEDGED = (
    PartnerStatus.ACKNOWLEDGED,
    PartnerStatus.INVESTIGATING,
    PartnerStatus.FIX_IN_PROGRESS,
    PartnerStatus.NOT_INVOLVED,
)


@dataclass
class History:
    """Everything the clocks of one incident hear of: its facts, and its partner engagement rows
    (whose clocks point at them)."""

    facts: list[Fact] = field(default_factory=list)
    engagements: list[PartnerEngagement] = field(default_factory=list)

    def timeline_row(self, kind: str, at: datetime, actor_id: int | None, data: dict) -> None:
        """An opening, a status change or a severity change of the timeline (other kinds are ignored).

        The opening's clocks start without an actor, as the live hook starts them.
        """
        if kind == CaseEvent.Kind.OPENED:
            self.facts.append(Fact(at, OPENED, (data["severity"],)))
        elif kind == CaseEvent.Kind.STATUS_CHANGED:
            self.facts.append(Fact(at, STATUS, (data["from"], data["to"], data.get("reason") or ""), actor_id))
        elif kind == CaseEvent.Kind.SEVERITY_CHANGED:
            self.facts.append(Fact(at, SEVERITY, (data["to"],), actor_id))

    def notice_sent(self, *, pk: int, kind: str, created_at: datetime, sent_at: datetime, engagement_id) -> None:
        """A notice that reached the SMTP server."""
        notice = SentNotice(pk=pk, kind=kind, created_at=created_at)
        self.facts.append(Fact(sent_at, NOTICE, (notice, engagement_id)))

    def partner_replied(self, *, engagement_id: int, received_at: datetime) -> None:
        """A partner's real reply (never an auto-reply)."""
        self.facts.append(Fact(received_at, REPLY, (engagement_id,)))

    def engagement(self, row: PartnerEngagement) -> None:
        """The engagement, and what was recorded on it, when, read from its stamps.

        The row keeps only its stamps and its status today, so its history is read from them:
        notified at `first_notified_at`, its status after acknowledging at `acknowledged_at` (a
        partner not involved says so when it answers), resolved at `resolved_at`. A partner marked
        not involved without an acknowledgement is taken to have been marked so when it was
        notified, else when the row last changed.
        """
        self.engagements.append(row)
        pk, final = row.pk, row.partner_status
        if row.first_notified_at is not None:
            changes = {"partner_status": PartnerStatus.NOTIFIED, "first_notified_at": row.first_notified_at}
            self.facts.append(Fact(row.first_notified_at, ENGAGEMENT, (pk, changes)))
        if row.acknowledged_at is not None:
            status = final if final in _AFTER_ACKNOWLEDGED else PartnerStatus.ACKNOWLEDGED
            changes = {"partner_status": status, "acknowledged_at": row.acknowledged_at}
            self.facts.append(Fact(row.acknowledged_at, ENGAGEMENT, (pk, changes)))
        elif final == PartnerStatus.NOT_INVOLVED:
            marked = row.first_notified_at or row.updated_at or row.created_at
            self.facts.append(Fact(marked, ENGAGEMENT, (pk, {"partner_status": PartnerStatus.NOT_INVOLVED})))
        if final == PartnerStatus.RESOLVED and row.resolved_at is not None:
            changes = {"partner_status": PartnerStatus.RESOLVED, "resolved_at": row.resolved_at}
            self.facts.append(Fact(row.resolved_at, ENGAGEMENT, (pk, changes)))

    def in_order(self) -> list[Fact]:
        return sorted(self.facts, key=_when)


def _when(fact: Fact) -> tuple[datetime, int]:
    return fact.at, fact.kind


def replay(incident: Incident, history: History, *, book: PolicyBook, now: datetime) -> ReplayLedger:
    """The incident's clocks: its history applied to a fresh ledger in time order, through the
    rules alone, then the sweep played up to now. The ledger's clocks and events are ready to write."""
    ledger = ReplayLedger(incident, engagements=history.engagements, book=book, now=now)
    for fact in history.in_order():
        ledger.sweep(fact.at)  # what crossed before the fact, with the incident as it was then
        ledger.actor_id = fact.actor_id
        at = fact.at
        if fact.kind == OPENED:
            (ledger.severity,) = fact.args
            rules.on_open(ledger, severity=ledger.severity, at=at)
        elif fact.kind == STATUS:
            was, to, reason = fact.args
            rules.on_transition(ledger, old=was, new=to, reason=reason, at=at)
            ledger.status = to
        elif fact.kind == SEVERITY:
            (ledger.severity,) = fact.args
            rules.on_severity_change(ledger, severity=ledger.severity, at=at)
        elif fact.kind == NOTICE:
            notice, engagement_id = fact.args
            engagement = None if engagement_id is None else ledger.engagements[engagement_id]
            rules.on_notice_sent(
                ledger, status=ledger.status, severity=ledger.severity, engagement=engagement, notice=notice, at=at
            )
        elif fact.kind == REPLY:
            (engagement_id,) = fact.args
            rules.on_partner_reply(ledger, engagement=ledger.engagements[engagement_id], at=at)
        elif fact.kind == ENGAGEMENT:
            engagement_id, changes = fact.args
            engagement = dataclasses.replace(ledger.engagements[engagement_id], **changes)
            ledger.engagements[engagement_id] = engagement
            rules.on_engagement_change(
                ledger, engagement=engagement, status=ledger.status, severity=ledger.severity, at=at
            )
    ledger.actor_id = None
    ledger.finish()
    return ledger


# --- writing: COPY under ids reserved from the sequences ---------------------------------------------

CLOCK_COLUMNS = (
    "id", "incident_id", "engagement_id", "family", "metric", "policy_id", "calendar_id", "target",
    "warn_after", "state", "started_at", "due_at", "warn_due_at", "warned_at", "breached_at",
    "stopped_at", "consumed", "consumed_at", "pause_reason", "cycle",
)  # fmt: skip
EVENT_COLUMNS = ("id", "clock_id", "kind", "at", "reason", "actor_id", "data", "cycle", "notified_at")
TIMELINE_COLUMNS = ("incident_id", "actor_id", "kind", "created_at", "data")


def write_clocks(ledgers: Iterable[ReplayLedger]) -> tuple[int, int]:
    """Insert the ledgers' clocks, their events and their timeline rows; returns (clocks, events).

    COPY under ids reserved from the sequences: the timeline rows of crossings name their clock
    event, so the ids must be known before anything is written, and inserting a year of bulk
    history row by row (`bulk_create`) would take several times longer.
    """
    ledgers = [ledger for ledger in ledgers if ledger.clocks]
    clocks = [clock for ledger in ledgers for clock in ledger.clocks]
    if not clocks:
        return 0, 0
    events = [event for ledger in ledgers for clock in ledger.clocks for event in ledger.events[id(clock)]]
    with connection.cursor() as cursor:
        for clock, pk in zip(clocks, reserve_ids(cursor, SlaClock, len(clocks)), strict=True):
            clock.pk = pk
        for event, pk in zip(events, reserve_ids(cursor, SlaClockEvent, len(events)), strict=True):
            event.pk = pk
        # Read from the row's columns, not through its fields (`rules.new_clock` sets every one).
        clock_rows = ([clock.__dict__[column] for column in CLOCK_COLUMNS] for clock in clocks)
        event_rows = (
            (e.pk, e.clock.pk, e.kind, e.at, e.reason, e.actor_id, e.data, e.cycle, e.notified_at) for e in events
        )
        timeline_rows = (row for ledger in ledgers for row in timeline_rows_of(ledger))
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        copy_rows(raw, SlaClock._meta.db_table, CLOCK_COLUMNS, clock_rows)
        copy_rows(raw, SlaClockEvent._meta.db_table, EVENT_COLUMNS, event_rows)
        copy_rows(raw, CaseEvent._meta.db_table, TIMELINE_COLUMNS, timeline_rows)
    sla_rollup_mark(incident_ids={clock.incident_id for clock in clocks})  # the reports' days to re-compute
    return len(clocks), len(events)


def timeline_rows_of(ledger: ReplayLedger) -> list[tuple]:
    """The timeline rows of the ledger's pauses, resumes and crossings (once ids are set), as the
    columns `cases.timeline.event` would give its unsaved row: (incident id, actor id, kind,
    created at, data). Tuples: the writer needs only the columns, not a model instance per row."""
    rows = []
    for payload, clock, reason, at, actor_id, crossing in ledger.timeline:
        facts = rules.clock_facts(clock, reason)
        if crossing is not None:
            facts["event"] = crossing.pk
        event = payload(**facts)
        rows.append((ledger.incident.pk, actor_id, event.kind, at, event.data()))
    return rows


def reserve_ids(cursor, model, count: int) -> list[int]:
    table = model._meta.db_table
    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count])
    return [row[0] for row in cursor.fetchall()]


def copy_rows(cursor, table: str, columns: tuple[str, ...], rows) -> None:
    """COPY `rows` (sequences of Python values in `columns`' order; a JSON column's value is the
    object itself, not its text) into `table`, in PostgreSQL's binary format: the server stores
    each value as sent instead of parsing its text (timestamps, intervals, JSON), and psycopg
    packs it with the column's own type, read from the table once per statement."""
    cursor.execute(
        "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0", [table]
    )
    types = dict(cursor.fetchall())
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    with cursor.copy(statement) as copy:
        copy.set_types([types[column] for column in columns])
        for row in rows:
            copy.write_row(row)


# --- the curated demo: its history from the database -------------------------------------------------


def histories_from_database(incident_ids: Iterable[int]) -> dict[int, History]:
    """The history of each incident as the database holds it: its timeline (opening, status and
    severity changes), its sent notices, its partners' real replies and its engagements."""
    ids = list(incident_ids)
    histories = {pk: History() for pk in ids}
    changes = CaseEvent.objects.filter(incident_id__in=ids, kind__in=TIMELINE_FACTS).order_by("created_at", "id")
    for incident_id, kind, at, actor_id, data in changes.values_list(
        "incident_id", "kind", "created_at", "actor_id", "data"
    ):
        histories[incident_id].timeline_row(kind, at, actor_id, data)
    engagements = PartnerEngagement.objects.filter(incident_id__in=ids).select_related("partner").order_by("pk")
    for engagement in engagements:
        histories[engagement.incident_id].engagement(engagement)
    sent = Correspondence.objects.filter(
        incident_id__in=ids, direction=Correspondence.Direction.OUTBOUND, sent_at__isnull=False
    ).order_by("sent_at", "pk")
    for pk, incident_id, engagement_id, kind, created_at, sent_at in sent.values_list(
        "pk", "incident_id", "engagement_id", "kind", "created_at", "sent_at"
    ):
        histories[incident_id].notice_sent(
            pk=pk, kind=kind, created_at=created_at, sent_at=sent_at, engagement_id=engagement_id
        )
    replies = Correspondence.objects.filter(
        incident_id__in=ids,
        direction=Correspondence.Direction.INBOUND,
        is_auto_reply=False,
        engagement__isnull=False,
        received_at__isnull=False,
    ).order_by("received_at", "pk")
    for incident_id, engagement_id, received_at in replies.values_list("incident_id", "engagement_id", "received_at"):
        histories[incident_id].partner_replied(engagement_id=engagement_id, received_at=received_at)
    return histories


def seed_demo_clocks(*, prefix: str, now: datetime | None = None) -> int:
    """Clocks for the incidents with fingerprints starting with `prefix` that have none yet.

    Reads each incident's history from the database, so it also completes a desk seeded before
    SLAs existed. Returns how many incidents got clocks.
    """
    now = now or timezone.now()
    incidents = list(
        Incident.objects.filter(fingerprint__startswith=prefix, sla_clocks__isnull=True).order_by("created_at", "pk")
    )
    if not incidents:
        return 0
    histories = histories_from_database(incident.pk for incident in incidents)
    book = PolicyBook()
    ledgers = [replay(incident, histories[incident.pk], book=book, now=now) for incident in incidents]
    write_clocks(ledgers)
    return sum(1 for ledger in ledgers if ledger.clocks)


# --- bulk incidents: their history from the rows just inserted ---------------------------------------


def bulk_clocks(incidents, engagements, case_events, *, book: PolicyBook, now: datetime) -> tuple[int, int]:
    """Clocks for one batch of bulk incidents, from the rows the batch just inserted (saved, with ids).

    Bulk incidents have no mail: their partners were notified, acknowledged and resolved by hand
    (the engagement stamps), so those are the facts the rules hear of. Returns (clocks, events).
    """
    histories = {incident.pk: History() for incident in incidents}
    for event in case_events:
        histories[event.incident_id].timeline_row(event.kind, event.created_at, event.actor_id, event.data)
    for engagement in engagements:
        histories[engagement.incident_id].engagement(engagement)
    return write_clocks(replay(incident, histories[incident.pk], book=book, now=now) for incident in incidents)
