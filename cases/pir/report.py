"""The facts of a post-incident report, read once and shaped for the page, the PDF and the API.

`incident_report(incident=…, language=…)` reads the incident, its partners, their replies, the SLA
clocks, the RCA requests and the action items, and returns a `PostIncidentReport` whose texts are
already in the report's language and whose times are in the desk's zone (PAYHEALTH_TIME_ZONE).

The report is partner-safe: no investigation notes, no notes on merchants' impact rows, no RCA
decision notes, no timeline event that only the desk needs (notes, drafts, edits, approvals).
Nothing here writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from cases.models import (
    ActionItem,
    AffectedMerchant,
    CaseEvent,
    Correspondence,
    Incident,
    PartnerEngagement,
    RcaRequest,
    SlaClock,
)
from cases.pir.extensions import ReportChart, report_charts
from cases.sla.durations import format_duration
from cases.sla.selectors import clock_badge, clock_label, clock_schedules
from cases.timeline.sentences import sentence
from payhealth.i18n import Language, desk_zone

Kind = CaseEvent.Kind

# The desk's own events a partner may read about: how the incident moved, who was engaged, what
# was sent, which commitment was missed. Notes, drafts, edits and approvals stay inside the desk.
KEY_EVENT_KINDS = (
    Kind.OPENED,
    Kind.SEVERITY_CHANGED,
    Kind.STATUS_CHANGED,
    Kind.PARTNER_ENGAGED,
    Kind.NOTICE_SENT,
    Kind.SLA_BREACHED,
)
MAX_TIMELINE_EVENTS = 200
MAX_REPLIES = 200


@dataclass
class Moment:
    """An instant as the report shows it: ISO 8601 for machines, desk-zone text for people."""

    iso: str
    text: str


@dataclass
class TimelineEntry:
    at: Moment
    source: str  # "ours" or "partner"
    who: str
    text: str


@dataclass
class MerchantImpact:
    merchant: str
    baseline_rate: Decimal | None
    observed_rate: Decimal | None
    attempts: int
    failed_attempts: int
    excess_declines: int | None
    volume_at_risk: Decimal | None
    currency: str


@dataclass
class PartnerResponse:
    partner: str
    kind: str
    status: str
    folio: str
    first_notified: Moment | None
    acknowledged: Moment | None
    time_to_acknowledge: str
    resolved: Moment | None
    time_to_resolve: str
    replies: int


@dataclass
class ClockAttainment:
    label: str
    family: str
    state: str  # met / breached / running / paused / cancelled
    state_text: str
    target: str
    elapsed: str
    business: bool


@dataclass
class PartnerRca:
    partner: str
    status: str
    status_text: str
    requested: Moment
    due: Moment
    received: Moment | None
    root_cause: str


@dataclass
class ActionItemRow:
    title: str
    owner: str
    due: str
    status: str
    status_text: str


@dataclass
class PostIncidentReport:
    reference: str
    language: str
    zone: str
    generated: Moment
    title: str
    summary: str
    severity: str
    severity_text: str
    category_text: str
    status_text: str
    started: Moment | None
    detected: Moment | None
    mitigated: Moment | None
    resolved: Moment | None
    impact_duration: str
    time_to_detect: str
    timeline: list[TimelineEntry] = field(default_factory=list)
    merchants: list[MerchantImpact] = field(default_factory=list)
    approval_before: Decimal | None = None
    approval_during: Decimal | None = None
    excess_declines: int = 0
    volumes_at_risk: list[tuple[str, Decimal]] = field(default_factory=list)
    charts: list[ReportChart] = field(default_factory=list)
    partners: list[PartnerResponse] = field(default_factory=list)
    clocks: list[ClockAttainment] = field(default_factory=list)
    root_cause: str = ""
    rcas: list[PartnerRca] = field(default_factory=list)
    action_items: list[ActionItemRow] = field(default_factory=list)

    def as_data(self) -> dict:
        """JSON values only (Decimals as strings; charts left out: they are drawings)."""
        data = asdict(self)
        data.pop("charts")
        data["volumes_at_risk"] = [{"currency": c, "amount": str(a)} for c, a in self.volumes_at_risk]
        return _jsonable(data)


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def report_language(value: str | None) -> str:
    """The language asked for when it is one of the desk's, else the active (UI) language."""
    if value in Language.values:
        return value
    active = (translation.get_language() or Language.ENGLISH)[:2]
    return active if active in Language.values else Language.ENGLISH


# "sábado 10/08/2019, 10:47 h" as a Mexican bank writes it; "Sat 10 Aug 2019, 10:47" in English.
_MOMENT_FORMATS = {Language.SPANISH: r"l d/m/Y, H:i \h", Language.ENGLISH: "D j M Y, H:i"}


def _active() -> str:
    return Language.SPANISH if (translation.get_language() or "").startswith("es") else Language.ENGLISH


def _moment(value: datetime | None) -> Moment | None:
    if value is None:
        return None
    local = timezone.localtime(value, desk_zone())
    return Moment(iso=local.isoformat(), text=formats.date_format(local, _MOMENT_FORMATS[_active()]))


def _span(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None or end < start:
        return ""
    return format_duration(end - start)


def _weighted(rows: list[AffectedMerchant], attribute: str) -> Decimal | None:
    measured = [row for row in rows if getattr(row, attribute) is not None and row.attempts]
    attempts = sum(row.attempts for row in measured)
    if not attempts:
        return None
    total = sum(getattr(row, attribute) * row.attempts for row in measured)
    return (total / attempts).quantize(Decimal("0.0001"))


def _timeline(incident: Incident, engagements: list[PartnerEngagement], replies: list[Correspondence]):
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    desk = _("Our desk")
    for label, when in (
        (_("Impact started"), incident.started_at),
        (_("Detected"), incident.detected_at),
        (_("Mitigated"), incident.mitigated_at),
        (_("Resolved"), incident.resolved_at),
    ):
        if when is not None:
            entries.append((when, 0, TimelineEntry(at=_moment(when), source="ours", who=desk, text=label)))
    events = (
        CaseEvent.objects.filter(incident=incident, kind__in=KEY_EVENT_KINDS)
        .select_related("actor")
        .order_by("created_at", "id")[:MAX_TIMELINE_EVENTS]
    )
    for event in events:
        if event.kind == Kind.NOTICE_SENT:  # the sentence lists recipients' addresses: the partner alone here
            text = _("Notice sent to %(partner)s.") % {"partner": event.data.get("partner") or "—"}
        else:
            text = str(sentence(event))
        entries.append((event.created_at, 1, TimelineEntry(_moment(event.created_at), "ours", desk, text)))
    for reply in replies:
        partner = reply.engagement.partner.name
        entries.append(
            (reply.received_at, 2, TimelineEntry(_moment(reply.received_at), "partner", partner, _("Reply received")))
        )
    for engagement in engagements:
        partner = engagement.partner.name
        if engagement.acknowledged_at:
            text = _("Acknowledged receipt")
            if engagement.folio:
                text = _("Acknowledged receipt, folio %(folio)s") % {"folio": engagement.folio}
            at = engagement.acknowledged_at
            entries.append((at, 3, TimelineEntry(_moment(at), "partner", partner, text)))
        if engagement.resolved_at:
            at = engagement.resolved_at
            entries.append((at, 3, TimelineEntry(_moment(at), "partner", partner, _("Reported the fault resolved"))))
    entries.sort(key=lambda item: (item[0], item[1]))
    return [entry for _at, _order, entry in entries]


def _partners(incident: Incident, engagements: list[PartnerEngagement], replies: list[Correspondence]):
    counts: dict[int, int] = {}
    for reply in replies:
        counts[reply.engagement_id] = counts.get(reply.engagement_id, 0) + 1
    rows = []
    for engagement in engagements:
        rows.append(
            PartnerResponse(
                partner=engagement.partner.name,
                kind=str(engagement.partner.get_kind_display()),
                status=str(engagement.get_partner_status_display()),
                folio=engagement.folio,
                first_notified=_moment(engagement.first_notified_at),
                acknowledged=_moment(engagement.acknowledged_at),
                time_to_acknowledge=_span(engagement.first_notified_at, engagement.acknowledged_at),
                resolved=_moment(engagement.resolved_at),
                time_to_resolve=_span(incident.started_at, engagement.resolved_at),
                replies=counts.get(engagement.pk, 0),
            )
        )
    return rows


def _clocks(incident: Incident, now: datetime) -> list[ClockAttainment]:
    clocks = list(
        SlaClock.objects.filter(incident=incident)
        .select_related("calendar", "engagement__partner")
        .order_by("family", "engagement__partner__name", "metric", "cycle", "id")
    )
    schedules = clock_schedules(clocks)
    rows = []
    for clock in clocks:
        schedule = schedules.get(clock.calendar_id)
        if schedule is None:
            continue
        badge = clock_badge(clock, now=now, schedule=schedule)
        partner = clock.engagement.partner.name if clock.engagement_id else None
        rows.append(
            ClockAttainment(
                label=clock_label(metric=clock.metric, partner=partner),
                family=str(clock.get_family_display()),
                state=clock.state,
                state_text=str(clock.get_state_display()),
                target=format_duration(clock.target, business=badge.business),
                elapsed=format_duration(badge.consumed_now, business=badge.business),
                business=badge.business,
            )
        )
    return rows


def _rcas(incident: Incident) -> list[PartnerRca]:
    rows = RcaRequest.objects.filter(incident=incident).select_related("engagement__partner")
    return [
        PartnerRca(
            partner=row.engagement.partner.name,
            status=row.status,
            status_text=str(row.get_status_display()),
            requested=_moment(row.requested_at),
            due=_moment(row.due_at),
            received=_moment(row.received_at),
            root_cause=row.root_cause,
        )
        for row in rows
    ]


def _owner(item: ActionItem) -> str:
    if item.partner_id:
        return item.partner.name
    if item.owner_id:
        return item.owner.get_full_name() or item.owner.get_username()
    return "—"


def _action_items(incident: Incident) -> list[ActionItemRow]:
    rows = ActionItem.objects.filter(incident=incident).select_related("owner", "partner")
    return [
        ActionItemRow(
            title=item.title,
            owner=_owner(item),
            due=formats.date_format(item.due_date, "SHORT_DATE_FORMAT") if item.due_date else "—",
            status=item.status,
            status_text=str(item.get_status_display()),
        )
        for item in rows
    ]


def incident_report(*, incident: Incident, language: str, now: datetime | None = None) -> PostIncidentReport:
    """The report of one incident in `language` ("en" or "es"). The caller has checked the reader
    may see the incident (`cases.selectors.incident_visible_or_404`)."""
    now = now or timezone.now()
    language = report_language(language)
    with translation.override(language):
        engagements = list(incident.engagements.select_related("partner").order_by("partner__name", "id"))
        replies = list(
            Correspondence.objects.filter(
                incident=incident,
                direction=Correspondence.Direction.INBOUND,
                engagement__isnull=False,
                is_auto_reply=False,
                received_at__isnull=False,
            )
            .select_related("engagement__partner")
            .order_by("received_at", "id")[:MAX_REPLIES]
        )
        merchants = list(incident.affected_merchants.select_related("merchant").order_by("merchant__name", "id"))
        volumes: dict[str, Decimal] = {}
        for row in merchants:
            if row.volume_at_risk:
                volumes[row.currency] = volumes.get(row.currency, Decimal(0)) + row.volume_at_risk
        impact_end = incident.resolved_at or incident.mitigated_at
        return PostIncidentReport(
            reference=incident.reference,
            language=language,
            zone=str(desk_zone()),
            generated=_moment(now),
            title=incident.title,
            summary=incident.summary,
            severity=incident.severity,
            severity_text=str(incident.get_severity_display()),
            category_text=str(incident.get_category_display()),
            status_text=str(incident.get_status_display()),
            started=_moment(incident.started_at),
            detected=_moment(incident.detected_at),
            mitigated=_moment(incident.mitigated_at),
            resolved=_moment(incident.resolved_at),
            impact_duration=_span(incident.started_at, impact_end),
            time_to_detect=_span(incident.started_at, incident.detected_at),
            timeline=_timeline(incident, engagements, replies),
            merchants=[
                MerchantImpact(
                    merchant=row.merchant.name,
                    baseline_rate=row.baseline_rate,
                    observed_rate=row.observed_rate,
                    attempts=row.attempts,
                    failed_attempts=row.failed_attempts,
                    excess_declines=row.excess_declines,
                    volume_at_risk=row.volume_at_risk,
                    currency=row.currency,
                )
                for row in merchants
            ],
            approval_before=_weighted(merchants, "baseline_rate"),
            approval_during=_weighted(merchants, "observed_rate"),
            excess_declines=sum(row.excess_declines or 0 for row in merchants),
            volumes_at_risk=sorted(volumes.items()),
            charts=report_charts(incident),
            partners=_partners(incident, engagements, replies),
            clocks=_clocks(incident, now),
            root_cause=incident.root_cause,
            rcas=_rcas(incident),
            action_items=_action_items(incident),
        )


def report_filename(reference: str, language: str) -> str:
    """`post-incident-report-PH-2026-000123.pdf`, or its Spanish name."""
    with translation.override(language):
        return _("post-incident-report-%(reference)s.pdf") % {"reference": reference}


__all__ = ["PostIncidentReport", "incident_report", "report_filename", "report_language"]
