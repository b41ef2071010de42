"""The severity rules page: every desk role reads it, leads change the rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from alerts.models import AlertSeverityRule
from alerts.services import alert_ingest
from tests.alerts.conftest import alert_payload

pytestmark = pytest.mark.django_db


def test_an_analyst_reads_the_rules_and_the_latest_alerts_without_edit_controls(client, analyst, segment_world):
    reference = alert_ingest(actor=analyst, payload=alert_payload()).incident.reference
    client.force_login(analyst)

    response = client.get(reverse("alerts:rule_list"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Switch or network outage: drop of 20 pp or more" in page
    assert "500000.00 MXN" in page
    assert reference in page
    assert "grafana-auth-rate" in page
    assert reverse("alerts:rule_create") not in page
    assert reverse("alerts:rule_edit", args=[AlertSeverityRule.objects.first().pk]) not in page


def test_a_lead_sees_the_edit_controls(client, lead):
    client.force_login(lead)

    page = client.get(reverse("alerts:rule_list")).content.decode()

    rule = AlertSeverityRule.objects.get(priority=20)
    assert reverse("alerts:rule_create") in page
    assert reverse("alerts:rule_edit", args=[rule.pk]) in page
    assert reverse("alerts:rule_delete", args=[rule.pk]) in page


def test_a_lead_edits_a_rule(client, lead):
    rule = AlertSeverityRule.objects.get(priority=20)
    client.force_login(lead)
    form = {
        "priority": 20,
        "description": "Issuer down",
        "min_drop_pp": "7.5",
        "min_attempts": 800,
        "min_volume": "",
        "volume_currency": "",
        "severity": "sev2",
        "active": "on",
    }

    response = client.post(reverse("alerts:rule_edit", args=[rule.pk]), form)

    assert response.status_code == 302
    assert response["Location"] == reverse("alerts:rule_list")
    rule.refresh_from_db()
    assert (rule.min_drop_pp, rule.min_attempts, rule.min_volume, rule.description) == (
        Decimal("7.50"),
        800,
        None,
        "Issuer down",
    )
    assert rule.updated_by == lead


def test_an_inconsistent_rule_is_shown_back_with_the_reason(client, lead):
    client.force_login(lead)
    form = {"priority": 5, "min_drop_pp": "1", "min_attempts": 0, "min_volume": "100", "severity": "sev3"}

    response = client.post(reverse("alerts:rule_create"), form)

    assert response.status_code == 200
    assert "A volume threshold needs its currency, and a currency needs a volume." in response.content.decode()
    assert not AlertSeverityRule.objects.filter(priority=5).exists()


def test_a_lead_adds_and_deletes_a_rule(client, lead):
    client.force_login(lead)

    client.post(
        reverse("alerts:rule_create"),
        {"priority": 5, "min_drop_pp": "50", "min_attempts": 10, "severity": "sev1", "active": "on"},
    )
    rule = AlertSeverityRule.objects.get(priority=5)
    response = client.post(reverse("alerts:rule_delete", args=[rule.pk]))

    assert response.status_code == 302
    assert not AlertSeverityRule.objects.filter(priority=5).exists()


@pytest.mark.parametrize("name", ["rule_create", "rule_edit", "rule_delete"])
def test_an_analyst_cannot_change_the_rules(client, analyst, name):
    rule = AlertSeverityRule.objects.get(priority=10)
    client.force_login(analyst)
    url = reverse(f"alerts:{name}") if name == "rule_create" else reverse(f"alerts:{name}", args=[rule.pk])

    response = client.post(url, {"priority": 10, "min_drop_pp": "1", "severity": "sev4"})

    assert response.status_code == 403
    rule.refresh_from_db()
    assert (rule.min_drop_pp, rule.severity) == (Decimal("20.00"), "sev1")
