"""From partner billing to money back: a check's finding opens a billing case, the Spanish dispute
notice carries the cohort table and its CSV, a lead approves it, it reaches the SMTP server, and the
partner's credit note stops its clock and shows in the recovered amounts."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.urls import reverse

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.models import SlaClock
from costs.billing import billing_case_open, credit_note_record
from costs.billing_report import recovery_report
from costs.checks import costs_check
from costs.models import CostFinding
from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from tests.costs.conftest import DEBIT_ECOM, JUNE, load, records
from tests.support import scripted_smtp_server, smtp_settings


def test_a_finding_becomes_a_disputed_case_a_delivered_spanish_notice_and_a_recorded_credit(
    analyst, lead, approved_card, settings, client
):
    load_notice_templates(NoticeTemplate)
    partner = Partner.objects.create(
        code="adquirente-sur", name="Adquirente Sur", kind="acquirer", country="MX", language="es"
    )
    PartnerContact.objects.create(partner=partner, name="Conciliación", email="conciliacion@sur.test")
    approved_card(partner, [{"fee_type": "interchange", "rate_bps": "45", **DEBIT_ECOM}])
    # 2,000 debit e-commerce payments of MXN 500,000 (MXN 1,000,000,000) billed at 52 bps on a 45 bps rule.
    load(partner, records(2000, amount="500000.00", fee_bps=52))

    costs_check(partner=partner, period=JUNE)
    (finding,) = CostFinding.objects.filter(partner=partner)
    assert (finding.kind, finding.amount, finding.severity) == ("rate_deviation", Decimal("700000.00"), "high")

    case = billing_case_open(findings=[finding], actor=analyst)
    incident = case.incident
    assert (incident.category, incident.severity, case.amount_disputed) == ("cost_rate", "sev2", Decimal("700000.00"))

    (draft,) = notice_compose(incident=incident, actor=analyst, kind="billing_discrepancy", partners=[partner]).drafts
    body = draft.body_text
    assert draft.language == "es" and "Aclaración de cobro" in draft.subject
    assert "Monto total en aclaración: MXN 700,000.00" in body
    assert (
        "| red: visa; tipo de fondeo: Débito; Nacional; modo de entrada: ecommerce | Cuota de intercambio | 2,000 "
        "| 1,000,000,000.00 | 45.00 | 52.00 | 4,500,000.00 | 5,200,000.00 | 700,000.00 |"
    ) in body.splitlines()
    assert "| Total | | | | | | MXN 4,500,000.00 | MXN 5,200,000.00 | MXN 700,000.00 |" in body.splitlines()
    notice_submit(correspondence=draft, actor=analyst)
    notice_approve(correspondence=draft, actor=lead, comment="Cifras revisadas contra la tarifa v1.")
    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"

    (message,) = smtp.accepted
    assert message["To"] == "conciliacion@sur.test"
    (attachment,) = list(message.iter_attachments())
    rows = list(csv.reader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8"))))
    assert rows[0][0] == "referencia" and [row[0] for row in rows[1:]] == finding.sample_references
    assert len(rows) == 11  # the header and 10 sample references
    # The notice engaged the partner: its clocks run on the billing policy.
    resolve = SlaClock.objects.get(engagement__partner=partner, metric="resolve")
    assert resolve.state == SlaClock.State.RUNNING and resolve.policy.category == "cost_rate"

    credit_note_record(billing_case=case, reference="NC-2026-118", amount="700000.00", issued_on=JUNE, actor=analyst)

    resolve.refresh_from_db()
    finding.refresh_from_db()
    assert resolve.state == SlaClock.State.MET and finding.state == "resolved"
    (row,) = recovery_report(start=JUNE, end=JUNE, partner=partner)
    assert (row.overbilled, row.recovered, row.open_balance) == (
        Decimal("700000.00"),
        Decimal("700000.00"),
        Decimal("0.00"),
    )
    client.force_login(lead)
    page = client.get(reverse("costs:recovery_report"), {"start": "2026-06", "end": "2026-06"}).content.decode()
    assert "Adquirente Sur" in page and "700,000.00" in page
