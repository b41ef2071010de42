"""The Prosa outage with what a post-incident report reads: a reply with a folio, an acknowledgement,
an SLA clock met and one breached, an RCA request, action items, and a desk-internal note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from cases.models import ActionItem, Correspondence, InvestigationNote, RcaRequest
from tests.factories import SlaClockFactory
from tests.prosa import OUTAGE_END, OUTAGE_START, ProsaDesk, prosa_desk

INTERNAL_NOTE = "Sospechamos del cambio de certificados de anoche; no compartir"
PROSA_FOLIO = "PRS-20190810-0042"


@dataclass
class ReportDesk:
    desk: ProsaDesk
    reply: Correspondence


def _reply(desk: ProsaDesk, at) -> Correspondence:
    return Correspondence.objects.create(
        incident=desk.incident,
        engagement=desk.prosa_engagement,
        direction=Correspondence.Direction.INBOUND,
        status=Correspondence.Status.RECEIVED,
        language="es",
        subject=f"RE: [{desk.incident.reference}] Aviso de falla · Folio {PROSA_FOLIO}",
        body_text="Recibimos su aviso.",
        from_address="noc@prosa.test",
        message_id=f"<prosa-reply-{desk.incident.pk}@prosa.test>",
        received_at=at,
    )


def build_report_desk(lead) -> ReportDesk:
    desk = prosa_desk(owner=lead)
    incident = desk.incident
    incident.summary = "Prosa's switch declined card-present and online authorizations with 91 and 96."
    incident.root_cause = "A failed certificate rotation at Prosa's switch."
    incident.save(update_fields=["summary", "root_cause"])
    prosa = desk.prosa_engagement
    prosa.first_notified_at = OUTAGE_START + timedelta(minutes=20)  # 11:07
    prosa.acknowledged_at = OUTAGE_START + timedelta(minutes=43)  # 11:30: 23 min after the notice
    prosa.resolved_at = OUTAGE_END
    prosa.folio = PROSA_FOLIO
    prosa.partner_status = "resolved"
    prosa.save()
    reply = _reply(desk, prosa.acknowledged_at)
    InvestigationNote.objects.create(incident=incident, author=lead, body=INTERNAL_NOTE)
    SlaClockFactory(
        incident=incident,
        state="met",
        started_at=OUTAGE_START,
        stopped_at=OUTAGE_START + timedelta(minutes=12),
        consumed=timedelta(minutes=12),
        target=timedelta(minutes=15),
        due_at=None,
    )
    SlaClockFactory(
        incident=incident,
        engagement=prosa,
        metric="acknowledge",
        state="breached",
        started_at=prosa.first_notified_at,
        breached_at=prosa.first_notified_at + timedelta(minutes=15),
        stopped_at=prosa.acknowledged_at,
        consumed=timedelta(minutes=23),
        target=timedelta(minutes=15),
        due_at=None,
    )
    rca = RcaRequest.objects.create(
        incident=incident,
        engagement=prosa,
        status="received",
        requested_at=OUTAGE_END + timedelta(days=1),
        due_at=OUTAGE_END + timedelta(days=8),
        received_at=OUTAGE_END + timedelta(days=5),
        root_cause="Rotación de certificados fallida en el switch.",
        decision_note="Internal: ask for the change ticket",
    )
    ActionItem.objects.create(
        incident=incident,
        rca=rca,
        title="Rotate certificates with a canary",
        partner=desk.prosa,
        due_date=date(2019, 9, 30),
    )
    ActionItem.objects.create(incident=incident, title="Alert on 91 spikes per switch", owner=lead, status="open")
    return ReportDesk(desk=desk, reply=reply)
