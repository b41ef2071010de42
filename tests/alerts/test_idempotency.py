"""A repeated Idempotency-Key returns the first answer; reused for another body, it is refused."""

from __future__ import annotations

from django.utils import timezone

from alerts.models import AlertReceipt
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload
from tests.api.helpers import token_client

URL = "/api/v1/alerts/?wait=true"  # applied in the request: the answer names the incident


def test_the_same_key_and_body_replays_the_first_answer(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()
    first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="alert-42")

    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="alert-42")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Incident.objects.count() == 1
    assert CaseEvent.objects.filter(kind="alert_received").count() == 1
    receipt = AlertReceipt.objects.get()
    assert (receipt.idempotency_key, receipt.user, receipt.response_body) == ("alert-42", analyst, first.json())


def test_the_replay_is_the_first_answer_even_after_the_incident_moved_on(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()
    first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="alert-43").json()
    now = timezone.now()
    Incident.objects.update(status="closed", resolved_at=now, closed_at=now, severity="sev1")

    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="alert-43")

    assert again.status_code == 201
    assert again.json() == first
    assert again.json()["severity"] == "sev2"
    assert Incident.objects.count() == 1


def test_key_order_and_spacing_of_the_json_do_not_matter(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()
    client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="alert-44")
    reordered = dict(reversed(list(payload.items())))

    again = client.post(URL, reordered, format="json", HTTP_IDEMPOTENCY_KEY="alert-44")

    assert again["Idempotent-Replayed"] == "true"


def test_the_same_key_with_another_body_is_refused(analyst, segment_world):
    client = token_client(analyst)
    client.post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="alert-45")

    response = client.post(URL, alert_payload(attempts=5000), format="json", HTTP_IDEMPOTENCY_KEY="alert-45")

    assert response.status_code == 422
    assert response.json() == {
        "error": {
            "status": 422,
            "code": "idempotency_key_reused",
            "message": "This Idempotency-Key was already used with a different request body. "
            "Use a new key for a new alert.",
        }
    }
    assert CaseEvent.objects.filter(kind="alert_received").count() == 1
    assert Incident.objects.get().affected_merchants.get().attempts == 1000
    assert AlertReceipt.objects.count() == 1


def test_keys_belong_to_their_user(analyst, lead, segment_world):
    token_client(analyst).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="alert-46")

    response = token_client(lead).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="alert-46")

    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response
    assert AlertReceipt.objects.count() == 2


def test_without_a_key_every_post_is_processed(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()

    statuses = [client.post(URL, payload, format="json").status_code for _ in range(3)]

    assert statuses == [201, 200, 200]
    assert CaseEvent.objects.filter(kind="alert_received").count() == 3
    assert AlertReceipt.objects.filter(idempotency_key="").count() == 3


def test_a_failed_request_does_not_burn_its_key(analyst, segment_world):
    client = token_client(analyst)
    failed = client.post(
        URL, alert_payload(segment={"merchant": "acct_NOBODY0000"}), format="json", HTTP_IDEMPOTENCY_KEY="alert-47"
    )

    retried = client.post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="alert-47")

    assert (failed.status_code, retried.status_code) == (400, 201)
    assert "Idempotent-Replayed" not in retried
