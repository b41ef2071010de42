"""The billing-discrepancy notice: its Spanish and English text, its CSV of sample references, and
its way out (compose, a lead's approval, delivery to a real SMTP server on loopback)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.correspondence.compose import notice_compose
from cases.correspondence.context import notice_context
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.models import Attachment, CaseEvent, Correspondence, Incident
from cases.services.impact import engagement_add
from cases.services.incidents import incident_open
from costs.models import BillingCase, CostFinding
from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from tests.api.helpers import token_client
from tests.costs.conftest import JUNE, load, records
from tests.support import scripted_smtp_server, smtp_settings

KIND = "billing_discrepancy"
DEADLINE = date(2026, 8, 30)
CSV_ES = (
    "referencia,hallazgo,cohorte,tipo de cargo,moneda,esperado,cobrado\r\n"
    "ARN0000000,Desviación de tasa,network=visa; funding=debit; region=domestic; entry_mode=ecommerce"
    ",Cuota de intercambio,MXN,7.50,14.50\r\n"
    "ARN0000001,Desviación de tasa,network=visa; funding=debit; region=domestic; entry_mode=ecommerce"
    ",Cuota de intercambio,MXN,7.50,14.50\r\n"
    "CRD0000000,Desviación de tasa,network=visa; funding=credit,Cuota de intercambio,MXN,,\r\n"
)


@dataclass
class BillingDesk:
    partner: Partner
    incident: Incident
    case: BillingCase
    spanish: PartnerContact


def billing_desk(*, analyst, approved_card, english_contact: bool = False, cohort_giro: str = "") -> BillingDesk:
    load_notice_templates(NoticeTemplate)
    partner = Partner.objects.create(
        code="adquirente-norte",
        name="Adquirente Norte",
        kind="acquirer",
        country="MX",
        language="es",
        timezone="America/Mexico_City",
    )
    spanish = PartnerContact.objects.create(partner=partner, name="Conciliación", email="conciliacion@norte.test")
    if english_contact:
        PartnerContact.objects.create(partner=partner, name="Billing", email="billing@norte.test", language="en")
    card = approved_card(partner, [{"fee_type": "interchange", "network": "visa", "rate_bps": Decimal("150")}])
    rule = card.rules.get()
    load(partner, records(2, days=1, fee_bps=290))  # ARN0000000, ARN0000001: 14.50 billed on 500.00 each
    incident = incident_open(
        actor=analyst, title="Intercambio cobrado por encima de la tarifa", category="cost_rate", severity="sev2"
    )
    engagement_add(incident=incident, actor=analyst, partner=partner, folio="ACL-2231")
    case = BillingCase.objects.create(
        incident=incident,
        partner=partner,
        period=JUNE,
        amount_disputed=Decimal("17750.00"),
        dispute_deadline=DEADLINE,
        opened_by=analyst,
    )
    debit = {"network": "visa", "funding": "debit", "region": "domestic", "entry_mode": "ecommerce"}
    finding = CostFinding.objects.create
    common = {
        "kind": "rate_deviation",
        "partner": partner,
        "period": JUNE,
        "fee_type": "interchange",
        "rate_card": card,
        "rule": rule,
        "rate_card_version": card.version,
        "severity": "high",
        "billing_case": case,
    }
    finding(
        **common,
        key=f"rate_deviation:{partner.pk}:2026-06:debit",
        cohort=debit,
        count=1250,
        volume=Decimal("1250000.00"),
        expected_bps=Decimal("150"),
        billed_bps=Decimal("290"),
        expected_amount=Decimal("18750.00"),
        billed_amount=Decimal("36250.00"),
        amount=Decimal("17500.00"),
        sample_references=["ARN0000000", "ARN0000001"],
    )
    finding(
        **common,
        key=f"rate_deviation:{partner.pk}:2026-06:credit",
        cohort={"network": "visa", "funding": "credit", **({"giro": cohort_giro} if cohort_giro else {})},
        count=200,
        volume=Decimal("100000.00"),
        expected_bps=Decimal("180"),
        billed_bps=Decimal("205"),
        expected_amount=Decimal("1800.00"),
        billed_amount=Decimal("2050.00"),
        amount=Decimal("250.00"),
        sample_references=["CRD0000000"],  # a reference whose fee record is not on file
    )
    return BillingDesk(partner=partner, incident=incident, case=case, spanish=spanish)


def compose(desk, actor):
    return notice_compose(incident=desk.incident, actor=actor, kind=KIND, partners=[desk.partner])


def test_the_spanish_and_english_notices_carry_the_table_rate_card_totals_and_deadline(analyst, approved_card):
    desk = billing_desk(analyst=analyst, approved_card=approved_card, english_contact=True)

    drafts = {row.language: row for row in compose(desk, analyst).drafts}

    reference = desk.incident.reference
    spanish, english = drafts["es"], drafts["en"]
    assert spanish.to_addresses == ["conciliacion@norte.test"] and english.to_addresses == ["billing@norte.test"]
    assert spanish.subject == f"[{reference}] Aclaración de cobro 2026-06: MXN 17,750.00 en aclaración"
    assert english.subject == f"[{reference}] Billing discrepancy 2026-06: MXN 17,750.00 in dispute"
    version = desk.case.findings.first().rate_card_version
    spanish_lines = [
        "Estimado equipo de Adquirente Norte:",
        f"Nuestra referencia: {reference}",
        "Su folio: ACL-2231",
        "Tarifa aplicada",
        f"- Versión {version}, vigente desde el 2026-06-01",
        "Cargos en aclaración (MXN)",
        "| Segmento | Comisión | Operaciones | Volumen MXN | pb esperados | pb cobrados | Esperado MXN | Cobrado MXN "
        "| Diferencia MXN |",
        "| red: visa; tipo de fondeo: Débito; Nacional; modo de entrada: ecommerce | Cuota de intercambio | 1,250 "
        "| 1,250,000.00 | 150.00 | 290.00 | 18,750.00 | 36,250.00 | 17,500.00 |",
        "| red: visa; tipo de fondeo: Crédito | Cuota de intercambio | 200 | 100,000.00 | 180.00 | 205.00 | 1,800.00 "
        "| 2,050.00 | 250.00 |",
        "| Total | | | | | | MXN 20,550.00 | MXN 38,300.00 | MXN 17,750.00 |",
        "Causa probable",
        "Monto total en aclaración: MXN 17,750.00",
        "1. Emitir una nota de crédito o una factura corregida por MXN 17,750.00 a más tardar el 2026-08-30, "
        "dentro del plazo de aclaración.",
        f"3. Revisar el archivo adjunto aclaracion-de-cobro-{reference}.csv, con referencias de operaciones de "
        "muestra de cada cargo (sin datos de tarjeta).",
    ]
    body = spanish.body_text.splitlines()
    for line in spanish_lines:
        assert line in body, line
    cause = next(line for line in body if line.startswith("- Adquirente Norte cobró Cuota de intercambio a 290.00 pb"))
    assert f"la versión {version} de la tarifa indica 150.00 pb" in cause
    english_lines = [
        "Hello Adquirente Norte team,",
        f"- Version {version}, in force from 2026-06-01",
        "| Cohort | Fee | Transactions | Volume MXN | Expected bps | Billed bps | Expected MXN | Billed MXN "
        "| Difference MXN |",
        "| network: visa; funding: Debit; Domestic; entry mode: ecommerce | Interchange | 1,250 | 1,250,000.00 "
        "| 150.00 | 290.00 | 18,750.00 | 36,250.00 | 17,500.00 |",
        "| network: visa; funding: Credit | Interchange | 200 | 100,000.00 | 180.00 | 205.00 | 1,800.00 | 2,050.00 "
        "| 250.00 |",
        "| Total | | | | | | MXN 20,550.00 | MXN 38,300.00 | MXN 17,750.00 |",
        "Total in dispute: MXN 17,750.00",
        "1. Please send us a credit note or a corrected invoice for MXN 17,750.00 no later than 2026-08-30, "
        "within the dispute window.",
    ]
    for line in english_lines:
        assert line in english.body_text.splitlines(), line
    assert "- Adquirente Norte billed Interchange at 205.00 bps" in english.body_text
    # The notice goes through the usual approval: a SEV2 incident's notice waits for a lead.
    assert spanish.template.kind == KIND and spanish.peak_severity == "sev2"


def test_the_csv_of_sample_references_is_stored_with_the_draft(analyst, approved_card):
    desk = billing_desk(analyst=analyst, approved_card=approved_card)

    (draft,) = compose(desk, analyst).drafts

    (attachment,) = draft.attachments.all()
    assert attachment.filename == f"aclaracion-de-cobro-{desk.incident.reference}.csv"
    assert attachment.content_type == "text/csv; charset=utf-8"
    assert bytes(attachment.content).decode("utf-8") == CSV_ES
    assert attachment.size == len(CSV_ES.encode("utf-8"))


def test_a_partner_without_a_billing_case_gets_no_billing_notice(analyst, approved_card):
    desk = billing_desk(analyst=analyst, approved_card=approved_card)
    other = Partner.objects.create(code="otro", name="Otro Banco", kind="issuer", country="MX", language="es")
    PartnerContact.objects.create(partner=other, name="Mesa", email="mesa@otro.test")
    engagement_add(incident=desk.incident, actor=analyst, partner=other)

    result = notice_compose(incident=desk.incident, actor=analyst, kind=KIND)

    assert [row.engagement.partner for row in result.drafts] == [desk.partner]
    assert [(skipped.code, skipped.reason) for skipped in result.skipped] == [
        ("not_applicable", "Otro Banco has no billing case on this incident.")
    ]
    # Other kinds of notice to the same partner carry no file.
    (update,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[other]).drafts
    assert not update.attachments.exists()
    # Nor does the other partner's context show anything of the case.
    other_billing = notice_context(engagement=update.engagement, language="es")["billing"]
    assert other_billing["present"] is False and other_billing["rows"] == [] and other_billing["amount_disputed"] == ""
    own_billing = notice_context(engagement=desk.case.incident.engagements.get(partner=desk.partner), language="es")
    assert own_billing["billing"]["amount_disputed"] == "MXN 17,750.00"


def test_hostile_cohort_values_stay_inert_in_the_text_and_the_csv(analyst, approved_card, client):
    hostile = "<img src=x onerror=alert(1)>|**5411**\nTotal: MXN 0.00 [x](http://e.test)"
    desk = billing_desk(analyst=analyst, approved_card=approved_card, cohort_giro=hostile)
    CostFinding.objects.filter(cohort__funding="credit").update(sample_references=['=HYPERLINK("http://evil.test")'])

    (draft,) = compose(desk, analyst).drafts

    row = next(line for line in draft.body_text.splitlines() if "Crédito" in line)
    assert row.startswith(
        "| red: visa; tipo de fondeo: Crédito; giro o MCC: \\<img src=x onerror=alert(1)\\>\\|\\*\\*5411\\*\\* "
        "Total: MXN 0.00 \\[x\\](http://e.test) | Cuota de intercambio | 200 |"
    )
    assert row.count(" | ") == 8  # the value added no column
    assert not any(line.startswith("Total: MXN 0.00") for line in draft.body_text.splitlines())  # nor a line
    csv_text = bytes(draft.attachments.get().content).decode("utf-8")
    assert '\r\n"\'=HYPERLINK(""http://evil.test"")",Desviación de tasa,' in csv_text  # text, not a formula
    # On the desk's page the text is HTML-escaped.
    client.force_login(analyst)
    page = client.get(reverse("cases:notice_review", args=[desk.incident.reference]) + f"?ids={draft.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)" in html
    assert f"aclaracion-de-cobro-{desk.incident.reference}.csv" in html


def test_spanish_notice_is_approved_by_a_lead_and_delivered_with_its_csv(
    analyst, lead, outsider, approved_card, settings, client
):
    desk = billing_desk(analyst=analyst, approved_card=approved_card)
    (draft,) = compose(desk, analyst).drafts
    with pytest.raises(ValidationError):  # SEV2: sent by a lead's approval, never straight away
        from cases.correspondence.dispatch import notice_send

        notice_send(correspondence=draft, actor=lead)
    notice_submit(correspondence=draft, actor=analyst)
    notice_approve(correspondence=draft, actor=lead, comment="Monto revisado contra la tarifa v1.")

    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"

    (message,) = smtp.accepted
    reference = desk.incident.reference
    assert message["To"] == "conciliacion@norte.test" and message["Content-Language"] == "es-MX"
    assert str(message["Subject"]).strip() == f"[{reference}] Aclaración de cobro 2026-06: MXN 17,750.00 en aclaración"
    assert "Monto total en aclaración: MXN 17,750.00" in message.get_body(preferencelist=("plain",)).get_content()
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == f"aclaracion-de-cobro-{reference}.csv"
    assert part.get_content_type() == "text/csv"
    assert part.get_payload(decode=True) == CSV_ES.encode("utf-8")
    row = Correspondence.objects.get(pk=draft.pk)
    assert row.status == "sent" and row.approved_by == lead
    # Like any partner notice: on the timeline, and the partner's first notice is stamped.
    assert CaseEvent.objects.filter(incident=desk.incident, kind="notice_sent").count() == 1
    assert row.engagement.first_notified_at is not None
    # The file is on the incident's messages, downloadable by the desk only.
    attachment = Attachment.objects.get(correspondence=row)
    client.force_login(analyst)
    section = client.get(reverse("cases:incident_notices", args=[reference])).content.decode()
    assert reverse("cases:inbound_attachment", args=[attachment.pk]) in section
    download = client.get(reverse("cases:inbound_attachment", args=[attachment.pk]))
    assert download.status_code == 200 and download.content == CSV_ES.encode("utf-8")
    client.force_login(outsider)
    assert client.get(reverse("cases:inbound_attachment", args=[attachment.pk])).status_code in (403, 404)


def test_composing_over_the_api_lists_the_file_and_the_partner_left_out(analyst, approved_card):
    desk = billing_desk(analyst=analyst, approved_card=approved_card)
    other = Partner.objects.create(code="otro", name="Otro Banco", kind="issuer", country="MX", language="es")
    PartnerContact.objects.create(partner=other, name="Mesa", email="mesa@otro.test")
    engagement_add(incident=desk.incident, actor=analyst, partner=other)

    response = token_client(analyst).post(
        reverse("api:notice-compose", args=[desk.incident.reference]),
        {"kind": KIND, "partners": ["adquirente-norte", "otro"]},
    )

    assert response.status_code == 201
    body = response.json()
    (draft,) = body["drafts"]
    assert draft["kind"] == KIND and draft["language"] == "es"
    assert [(a["filename"], a["content_type"], a["size"]) for a in draft["attachments"]] == [
        (f"aclaracion-de-cobro-{desk.incident.reference}.csv", "text/csv; charset=utf-8", len(CSV_ES.encode()))
    ]
    assert [(s["partner"]["code"], s["code"]) for s in body["skipped"]] == [("otro", "not_applicable")]
