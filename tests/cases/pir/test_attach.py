"""Attaching the report to a draft notice: the Spanish PDF on Prosa's draft, approved, and
delivered through a real SMTP server; and every refusal, before any PDF is made."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.models import Attachment, CaseEvent, Correspondence
from tests.api.helpers import token_client
from tests.cases.pir.scenario import INTERNAL_NOTE, PROSA_FOLIO
from tests.support import scripted_smtp_server, smtp_settings


def _prosa_draft(report_desk, author) -> Correspondence:
    desk = report_desk.desk
    result = notice_compose(incident=desk.incident, actor=author, kind="breakage", partners=[desk.prosa])
    (draft,) = result.drafts
    return draft


def test_the_spanish_report_rides_on_prosas_notice_to_the_mail_server(report_desk, analyst, lead, settings):
    draft = _prosa_draft(report_desk, analyst)
    assert draft.language == "es"
    answer = token_client(analyst).post(f"/api/v1/correspondence/{draft.pk}/report/")
    assert answer.status_code == 201, answer.content
    reference = report_desk.desk.incident.reference
    filename = f"informe-posterior-al-incidente-{reference}.pdf"
    assert answer.json()["filename"] == filename
    (attachment,) = Attachment.objects.filter(correspondence=draft)
    assert attachment.content_type == "application/pdf" and attachment.size == len(attachment.content)
    event = CaseEvent.objects.get(incident=report_desk.desk.incident, kind="report_attached")
    assert event.actor == analyst and event.data["filename"] == filename and event.data["language"] == "es"

    notice_submit(correspondence=draft, actor=analyst)  # SEV1: a lead approves, which sends it
    notice_approve(correspondence=draft, actor=lead, comment="")
    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"
    (message,) = smtp.accepted
    assert message["To"] == "noc@prosa.test"
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == filename and part.get_content_type() == "application/pdf"
    pdf = PdfReader(io.BytesIO(part.get_payload(decode=True)))
    text = " ".join(page.extract_text() for page in pdf.pages)
    for heading in (
        "INFORME POSTERIOR AL INCIDENTE",
        "Resumen",
        "Cronología",
        "Afectación",
        "Respuestas de los socios",
        "Cumplimiento de los SLA",
        "Causa raíz",
        "Acciones de seguimiento",
    ):
        assert heading in text
    assert reference in text and PROSA_FOLIO in text and "sábado 10/08/2019, 10:47 h" in text
    assert INTERNAL_NOTE not in text


def test_refusals_come_before_any_pdf(report_desk, analyst, partner_manager, client):
    desk = report_desk.desk
    draft = _prosa_draft(report_desk, analyst)
    # Someone else's draft: only its author may change it.
    assert token_client(partner_manager).post(f"/api/v1/correspondence/{draft.pk}/report/").status_code == 403
    # A partner marked not involved gets no report.
    desk.prosa_engagement.partner_status = "not_involved"
    desk.prosa_engagement.save(update_fields=["partner_status"])
    refused = token_client(analyst).post(f"/api/v1/correspondence/{draft.pk}/report/")
    assert refused.status_code == 400 and "engaged" in refused.content.decode()
    # A received reply is not a notice; an unknown id is a 404.
    assert token_client(analyst).post(f"/api/v1/correspondence/{report_desk.reply.pk}/report/").status_code == 404
    assert token_client(analyst).post("/api/v1/correspondence/999999999/report/").status_code == 404
    # Only drafts: a notice waiting for approval is refused on the page too, with the reason shown.
    desk.prosa_engagement.partner_status = "notified"
    desk.prosa_engagement.save(update_fields=["partner_status"])
    notice_submit(correspondence=draft, actor=analyst)
    client.force_login(analyst)
    page = client.post(reverse("cases:notice_attach_report", args=[draft.pk]), follow=True)
    assert page.status_code == 200
    assert "it cannot be changed that way" in page.content.decode()
    assert not Attachment.objects.filter(correspondence=draft).exists()
    assert not CaseEvent.objects.filter(kind="report_attached").exists()


def test_the_draft_offers_the_button_to_its_author_only(report_desk, analyst, partner_manager, client):
    draft = _prosa_draft(report_desk, analyst)
    url = reverse("cases:incident_notices", args=[report_desk.desk.incident.reference])  # the page's section
    action = reverse("cases:notice_attach_report", args=[draft.pk])
    client.force_login(analyst)
    assert action in client.get(url).content.decode()
    client.force_login(partner_manager)
    assert action not in client.get(url).content.decode()


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_timeline_says_it_in_both_languages(report_desk, analyst, language):
    from django.utils import translation

    from cases import timeline
    from cases.timeline.events import ReportAttached
    from cases.timeline.sentences import sentence

    event = timeline.record(
        ReportAttached(correspondence=1, partner="Prosa", language="es", filename="informe.pdf"),
        incident=report_desk.desk.incident,
        actor=analyst,
    )
    with translation.override(language):
        text = str(sentence(event))
    expected = "adjuntó el informe posterior al incidente" if language == "es" else "attached the post-incident report"
    assert expected in text and "informe.pdf" in text and "Prosa" in text
