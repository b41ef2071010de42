"""One typed payload per timeline event kind: the keys a `CaseEvent.data` holds, fixed.

Every writer builds its event from the class of its kind (`StatusChanged(was=..., to=..., ...)`:
keyword-only, every key required), and every reader (the timeline's sentences, the SLA clocks,
webhook receivers through the documented keys) reads the same class back (`read(event)`), so a
reader can never look for a key the writer did not write: a misspelt field fails where it is
typed, in the writer's or the reader's own tests.

`data()` is what is stored: JSON values only, every key always present (None or "" where a fact
does not apply), so the shape of a kind never depends on the path that wrote it. Rows written
before a key existed read back with None for it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from cases.models import CaseEvent

Kind = CaseEvent.Kind
PAYLOADS: dict[str, type[Payload]] = {}


def key(name: str, **kwargs) -> Any:
    """A field stored under another key than its Python name ("from" is a keyword)."""
    return dataclasses.field(metadata={"key": name}, **kwargs)


_AS_IS = frozenset((str, int, float, bool))


def jsonable(value: Any) -> Any:
    if value is None or type(value) in _AS_IS:  # most values: nothing to convert, no checks
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {name: jsonable(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


# Each payload class's (field name, JSON key) pairs, read from its fields once: the bulk seed
# builds the data of millions of rows.
_NAMES: dict[type, tuple[tuple[str, str], ...]] = {}


def _names(cls: type) -> tuple[tuple[str, str], ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(
            (field.name, field.metadata.get("key", field.name)) for field in dataclasses.fields(cls)
        )
    return names


@dataclasses.dataclass(frozen=True, kw_only=True)
class Payload:
    """The facts of one timeline event; subclasses name their kind and list their keys."""

    kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            if cls.kind in PAYLOADS:
                raise TypeError(f"two payloads for the kind {cls.kind}")
            PAYLOADS[cls.kind] = cls

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The JSON keys of this kind, in order."""
        return tuple(field.metadata.get("key", field.name) for field in dataclasses.fields(cls))

    def data(self) -> dict:
        return {key: jsonable(getattr(self, name)) for name, key in _names(type(self))}

    @classmethod
    def from_data(cls, data: dict | None) -> Payload:
        """The payload of a stored row; keys it lacks (older rows) read as None."""
        data = cls.upgrade(dict(data or {}))
        return cls(**{field.name: data.get(field.metadata.get("key", field.name)) for field in dataclasses.fields(cls)})

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """Rename what older rows stored under other keys (none by default)."""
        return data


def sql_object(payload_class: type[Payload], columns: dict[str, str]) -> str:
    """`jsonb_build_object(...)` of a payload's keys for a bulk INSERT … SELECT, each key from its SQL
    expression; refuses a key too many or too few, so bulk rows have the same keys as `record`'s."""
    keys = payload_class.keys()
    if set(columns) != set(keys):
        raise ValueError(f"{payload_class.__name__} has the keys {keys}, not {tuple(columns)}")
    return "jsonb_build_object(" + ", ".join(f"'{name}', {columns[name]}" for name in keys) + ")"


def read(event: CaseEvent) -> Payload:
    """The typed payload of a stored timeline row."""
    return PAYLOADS[event.kind].from_data(event.data)


def _changes_from_fields(data: dict) -> dict:
    # Early admin edits listed the changed fields without their values.
    if data.get("changes") is None and isinstance(data.get("fields"), list):
        data["changes"] = {name: {} for name in data["fields"]}
    return data


# --- the incident ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class IncidentOpened(Payload):
    kind = Kind.OPENED
    reference: str
    severity: str
    category: str
    source: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatusChanged(Payload):
    """`partner` and `partner_code` name the partner the desk now waits on (waiting_on_partner only)."""

    kind = Kind.STATUS_CHANGED
    was: str = key("from")
    to: str
    reason: str
    partner: str | None
    partner_code: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class SeverityChanged(Payload):
    kind = Kind.SEVERITY_CHANGED
    was: str = key("from")
    to: str
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class OwnerChanged(Payload):
    """Usernames; None is nobody."""

    kind = Kind.OWNER_CHANGED
    was: str | None = key("from")
    to: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetailsChanged(Payload):
    """`changes`: {field: {"from": old, "to": new}} for each descriptive field that changed."""

    kind = Kind.DETAILS_CHANGED
    changes: dict

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        return _changes_from_fields(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoteAdded(Payload):
    kind = Kind.NOTE_ADDED
    note: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoteEdited(Payload):
    """`previous`: the text before the edit (the note keeps only its latest words)."""

    kind = Kind.NOTE_EDITED
    note: int
    previous: str


# --- merchants and partners --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class MerchantAdded(Payload):
    """`values`: the measured impact recorded with it ({field: value}), None when none was."""

    kind = Kind.MERCHANT_ADDED
    merchant: str
    account_id: str
    values: dict | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class MerchantUpdated(Payload):
    kind = Kind.MERCHANT_UPDATED
    merchant: str
    account_id: str
    changes: dict

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        return _changes_from_fields(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MerchantRemoved(Payload):
    """`values`: the last measured impact, kept here once the row is gone."""

    kind = Kind.MERCHANT_REMOVED
    merchant: str
    account_id: str
    values: dict


@dataclasses.dataclass(frozen=True, kw_only=True)
class PartnerEngaged(Payload):
    """`partner_status` is the status it was engaged with; `engagement` the row's id."""

    kind = Kind.PARTNER_ENGAGED
    partner: str
    code: str
    engagement: int
    folio: str
    partner_status: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PartnerUpdated(Payload):
    kind = Kind.PARTNER_UPDATED
    partner: str
    code: str
    engagement: int
    changes: dict

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        return _changes_from_fields(data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PartnerAcknowledged(Payload):
    """The partner's first real reply acknowledged the incident (`correspondence` is that reply)."""

    kind = Kind.PARTNER_ACKNOWLEDGED
    correspondence: int
    partner: str
    code: str
    folio: str
    changes: dict


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplyFactConfirmed(Payload):
    """A person confirmed a folio or ETA the partner's reply named (`fact` is "folio" or "eta")."""

    kind = Kind.REPLY_FACT_CONFIRMED
    correspondence: int
    partner: str
    code: str
    engagement: int
    fact: str
    changes: dict


# --- notices and replies -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeDrafted(Payload):
    kind = Kind.NOTICE_DRAFTED
    correspondence: int
    notice_kind: str
    partner: str
    language: str
    to: list
    template_version: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeEdited(Payload):
    """`changed`: which of subject and body_text the author changed."""

    kind = Kind.NOTICE_EDITED
    correspondence: int
    partner: str
    changed: list


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeSubmitted(Payload):
    kind = Kind.NOTICE_SUBMITTED
    correspondence: int
    partner: str
    language: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeApproved(Payload):
    kind = Kind.NOTICE_APPROVED
    correspondence: int
    partner: str
    comment: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeRejected(Payload):
    """`comment`: what the lead says must change (required)."""

    kind = Kind.NOTICE_REJECTED
    correspondence: int
    partner: str
    comment: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeQueued(Payload):
    """`retry`: a person queued a failed notice again; `requeued`: why the sweep queued it again
    ("stuck_in_queue", "interrupted_while_sending"), "" otherwise."""

    kind = Kind.NOTICE_QUEUED
    correspondence: int
    partner: str
    language: str
    retry: bool
    requeued: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeSent(Payload):
    """`to`: the addresses the server took; `refused`: the ones it refused, with its answer ("" if none)."""

    kind = Kind.NOTICE_SENT
    correspondence: int
    partner: str
    language: str
    to: list
    message_id: str
    attempts: int
    refused: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoticeFailed(Payload):
    kind = Kind.NOTICE_FAILED
    correspondence: int
    partner: str
    error: str
    attempts: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplyReceived(Payload):
    """A received message joined the incident. `matched_by`: header, subject or triage; `source`:
    imap, gateway, upload or triage. `partner_reply` is True for a real answer from an engaged
    partner (not an auto-reply, not a colleague's copy): that is what acknowledges and resumes."""

    kind = Kind.REPLY_RECEIVED
    correspondence: int
    partner: str
    engagement: int | None
    subject: str
    matched_by: str
    source: str
    auto_reply: bool
    sender: str = key("from")
    partner_reply: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportAttached(Payload):
    """The post-incident report, as a PDF in the notice's language, attached to a draft notice."""

    kind = Kind.REPORT_ATTACHED
    correspondence: int
    partner: str
    language: str
    filename: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class PartnerPortalAnswered(Payload):
    """A partner contact answered through a notice's acknowledgement link (`correspondence` is the
    reply it made). `contact` is who answered, `changes` the folio and ETA it set (from → to),
    `update` whether it wrote a text, `file` the name of the file it sent ("" without one)."""

    kind = Kind.PARTNER_PORTAL_ANSWERED
    correspondence: int
    partner: str
    engagement: int
    contact: str
    changes: dict
    update: bool
    file: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AckLinkRevoked(Payload):
    """The desk revoked a notice's acknowledgement link (`correspondence` is the notice)."""

    kind = Kind.ACK_LINK_REVOKED
    correspondence: int
    partner: str


# --- monitoring ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class AlertReceived(Payload):
    """A monitoring alert opened the incident (`outcome` "opened") or updated it ("updated").
    Rates are decimal strings (shares), `drop_pp` in percentage points, times ISO 8601."""

    kind = Kind.ALERT_RECEIVED
    outcome: str
    fingerprint: str
    source: str
    merchant: str
    account_id: str
    partner: str
    issuer: str
    network: str
    country: str
    bin_prefix: str
    window: dict
    baseline_rate: str
    observed_rate: str
    drop_pp: str
    attempts: int
    failed_attempts: int
    volume_at_risk: dict | None
    decline_codes: list
    severity_hint: str
    measured_severity: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class FindingLinked(Payload):
    """A detector finding joined the incident. `how`: "alerted" (the detector escalated it),
    "opened" (a person opened the incident from it), "attached" (a person attached it).
    `segment` is the segment as people read it in English, `segment_es` in Spanish; `partner` the
    partner engaged for it ("" for a mix shift or none). Rates are decimal strings (shares),
    `volume_at_risk` a decimal string in `currency`, times ISO 8601. `codes_before` are the
    decline-code counts over the baseline's `baseline_attempts`, `codes_during` over the window's
    `attempts`. `sentence_en` and
    `sentence_es` are the attribution in both languages ("" when nothing could be said)."""

    kind = Kind.FINDING_LINKED
    finding: int
    how: str
    finding_kind: str
    decline_code: str
    merchant: str
    account_id: str
    segment: str
    segment_es: str
    partner: str
    attribution_kind: str
    window: dict
    baseline_rate: str
    observed_rate: str
    attempts: int
    failed_attempts: int
    excess_declines: int
    volume_at_risk: str
    currency: str
    baseline_attempts: int
    codes_before: dict
    codes_during: dict
    sentence_en: str
    sentence_es: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResolutionProposed(Payload):
    """The detector saw a finding of the incident recover: its approval rate back within
    `within_pp` percentage points of the baseline for `buckets` buckets in a row. It proposes
    resolving; people decide. `open_findings` is how many of the incident's findings are still
    active (0: every one has recovered). `segment` reads in English, `segment_es` in Spanish."""

    kind = Kind.RESOLUTION_PROPOSED
    finding: int
    merchant: str
    segment: str
    segment_es: str
    baseline_rate: str
    observed_rate: str
    buckets: int
    within_pp: str
    open_findings: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class FindingDecided(Payload):
    """A person decided a detector finding of the incident: `decision` "suppressed" (the segment
    raises nothing until `until`, ISO 8601) or "false_positive" (`until` None). `segment` is the
    segment as people read it, `finding` the finding's id, `note` the reason given."""

    kind = Kind.FINDING_DECIDED
    finding: int
    decision: str
    segment: str
    until: str | None
    note: str


# --- billing cases -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplesUploaded(Payload):
    """An analyst uploaded `count` sample transactions (`filename`, masked); `partners`: the names of
    the partners some rows are for ("" stands for the rows for every partner)."""

    kind = Kind.SAMPLES_UPLOADED
    count: int
    filename: str
    partners: list


@dataclasses.dataclass(frozen=True, kw_only=True)
class SamplesRemoved(Payload):
    """`count` sample transactions were removed (`all`: every sample of the incident)."""

    kind = Kind.SAMPLES_REMOVED
    count: int
    all: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class BillingCaseOpened(Payload):
    """The desk opened a billing case with `partner` (its name and `code`) on this incident:
    `amount` in dispute (a decimal string in `currency`) for the month `period` (YYYY-MM), over
    `findings` (the cost findings' ids), to be disputed by `deadline` (ISO date)."""

    kind = Kind.BILLING_CASE_OPENED
    billing_case: int
    partner: str
    code: str
    period: str
    amount: str
    currency: str
    deadline: str
    findings: list


@dataclasses.dataclass(frozen=True, kw_only=True)
class BillingCaseAmended(Payload):
    """The desk corrected the billing case: `changes` maps "amount_disputed" and/or
    "dispute_deadline" to {"from", "to"} (decimal strings, ISO dates); `currency` of the amounts."""

    kind = Kind.BILLING_CASE_AMENDED
    billing_case: int
    currency: str
    changes: dict


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreditNoteRecorded(Payload):
    """The partner credited `amount` (decimal string in `currency`) with credit note `reference`
    issued on `issued_on` (ISO date); `credited` is the case's credited total since, `disputed` its
    amount in dispute; `settled` is true when this note settled the case (total reached or final)."""

    kind = Kind.CREDIT_NOTE_RECORDED
    billing_case: int
    credit_note: int
    partner: str
    reference: str
    amount: str
    currency: str
    issued_on: str
    credited: str
    disputed: str
    settled: bool


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeclineCountsChanged(Payload):
    """Decline-code counts of the incident changed. `changes`: {code: {"from": counts or None,
    "to": counts or None}} with counts {"count_before": int or None, "count_during": int}; None
    "from" is a code added, None "to" a code removed. `source`: "alert" or "manual"."""

    kind = Kind.DECLINE_COUNTS_CHANGED
    source: str
    changes: dict


# --- card data -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CardNumbersMasked(Payload):
    """Text PayHealth takes without being able to refuse it held `count` card numbers, masked
    before it was stored (`payhealth.pan`): `origin` "mail" (a received message, `correspondence`)
    or "alert" (a monitoring alert, `correspondence` None). Never the numbers themselves."""

    kind = Kind.CARD_NUMBERS_MASKED
    origin: str
    count: int
    correspondence: int | None


# --- SLA clocks ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaClockChange(Payload):
    """A clock (`clock`: its id) of the desk (`partner` None) or of a partner changed state."""

    clock: int
    metric: str
    family: str
    partner: str | None
    reason: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaPaused(SlaClockChange):
    kind = Kind.SLA_PAUSED


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaResumed(SlaClockChange):
    kind = Kind.SLA_RESUMED


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaCrossing(SlaClockChange):
    """`event`: the clock event the crossing fired (its facts, its notification)."""

    event: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaWarning(SlaCrossing):
    kind = Kind.SLA_WARNING


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaBreached(SlaCrossing):
    kind = Kind.SLA_BREACHED


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaEscalationWaiting(Payload):
    """A partner's breach was not escalated in `language`: the escalation notice (`correspondence`)
    stays a draft until the incident's partner-facing title and summary in that language are filled in."""

    kind = Kind.SLA_ESCALATION_WAITING
    correspondence: int
    partner: str
    language: str


# --- follow-through: RCAs and action items ------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class RcaRequested(Payload):
    """An RCA request notice went out: `due` (ISO 8601) is when the partner's analysis is due;
    `reminder` names a reminder drafted by PayHealth ("due_soon" or "overdue", "" for the request)."""

    kind = Kind.RCA_REQUESTED
    rca: int
    partner: str
    due: str
    correspondence: int | None
    reminder: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RcaChanged(Payload):
    """An RCA moved from one status to another (requested, received, accepted, rejected), with a note."""

    kind = Kind.RCA_CHANGED
    rca: int
    partner: str
    was: str = key("from")
    to: str
    note: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActionItemAdded(Payload):
    """`owner`: the desk user's username or the partner's name; `due`: ISO date or None."""

    kind = Kind.ACTION_ITEM_ADDED
    item: int
    title: str
    owner: str | None
    due: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActionItemChanged(Payload):
    """`changes`: field → {"from": …, "to": …} as text; `status` the item's status after the change."""

    kind = Kind.ACTION_ITEM_CHANGED
    item: int
    title: str
    status: str
    changes: dict
