"""What comes next in a partner's thread: the next logical notice kind, the warning before a
second breakage notice, and the due date an RCA request states.

A partner's thread moves breakage → update → resolution → RCA request. The next kind is read
from the notices on their way to the partner (queued, sending, sent) and the incident's status:
nothing sent yet → breakage; after a breakage or an update → update, or resolution once the
incident is mitigated or resolved; after a resolution → RCA request; after an RCA request →
follow-up. A second breakage notice to a partner that already got one on the incident is
refused unless the person confirms it (`confirm_repeat`).

The RCA due date is the close of the PAYHEALTH_RCA_DUE_BUSINESS_DAYS-th business day after the
day the request is drafted, on the partner's business calendar (Monday to Friday 09:00–18:00 in
the partner's time zone when it has none). A reminder of an open request keeps its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import dateformat, translation
from django.utils.translation import gettext as _

from cases.correspondence.context import moment
from cases.models import Correspondence, Incident, PartnerEngagement, RcaRequest
from cases.models.incident import Status as IncidentStatus
from partners.businesstime import Schedule, business_days_close, schedule_for
from partners.models import NoticeTemplate

Kind = NoticeTemplate.Kind
# A notice counts as received by the partner once it is on its way.
ON_ITS_WAY = (Correspondence.Status.QUEUED, Correspondence.Status.SENDING, Correspondence.Status.SENT)
# A breakage notice counts as given (for the repeat warning) once submitted for approval.
GIVEN = (Correspondence.Status.PENDING_APPROVAL, *ON_ITS_WAY)
STAGES = (Kind.BREAKAGE, Kind.UPDATE, Kind.RESOLUTION, Kind.RCA_REQUEST)
RESOLVED_STATUSES = (IncidentStatus.MITIGATED, IncidentStatus.RESOLVED, IncidentStatus.CLOSED)
OPEN_RCA = (RcaRequest.Status.REQUESTED, RcaRequest.Status.RECEIVED, RcaRequest.Status.REJECTED)
EMPTY_RCA = {"due": None, "due_date": "", "reminder": False, "overdue": False}
# Without a partner calendar: Monday to Friday, 09:00–18:00 in the partner's time zone.
WEEKDAY_HOURS = (((time(9), time(18)),),) * 5 + ((), ())


@dataclass(frozen=True)
class NextKind:
    """The kind a partner's next notice should be, and why (shown on the compose page)."""

    kind: str
    reason: str


def _next(last: str | None, incident_status: str) -> NextKind:
    resolved = incident_status in RESOLVED_STATUSES
    if last is None:
        return NextKind(Kind.BREAKAGE, _("Nothing was sent to this partner yet."))
    if last in (Kind.BREAKAGE, Kind.UPDATE):
        if resolved:
            return NextKind(Kind.RESOLUTION, _("The incident is mitigated or resolved since the last notice."))
        if last == Kind.BREAKAGE:
            return NextKind(Kind.UPDATE, _("The breakage notice went out; the next message is an update."))
        return NextKind(Kind.UPDATE, _("The partner is waiting for the next update."))
    if last == Kind.RESOLUTION:
        return NextKind(Kind.RCA_REQUEST, _("The resolution notice went out; ask for the root cause analysis."))
    return NextKind(Kind.FOLLOW_UP, _("The RCA was requested; follow up on it."))


def next_notice_kinds(incident: Incident) -> dict[int, NextKind]:
    """The next logical kind for every engaged partner of the incident, by partner id (one query)."""
    sent = Correspondence.objects.filter(
        incident=incident,
        direction=Correspondence.Direction.OUTBOUND,
        status__in=ON_ITS_WAY,
        kind__in=STAGES,
        engagement__isnull=False,
    ).values_list("engagement__partner_id", "kind")
    furthest: dict[int, int] = {}
    for partner_id, kind in sent:
        furthest[partner_id] = max(furthest.get(partner_id, -1), STAGES.index(kind))
    partner_ids = PartnerEngagement.objects.filter(incident=incident).values_list("partner_id", flat=True)
    return {pk: _next(STAGES[furthest[pk]] if pk in furthest else None, incident.status) for pk in partner_ids}


def suggested_kind(suggestions: dict[int, NextKind]) -> str:
    """The kind most partners are due for (the earliest in the thread on a tie)."""
    if not suggestions:
        return Kind.BREAKAGE
    order = [*STAGES, Kind.FOLLOW_UP]
    counts: dict[str, int] = {}
    for suggestion in suggestions.values():
        counts[suggestion.kind] = counts.get(suggestion.kind, 0) + 1
    return min(counts, key=lambda kind: (-counts[kind], order.index(kind)))


def partners_with_breakage(incident: Incident, partner_ids=None) -> list[str]:
    """Names of the partners that already got a breakage notice on this incident (submitted or sent)."""
    given = Correspondence.objects.filter(
        incident=incident,
        direction=Correspondence.Direction.OUTBOUND,
        kind=Kind.BREAKAGE,
        status__in=GIVEN,
        engagement__isnull=False,
    )
    if partner_ids is not None:
        given = given.filter(engagement__partner_id__in=list(partner_ids))
    return sorted(set(given.values_list("engagement__partner__name", flat=True)))


# --- the RCA due date ---------------------------------------------------------------------------


def partner_schedule(partner) -> Schedule:
    if partner.calendar_id:
        return schedule_for(partner.calendar)
    return Schedule(tz=ZoneInfo(partner.timezone), always_open=False, hours=WEEKDAY_HOURS)


def rca_due(partner, requested_at: datetime) -> datetime:
    """The close of the Nth business day after the request's day on the partner's calendar."""
    return business_days_close(partner_schedule(partner), requested_at, settings.PAYHEALTH_RCA_DUE_BUSINESS_DAYS)


def due_date_text(value: datetime, zone: str, language: str) -> str:
    """ "viernes 16/08/2019" in Spanish, "Friday, 16 August 2019" in English (the partner's day)."""
    local = value.astimezone(ZoneInfo(zone))
    with translation.override(language):
        return dateformat.format(local, "l d/m/Y" if language == "es" else "l, j F Y")


def open_rca(engagement: PartnerEngagement) -> RcaRequest | None:
    return RcaRequest.objects.filter(engagement=engagement, status__in=OPEN_RCA).order_by("-requested_at").first()


def rca_context(engagement: PartnerEngagement, *, language: str, now: datetime) -> dict:
    """`rca` of an RCA request's context: a reminder of an open request keeps its due date."""
    partner = engagement.partner
    existing = open_rca(engagement) if engagement.pk else None
    due = existing.due_at if existing is not None else rca_due(partner, now)
    return {
        "due": moment(due, partner.timezone, language),  # the zone named in the notice's language
        "due_date": due_date_text(due, partner.timezone, language),
        "reminder": existing is not None,
        "overdue": existing is not None and now >= existing.due_at,
    }
