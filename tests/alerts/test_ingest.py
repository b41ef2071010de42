"""New alerts open incidents; alerts about the same open segment update it instead."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from alerts import services
from alerts.models import AlertReceipt
from alerts.services import alert_fingerprint, alert_ingest
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload
from tests.api.helpers import token_client

URL = "/api/v1/alerts/?wait=true"  # applied in the request: the answer names the incident
FINGERPRINT = "alert:v1:" + hashlib.sha256(b"v1|acct_ALERTS0001|prosa|banco-norte|visa|MX|457173").hexdigest()


def _kinds(incident: Incident) -> list[str]:
    return list(incident.events.order_by("created_at", "id").values_list("kind", flat=True))


def test_the_fingerprint_recipe():
    assert (
        alert_fingerprint(
            merchant="acct_ALERTS0001",
            partner="prosa",
            issuer="banco-norte",
            network="VISA",
            country="mx",
            bin_prefix="457173",
        )
        == FINGERPRINT
    )
    assert alert_fingerprint(merchant="acct_ALERTS0001", partner="prosa") == (
        "alert:v1:" + hashlib.sha256(b"v1|acct_ALERTS0001|prosa||||").hexdigest()
    )


def test_a_new_alert_opens_an_incident_with_merchant_partners_and_figures(analyst, segment_world):
    payload = alert_payload()

    response = token_client(analyst).post(URL, payload, format="json")

    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert response.json() == {
        "reference": incident.reference,
        "url": f"/incidents/{incident.reference}/",
        "outcome": "opened",
        "severity": "sev2",
        "fingerprint": FINGERPRINT,
    }
    assert "Idempotent-Replayed" not in response
    assert incident.source == "alert"
    assert incident.owner is None and incident.created_by == analyst  # unowned until the desk picks it up
    assert incident.fingerprint == FINGERPRINT
    assert incident.category == "auth_rate"
    assert incident.severity == "sev2"  # 18 pp on 1,000 attempts
    assert incident.title == "Approval rate down 18.0 pp: Tienda Norte · Prosa · Banco Norte · Visa · MX · BIN 457173"
    assert incident.card_networks == ["visa"]
    assert incident.bin_prefixes == ["457173"]
    assert incident.country == "MX"
    assert incident.decline_codes == ["91", "05"]
    assert incident.started_at == parse_datetime(payload["window"]["start"])
    row = incident.affected_merchants.get()
    assert row.merchant == segment_world["merchant"]
    assert (row.baseline_rate, row.observed_rate) == (Decimal("0.9200"), Decimal("0.7400"))
    assert (row.attempts, row.failed_attempts, row.excess_declines) == (1000, 260, 180)
    assert sorted(incident.engagements.values_list("partner__code", flat=True)) == ["banco-norte", "prosa"]
    assert _kinds(incident) == ["opened", "merchant_added", "partner_engaged", "partner_engaged", "alert_received"]
    alert = incident.events.get(kind="alert_received")
    assert alert.actor == analyst
    assert alert.data["outcome"] == "opened"
    assert alert.data["drop_pp"] == "18.00"
    assert alert.data["decline_codes"] == [{"code": "91", "count": 120}, {"code": "05", "count": 40}]
    assert alert.data["measured_severity"] == "sev2"
    assert alert.data["source"] == "grafana-auth-rate"
    receipt = AlertReceipt.objects.get()
    assert (receipt.incident, receipt.outcome, receipt.response_status) == (incident, "opened", 201)
    assert receipt.idempotency_key == ""


def test_a_second_alert_for_the_open_segment_updates_the_incident(analyst, segment_world):
    client = token_client(analyst)
    first = client.post(URL, alert_payload(), format="json").json()

    response = client.post(
        URL,
        alert_payload(
            observed_approval_rate=0.80,
            attempts=2000,
            failed_attempts=400,
            volume_at_risk={"amount": "15000.00", "currency": "MXN"},
            decline_codes=[{"code": "14", "count": 80}, {"code": "91", "count": 60}],
        ),
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["outcome"] == "updated"
    assert response.json()["reference"] == first["reference"]
    incident = Incident.objects.get()
    row = incident.affected_merchants.get()
    assert (row.observed_rate, row.attempts, row.failed_attempts) == (Decimal("0.8000"), 2000, 400)
    assert (row.volume_at_risk, row.currency) == (Decimal("15000.00"), "MXN")
    assert incident.decline_codes == ["91", "05", "14"]
    assert incident.severity == "sev2"  # 12 pp on 2,000 attempts is still SEV2
    assert incident.engagements.count() == 2
    assert incident.events.filter(kind="alert_received").count() == 2
    assert _kinds(incident)[-3:] == ["merchant_updated", "details_changed", "alert_received"]
    assert list(AlertReceipt.objects.order_by("id").values_list("outcome", "response_status")) == [
        ("opened", 201),
        ("updated", 200),
    ]


def test_a_worse_alert_raises_the_severity_and_a_milder_one_never_lowers_it(analyst, segment_world):
    client = token_client(analyst)
    client.post(URL, alert_payload(), format="json")

    worse = client.post(URL, alert_payload(observed_approval_rate=0.60), format="json")
    milder = client.post(URL, alert_payload(observed_approval_rate=0.90), format="json")

    assert worse.json()["severity"] == "sev1"
    assert milder.json()["severity"] == "sev1"
    incident = Incident.objects.get()
    change = incident.events.get(kind="severity_changed")
    assert (change.data["from"], change.data["to"]) == ("sev2", "sev1")
    assert change.data["reason"] == "A monitoring alert measured a drop of 32.00 pp on 1000 attempts."


def test_another_segment_opens_another_incident(analyst, segment_world):
    client = token_client(analyst)
    client.post(URL, alert_payload(), format="json")

    response = client.post(URL, alert_payload(segment={"bin_prefix": "457174"}), format="json")

    assert response.status_code == 201
    assert Incident.objects.count() == 2


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_resolved_or_closed_incident_does_not_absorb_the_next_alert(analyst, segment_world, status):
    client = token_client(analyst)
    first = client.post(URL, alert_payload(), format="json").json()
    now = timezone.now()
    Incident.objects.filter(reference=first["reference"]).update(status=status, resolved_at=now, closed_at=now)

    response = client.post(URL, alert_payload(), format="json")

    assert response.status_code == 201
    assert response.json()["reference"] != first["reference"]
    assert response.json()["fingerprint"] == first["fingerprint"]
    assert Incident.objects.filter(fingerprint=first["fingerprint"]).count() == 2


@pytest.mark.parametrize(
    ("observed", "hint", "expected"),
    [
        (0.74, "sev1", "sev1"),  # the hint raises SEV2 to SEV1
        (0.74, "sev4", "sev2"),  # but never lowers it
        (0.915, "sev3", "sev3"),  # 0.5 pp is SEV4 by the rules; the hint raises it
        (0.915, "", "sev4"),
    ],
)
def test_the_severity_hint_can_only_raise(analyst, segment_world, observed, hint, expected):
    result = alert_ingest(
        actor=analyst, payload=alert_payload(observed_approval_rate=observed, severity_hint=hint), idempotency_key=None
    )

    assert result.incident.severity == expected
    assert result.body["severity"] == expected


def test_failed_attempts_default_to_the_observed_rate(analyst, segment_world):
    result = alert_ingest(actor=analyst, payload=alert_payload(observed_approval_rate=0.7449, attempts=999))

    assert result.incident.affected_merchants.get().failed_attempts == 999 - 744  # 999 × 0.7449 = 744.15


def test_a_failure_half_way_leaves_nothing_behind(analyst, segment_world, monkeypatch):
    def engagement_fails(**kwargs):
        raise ValidationError({"partner": "The partner directory is being edited."})

    monkeypatch.setattr(services, "engagement_add", engagement_fails)

    response = token_client(analyst).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="half-way")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"partner": ["The partner directory is being edited."]}
    assert Incident.objects.count() == 0
    assert CaseEvent.objects.count() == 0
    assert AlertReceipt.objects.count() == 0


def test_a_crash_half_way_leaves_nothing_behind(analyst, segment_world, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "merchant_impact_add", crash)

    with pytest.raises(RuntimeError):
        alert_ingest(actor=analyst, payload=alert_payload(), idempotency_key="crash")

    assert Incident.objects.count() == 0
    assert CaseEvent.objects.count() == 0
    assert AlertReceipt.objects.count() == 0


def test_an_alert_whose_rate_contradicts_its_failures_opens_nothing(analyst, segment_world):
    response = token_client(analyst).post(
        URL, alert_payload(observed_approval_rate=0.417, attempts=120000, failed_attempts=10000), format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["observed_approval_rate"]
    assert not Incident.objects.exists()
