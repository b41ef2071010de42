"""A partner's SLA escalation never leaves without the incident's partner-facing title and summary.

BBVA reads Spanish. With the incident's Spanish partner text empty, BBVA's breach composes the
escalation but keeps it a draft: nothing is queued, the engagement stays at its level, the
timeline says so (by PayHealth) and each person's breach mail, in their language, says the
escalation waits for the text. With the text there, the same breach escalates as before.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from accounts.models import Profile
from cases.correspondence.dispatch import notice_send
from cases.models import CaseEvent, Correspondence, Incident, SlaClockEvent, SlaNotification
from cases.sla.sweep import sla_sweep
from cases.templatetags.cases_extras import event_sentence
from tests.cases.sla.data import bbva_acknowledge_breach, notify_and_mail

pytestmark = pytest.mark.django_db

WAITING_EN = (
    "The escalation notice to BBVA México is waiting as a draft because the incident's partner-facing title or "
    "summary in Spanish is empty: fill them in and send it from the incident's notices."
)
WAITING_ES = (
    "El aviso de escalamiento a BBVA México espera como borrador porque el título o el resumen para socios del "
    "incidente en español está vacío: complételos y envíe el aviso desde los avisos del incidente."
)


@pytest.fixture
def bbva_breach(monkeypatch, settings, analyst, partner_manager, lead):
    """BBVA's acknowledge clock breached after its breakage notice; the owner (Ana) reads Spanish,
    the lead (Lucía) English; no mail of the breach sent yet."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Profile.objects.update_or_create(user=analyst, defaults={"language": "es", "timezone": "America/Mexico_City"})
    desk, breach, _now = bbva_acknowledge_breach(monkeypatch, analyst=analyst, partner_manager=partner_manager)
    mail.outbox.clear()
    return desk, breach


def bodies() -> dict[str, str]:
    return {message.to[0]: " ".join(message.body.split()) for message in mail.outbox}


def test_without_the_spanish_partner_text_the_escalation_waits_as_a_draft_and_the_desk_is_told(
    bbva_breach, partner_manager
):
    desk, breach = bbva_breach
    Incident.objects.filter(pk=desk.incident.pk).update(partner_title_es="", partner_summary_es=" ")

    assert notify_and_mail(event_id=breach.pk) == "notified"

    (draft,) = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")
    assert (draft.status, draft.language, draft.to_addresses) == (
        Correspondence.Status.DRAFT,
        "es",
        ["gerencia@bbva.test"],
    )
    assert desk.engagement(desk.bbva).escalation_level == 1
    assert not CaseEvent.objects.filter(incident=desk.incident, kind="notice_queued", data__correspondence=draft.pk)
    (waiting,) = CaseEvent.objects.filter(incident=desk.incident, kind="sla_escalation_waiting")
    assert (waiting.actor, waiting.data) == (
        None,
        {"correspondence": draft.pk, "partner": "BBVA México", "language": "es"},
    )
    with translation.override("es"):
        assert str(event_sentence(waiting)) == (
            "PayHealth dejó como borrador el escalamiento por SLA a BBVA México: el título o el resumen para socios "
            "del incidente en español está vacío. Complételos y envíe el aviso."
        )
    assert sorted(SlaNotification.objects.filter(event=breach).values_list("address", "escalation_waiting")) == [
        ("ana@payhealth.test", ["es"]),
        ("lucia@payhealth.test", ["es"]),
    ]
    mails = bodies()
    assert WAITING_ES in mails["ana@payhealth.test"] and "could not be written" not in mails["ana@payhealth.test"]
    assert WAITING_EN in mails["lucia@payhealth.test"]

    # A person fills the Spanish text in and sends the draft as any notice.
    Incident.objects.filter(pk=desk.incident.pk).update(
        partner_title_es="Débito BBVA: caída de aprobación", partner_summary_es="Rechazos de débito BBVA."
    )
    assert notice_send(correspondence=draft, actor=partner_manager).status == Correspondence.Status.QUEUED


def test_with_the_spanish_partner_text_the_same_breach_escalates_as_before(bbva_breach):
    desk, breach = bbva_breach

    assert notify_and_mail(event_id=breach.pk) == "notified"

    (escalation,) = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")
    assert (escalation.status, escalation.to_addresses) == (Correspondence.Status.QUEUED, ["gerencia@bbva.test"])
    assert desk.engagement(desk.bbva).escalation_level == 2
    assert not CaseEvent.objects.filter(incident=desk.incident, kind="sla_escalation_waiting").exists()
    assert list(SlaNotification.objects.filter(event=breach).values_list("escalation_waiting", flat=True)) == [[], []]
    mails = bodies()
    assert sorted(mails) == ["ana@payhealth.test", "lucia@payhealth.test"]
    assert not any("borrador" in body or "as a draft" in body for body in mails.values())


def test_a_later_breach_while_the_escalation_waits_composes_no_other(bbva_breach):
    desk, breach = bbva_breach
    Incident.objects.filter(pk=desk.incident.pk).update(partner_title_es="", partner_summary_es="")
    assert notify_and_mail(event_id=breach.pk) == "notified"
    resolve = desk.clock("resolve", desk.bbva)
    sla_sweep(now=resolve.due_at)
    later = SlaClockEvent.objects.get(kind=SlaClockEvent.Kind.BREACH, clock=resolve)

    assert notify_and_mail(event_id=later.pk) == "notified"

    (draft,) = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")  # still the one
    assert draft.status == Correspondence.Status.DRAFT
    assert CaseEvent.objects.filter(incident=desk.incident, kind="sla_escalation_waiting").count() == 1
    waiting = SlaNotification.objects.filter(event=later).values_list("escalation_waiting", flat=True)
    assert sorted(waiting) == [["es"], ["es"]]  # the owner's and the lead's mail say it still waits
