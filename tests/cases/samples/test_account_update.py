"""The internal update to a merchant's account team: composed from the incident, approved by a
lead (SEV1), delivered to the account manager in their language; never to a partner, no SLA clock."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases.correspondence.account import account_update_compose
from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.models import CaseEvent, Correspondence, Merchant, SlaClock
from tests.prosa import prosa_desk
from tests.support import scripted_smtp_server, smtp_settings


def _farmacias(language: str) -> Merchant:
    merchant = Merchant.objects.get(name="Farmacias Nube")
    merchant.account_manager = "Laura Gómez"
    merchant.account_manager_email = "laura.gomez@payhealth.test"
    merchant.account_manager_language = language
    merchant.save()
    return merchant


def _deliver(settings, row: Correspondence):
    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        assert correspondence_deliver(correspondence_id=row.pk) == "sent"
    (message,) = smtp.accepted
    return message


def test_spanish_account_update_is_approved_and_delivered_to_the_account_manager(analyst, lead, settings):
    settings.PAYHEALTH_DESK_PHONE = "+52 55 8000 2400"
    desk = prosa_desk()
    merchant = _farmacias("es")
    clocks_before = SlaClock.objects.filter(incident=desk.incident).count()

    row = account_update_compose(incident=desk.incident, merchant=merchant, actor=analyst)

    reference = desk.incident.reference
    assert row.kind == "account_update" and row.language == "es" and row.merchant == merchant
    assert row.engagement is None and row.to_addresses == ["laura.gomez@payhealth.test"]
    assert row.subject == (
        f"[{reference}] Actualización interna para el equipo de cuenta: Farmacias Nube (En investigación)"
    )
    body = row.body_text
    assert "Estimado(a) Laura Gómez:" in body
    assert "- Tasa de aprobación: 44.55 % observada contra 93.10 % de referencia" in body
    assert "- Monto en riesgo: MXN 38,650,210.40" in body
    assert "Socios involucrados\n- BBVA México (" in body and "\n- Prosa (" in body and "\n- Visa (" in body
    assert "Qué decirle al comercio" in body and "no necesita hacer ningún cambio" not in body
    assert "Los pagos rechazados durante la afectación no se cobraron" in body
    # Dates the way a Mexican reader writes them, and the desk's 24×7 line to call.
    assert "Inicio de la afectación: sábado 10/08/2019, 10:47 h, hora del centro de México (horario de verano" in body
    assert "El servicio se restableció el sábado 10/08/2019, 18:17 h" in body
    assert "Línea 24×7: +52 55 8000 2400" in body and "Operaciones PayHealth" in body
    # SEV1: a lead approves it (never its author), which sends it.
    notice_submit(correspondence=row, actor=analyst)
    with pytest.raises(PermissionDenied):
        notice_approve(correspondence=row, actor=analyst)
    notice_approve(correspondence=row, actor=lead)

    message = _deliver(settings, row)

    assert message["To"] == "laura.gomez@payhealth.test"
    assert message["Content-Language"] == "es-MX"
    assert "Farmacias Nube" in message.get_body(preferencelist=("plain",)).get_content()
    row.refresh_from_db()
    assert row.status == "sent"
    sent = CaseEvent.objects.get(incident=desk.incident, kind="notice_sent")
    assert sent.data["partner"] == "Laura Gómez · Farmacias Nube"
    # Internal: no partner was stamped, no SLA clock moved.
    assert SlaClock.objects.filter(incident=desk.incident).count() == clocks_before
    for engagement in (desk.prosa_engagement, desk.bbva_engagement, desk.visa_engagement):
        engagement.refresh_from_db()
        assert engagement.first_notified_at is None and engagement.partner_status == "not_notified"


def test_english_account_update_while_the_outage_is_ongoing(analyst, lead, settings):
    desk = prosa_desk()
    desk.incident.mitigated_at = None
    desk.incident.save(update_fields=["mitigated_at"])
    merchant = _farmacias("en")

    row = account_update_compose(incident=desk.incident, merchant=merchant, actor=analyst)

    assert row.language == "en"
    assert row.subject.endswith("Internal update for the account team: Farmacias Nube (Investigating)")
    assert "Hello Laura Gómez," in row.body_text
    assert "- Approval rate: 44.55% observed against a baseline of 93.10% (48.55 percentage points lower)" in (
        row.body_text
    )
    assert "they need to change nothing" in row.body_text
    notice_submit(correspondence=row, actor=analyst)
    notice_approve(correspondence=row, actor=lead)
    message = _deliver(settings, row)
    assert message["To"] == "laura.gomez@payhealth.test" and message["Content-Language"] == "en"


def test_refused_without_an_account_manager_or_for_a_merchant_not_affected(analyst):
    desk = prosa_desk()
    merchant = Merchant.objects.get(name="Farmacias Nube")
    with pytest.raises(ValidationError) as refused:
        account_update_compose(incident=desk.incident, merchant=merchant, actor=analyst)
    assert refused.value.message_dict["merchant"] == [
        "Farmacias Nube has no account manager email: add it on the merchant first."
    ]
    other = Merchant.objects.create(account_id="acct_0therMerchant1", name="Otro", country="MX", mcc="5411")
    with pytest.raises(ValidationError):
        account_update_compose(incident=desk.incident, merchant=other, actor=analyst)
    # And never through the partner notices' path.
    with pytest.raises(ValidationError):
        notice_compose(incident=desk.incident, actor=analyst, kind="account_update")
    assert not Correspondence.objects.exists()
