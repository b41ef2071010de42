"""The SLA sweep writes its timeline rows in one SQL statement; their webhooks go out too."""

from datetime import timedelta

import pytest

from cases.models import CaseEvent
from cases.services import incident_open
from cases.sla.sweep import sla_sweep
from tests.cases.sla.data import freeze, utc
from tests.factories import WebhookSubscriptionFactory
from webhooks.models import WebhookDelivery
from webhooks.services import event_id_for

pytestmark = pytest.mark.django_db
T0 = utc(2026, 4, 13, 16)


def test_sweep_warnings_and_breaches_become_deliveries(monkeypatch, analyst, partner_manager):
    warn_hook = WebhookSubscriptionFactory(owner=partner_manager, events=["sla.warning"])
    breach_hook = WebhookSubscriptionFactory(owner=partner_manager, events=["sla.breach"])
    with monkeypatch.context() as patch:
        freeze(patch, T0)
        incident = incident_open(actor=analyst, owner=analyst, title="Switch down", category="outage", severity="sev1")

    sla_sweep(now=T0 + timedelta(minutes=16))  # past the acknowledge warning and breach

    warnings = CaseEvent.objects.filter(incident=incident, kind="sla_warning")
    breaches = CaseEvent.objects.filter(incident=incident, kind="sla_breached")
    assert warnings.count() >= 1 and breaches.count() >= 1
    sent = WebhookDelivery.objects.filter(payload__incident__reference=incident.reference)
    assert sorted(sent.filter(subscription=warn_hook).values_list("event_id", flat=True)) == sorted(
        event_id_for(e) for e in warnings
    )
    assert sorted(sent.filter(subscription=breach_hook).values_list("event_id", flat=True)) == sorted(
        event_id_for(e) for e in breaches
    )
    breach = sent.filter(subscription=breach_hook).first()
    assert breach.payload["type"] == "sla.breach" and breach.payload["data"]["metric"]


def test_sweep_without_listeners_adds_no_delivery(monkeypatch, analyst):
    with monkeypatch.context() as patch:
        freeze(patch, T0)
        incident_open(actor=analyst, owner=analyst, title="Switch down", category="outage", severity="sev1")

    sla_sweep(now=T0 + timedelta(minutes=16))

    assert CaseEvent.objects.filter(kind="sla_breached").exists()
    assert WebhookDelivery.objects.count() == 0
