"""Who may post alerts, read receipts and change the rules, through the API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from alerts.models import AlertReceipt, AlertSeverityRule
from cases.models import Incident
from tests.alerts.conftest import alert_payload
from tests.api.helpers import session_client, token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/alerts/?wait=true"  # applied in the request: the answer names the incident
RULES = "/api/v1/alerts/rules/"
RECEIPTS = "/api/v1/alerts/receipts/"


def test_anonymous_cannot_post_an_alert(segment_world):
    response = APIClient().post(URL, alert_payload(), format="json")

    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert not Incident.objects.exists()


@pytest.mark.parametrize(
    ("who", "status"), [("outsider", 403), ("analyst", 201), ("partner_manager", 201), ("lead", 201)]
)
def test_who_may_post_an_alert(request, segment_world, who, status):
    response = token_client(request.getfixturevalue(who)).post(URL, alert_payload(), format="json")

    assert response.status_code == status
    assert Incident.objects.count() == (1 if status == 201 else 0)
    assert AlertReceipt.objects.count() == (1 if status == 201 else 0)


def test_a_session_post_needs_the_csrf_token(analyst, segment_world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(analyst)

    response = client.post(URL, alert_payload(), format="json")

    assert response.status_code == 403
    assert not Incident.objects.exists()


def test_receipts_are_listed_for_the_desk_and_filtered(analyst, lead, outsider, segment_world):
    token_client(analyst).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    token_client(analyst).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="r-2")
    reference = Incident.objects.get().reference

    listed = token_client(lead).get(RECEIPTS, {"outcome": "updated"})
    detail = token_client(lead).get(f"{RECEIPTS}{listed.json()['results'][0]['id']}/")
    by_incident = token_client(lead).get(RECEIPTS, {"incident": reference})

    assert listed.status_code == 200
    assert [row["idempotency_key"] for row in listed.json()["results"]] == ["r-2"]
    assert detail.json()["incident"] == reference
    assert detail.json()["user"] == "ana"
    assert detail.json()["response_status"] == 200
    assert detail.json()["response_body"]["outcome"] == "updated"
    assert [row["idempotency_key"] for row in by_incident.json()["results"]] == ["r-2", "r-1"]
    assert token_client(outsider).get(RECEIPTS).status_code == 403
    assert APIClient().get(RECEIPTS).status_code == 401


def test_receipts_cannot_be_written_through_the_api(lead, segment_world):
    response = token_client(lead).post(RECEIPTS, {}, format="json")

    assert response.status_code == 405  # receipts are read-only: no create action is routed
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert not AlertReceipt.objects.exists()


def test_every_desk_role_reads_the_rules_in_order(partner_manager):
    response = token_client(partner_manager).get(RULES)

    assert response.status_code == 200
    assert [(row["priority"], row["severity"]) for row in response.json()["results"]] == [
        (10, "sev1"),
        (20, "sev2"),
        (30, "sev3"),
        (100, "sev4"),
    ]


@pytest.mark.parametrize("who", ["analyst", "partner_manager", "outsider"])
def test_only_leads_change_the_rules(request, who):
    client = token_client(request.getfixturevalue(who))
    rule = AlertSeverityRule.objects.get(priority=10)
    before = list(AlertSeverityRule.objects.order_by("pk").values())

    created = client.post(RULES, {"priority": 1, "severity": "sev1", "min_drop_pp": "1"}, format="json")
    changed = client.patch(f"{RULES}{rule.pk}/", {"min_drop_pp": "1"}, format="json")
    deleted = client.delete(f"{RULES}{rule.pk}/")

    assert (created.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert list(AlertSeverityRule.objects.order_by("pk").values()) == before


def test_a_lead_creates_changes_and_deletes_a_rule(lead):
    client = token_client(lead)

    created = client.post(
        RULES,
        {"priority": 15, "min_drop_pp": "10", "min_volume": "50000", "volume_currency": "USD", "severity": "sev1"},
        format="json",
    )
    rule_id = created.json()["id"]
    changed = client.patch(f"{RULES}{rule_id}/", {"min_attempts": 250, "active": False}, format="json")
    deleted = client.delete(f"{RULES}{rule_id}/")

    assert created.status_code == 201, created.content
    assert created.json()["updated_by"] == "lucia"
    assert changed.status_code == 200
    assert (changed.json()["min_attempts"], changed.json()["active"]) == (250, False)
    assert deleted.status_code == 204
    assert not AlertSeverityRule.objects.filter(pk=rule_id).exists()


def test_an_inconsistent_rule_is_a_400_with_the_reason(lead):
    response = session_client(lead).post(
        RULES, {"priority": 15, "min_volume": "50000", "severity": "sev1"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "non_field_errors": ["A volume threshold needs its currency, and a currency needs a volume."]
    }
    assert not AlertSeverityRule.objects.filter(priority=15).exists()
