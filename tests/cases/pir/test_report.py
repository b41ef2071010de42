"""The post-incident report of the Prosa outage: its facts, its pages in both languages, its PDF
over the API, and who may read it."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from pypdf import PdfReader

from cases.pir.report import incident_report, report_language
from tests.api.helpers import token_client
from tests.cases.pir.scenario import INTERNAL_NOTE, PROSA_FOLIO


def test_the_report_reads_the_outage_in_the_desks_zone(report_desk):
    report = incident_report(incident=report_desk.desk.incident, language="es")
    assert report.language == "es" and report.zone == "America/Mexico_City"
    assert report.started.text == "sábado 10/08/2019, 10:47 h"
    assert report.started.iso == "2019-08-10T10:47:00-05:00"
    assert report.mitigated.text == "sábado 10/08/2019, 18:17 h"
    assert report.impact_duration == "7 h 30 min" and report.time_to_detect == "11 min"
    assert report.severity_text == "SEV1 – crítica" and report.severity == "sev1"
    # Impact: per merchant, and the rates weighted by attempts.
    assert [m.merchant for m in report.merchants] == ["Farmacias Nube", "Pizzería Roma"]
    assert report.approval_before == Decimal("0.9294")  # (0.9310 × 182,400 + 0.9050 × 12,300) ÷ 194,700
    assert report.approval_during == Decimal("0.4452")
    assert report.volumes_at_risk == [("MXN", Decimal("40755510.40"))]
    # Partners: Prosa acknowledged 23 minutes after its first notice, with its folio.
    prosa = next(row for row in report.partners if row.partner == "Prosa")
    assert (prosa.folio, prosa.time_to_acknowledge, prosa.replies) == (PROSA_FOLIO, "23 min", 1)
    assert prosa.time_to_resolve == "7 h 30 min"
    assert prosa.acknowledged.text == "sábado 10/08/2019, 11:30 h"
    # SLA attainment: ours met, Prosa's acknowledgement breached.
    assert [(c.label, c.state_text, c.target, c.elapsed) for c in report.clocks] == [
        ("Acuse de recibo", "Cumplido", "15 min", "12 min"),
        ("Prosa · Acuse de recibo", "Incumplido", "15 min", "23 min"),
    ]
    assert [(r.partner, r.status_text) for r in report.rcas] == [("Prosa", "Recibido")]
    assert [(a.title, a.owner, a.status_text) for a in report.action_items][0] == (
        "Rotate certificates with a canary",
        "Prosa",
        "Abierto",
    )
    # The timeline in order: the impact, then Prosa's reply and acknowledgement with its folio.
    texts = [(entry.source, entry.who, entry.text) for entry in report.timeline]
    assert texts.index(("ours", "Nuestra mesa", "Inicio de la afectación")) < texts.index(
        ("partner", "Prosa", f"Envió acuse de recibo, folio {PROSA_FOLIO}")
    )


def test_the_report_is_partner_safe(report_desk):
    data = json.dumps(incident_report(incident=report_desk.desk.incident, language="en").as_data(), ensure_ascii=False)
    assert INTERNAL_NOTE not in data
    assert "change ticket" not in data  # the RCA's decision note stays inside the desk
    assert "Rotación de certificados fallida" in data  # the partner's stated root cause is in


def test_the_language_falls_back_to_the_interface():
    assert report_language("es") == "es"
    assert report_language("fr") == "en"
    assert report_language("<script>") == "en"


@pytest.mark.parametrize(
    ("language", "headings"),
    [
        ("en", ["Post-incident report", "Summary", "Timeline", "Impact", "Partner responses", "Action items"]),
        (
            "es",
            [
                "Informe posterior al incidente",
                "Resumen",
                "Afectación",
                "Cronología",
                "Respuestas de los socios",
                "Cumplimiento de los SLA",
                "Acciones de seguimiento",
            ],
        ),
    ],
)
def test_the_page_in_each_language(report_desk, analyst, client, language, headings):
    client.force_login(analyst)
    incident = report_desk.desk.incident
    page = client.get(reverse("cases:incident_report", args=[incident.reference]), {"lang": language})
    assert page.status_code == 200
    html = page.content.decode()
    for heading in headings:
        assert heading in html
    assert f'lang="{language}"' in html and PROSA_FOLIO in html and incident.reference in html
    assert INTERNAL_NOTE not in html
    # The incident page links to it.
    detail = client.get(reverse("cases:incident_detail", args=[incident.reference])).content.decode()
    assert reverse("cases:incident_report", args=[incident.reference]) in detail


def test_hostile_language_and_unknown_reference(report_desk, analyst, outsider, client):
    client.force_login(analyst)
    url = reverse("cases:incident_report", args=[report_desk.desk.incident.reference])
    assert client.get(url, {"lang": "x" * 5000}).status_code == 200
    assert client.get(reverse("cases:incident_report", args=["PH-1999-999999"])).status_code == 404
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_the_english_pdf_and_the_data_over_the_api(report_desk, partner_manager):
    api = token_client(partner_manager)
    reference = report_desk.desk.incident.reference
    data = api.get(f"/api/v1/incidents/{reference}/report/", {"lang": "en"})
    assert data.status_code == 200
    body = data.json()
    assert body["reference"] == reference and body["impact_duration"] == "7 h 30 min"
    assert body["partners"][1]["folio"] == PROSA_FOLIO
    pdf = api.get(f"/api/v1/incidents/{reference}/report/pdf/", {"lang": "en"})
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert f"post-incident-report-{reference}.pdf" in pdf["Content-Disposition"]
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for heading in ("POST-INCIDENT REPORT", "Summary", "Partner responses", "SLA attainment", "Root cause"):
        assert heading in text
    assert reference in text and PROSA_FOLIO in text
