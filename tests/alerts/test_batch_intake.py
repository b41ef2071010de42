"""Several alerts in one request (`POST /api/v1/alerts/batch/`): each accepted or refused on its
own, exactly as the single intake takes it, with one task published for the batch."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from rest_framework.test import APIClient

from alerts.models import AlertReceipt
from alerts.services import INTAKE_BATCH_MAX, alert_accept_batch, alert_receipts_apply
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload
from tests.api.helpers import token_client

URL = "/api/v1/alerts/batch/"
SINGLE = "/api/v1/alerts/"
OTHER_SEGMENT = {"segment": {"merchant": "acct_ALERTS0001", "bin_prefix": "511111"}}
PAN = "4532015112830366"


def _batch(*alerts, keys=None) -> dict:
    keys = keys or [f"k-{index}" for index in range(len(alerts))]
    return {"alerts": [{"idempotency_key": key, "alert": alert} for key, alert in zip(keys, alerts, strict=True)]}


def test_a_batch_is_accepted_with_202_one_receipt_per_alert_and_one_task(
    analyst, segment_world, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    client = token_client(analyst)
    body = _batch(alert_payload(attempts=1000), alert_payload(attempts=1001), alert_payload(**OTHER_SEGMENT))

    with django_capture_on_commit_callbacks() as published, django_assert_max_num_queries(5):
        response = client.post(URL, body, format="json")  # the token (+ its first use), 3 inserts

    assert response.status_code == 202, response.content
    answer = response.json()
    receipts = list(AlertReceipt.objects.order_by("pk"))
    assert (answer["accepted"], answer["refused"]) == (3, 0)
    assert answer["results"] == [
        {
            "status": 202,
            "id": receipt.pk,
            "status_url": f"/api/v1/alerts/{receipt.pk}/",
            "fingerprint": receipt.fingerprint,
            "replayed": False,
        }
        for receipt in receipts
    ]
    assert [receipt.idempotency_key for receipt in receipts] == ["k-0", "k-1", "k-2"]
    assert {receipt.state for receipt in receipts} == {"pending"} and not Incident.objects.exists()
    assert len(published) == 1  # one task applies every pending receipt

    assert alert_receipts_apply() == 3

    assert Incident.objects.count() == 2
    assert [r.outcome for r in AlertReceipt.objects.order_by("pk")] == ["opened", "updated", "opened"]
    assert CaseEvent.objects.filter(kind="alert_received").count() == 3


def test_each_alert_is_refused_on_its_own_and_the_others_are_accepted_with_207(analyst, segment_world):
    client = token_client(analyst)
    client.post(SINGLE, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="used")
    body = _batch(
        alert_payload(attempts=1000),
        alert_payload(attempts=-1),
        alert_payload(segment={"merchant": "acct_NOBODY"}),
        alert_payload(attempts=1002),
        alert_payload(attempts=1003),
        alert_payload(**OTHER_SEGMENT),
        keys=["ok-1", "bad-attempts", "unknown-merchant", f"key {PAN}", "used", ""],
    )

    response = client.post(URL, body, format="json")

    assert response.status_code == 207, response.content
    answer = response.json()
    statuses = [result["status"] for result in answer["results"]]
    assert statuses == [202, 400, 400, 400, 422, 202]
    assert (answer["accepted"], answer["refused"]) == (2, 4)
    errors = [result.get("error") for result in answer["results"]]
    assert list(errors[1]["fields"]) == ["attempts"] and errors[1]["code"] == "invalid"
    assert list(errors[2]["fields"]) == ["segment.merchant"]
    assert list(errors[3]["fields"]) == ["idempotency_key"] and PAN not in str(answer)
    assert errors[4]["code"] == "idempotency_key_reused"
    assert errors[0] is None and errors[5] is None
    stored = set(AlertReceipt.objects.values_list("idempotency_key", flat=True))
    assert stored == {"used", "ok-1", ""}  # the refused alerts left nothing


def test_a_batch_sent_again_replays_every_answer_and_stores_nothing_twice(analyst, segment_world):
    client = token_client(analyst)
    body = _batch(alert_payload(attempts=1000), alert_payload(**OTHER_SEGMENT))
    first = client.post(URL, body, format="json").json()
    alert_receipts_apply()  # applied meanwhile: the replay is still the first answer

    again = client.post(URL, body, format="json")

    assert again.status_code == 202
    replayed = again.json()
    assert [result.pop("replayed") for result in replayed["results"]] == [True, True]
    assert [result.pop("replayed") for result in first["results"]] == [False, False]
    assert replayed == first
    assert AlertReceipt.objects.count() == 2 and Incident.objects.count() == 2


def test_the_same_key_twice_in_one_batch_is_one_alert_or_a_refusal(analyst, segment_world):
    client = token_client(analyst)
    same, other = alert_payload(attempts=1000), alert_payload(attempts=2000)

    answer = client.post(URL, _batch(same, same, other, keys=["k", "k", "k"]), format="json").json()

    assert [result["status"] for result in answer["results"]] == [202, 202, 422]
    assert answer["results"][0]["id"] == answer["results"][1]["id"]
    assert [result.get("replayed") for result in answer["results"]] == [False, True, None]
    assert AlertReceipt.objects.count() == 1


def test_card_numbers_in_a_batched_alert_are_masked_as_in_a_single_one(analyst, segment_world):
    payload = alert_payload(source=f"grafana {PAN}", decline_codes=[{"code": f"91 {PAN}", "count": 3}])

    assert token_client(analyst).post(URL, _batch(payload), format="json").status_code == 202

    receipt = AlertReceipt.objects.get()
    assert PAN not in str(receipt.payload) and receipt.masked_card_numbers == 2


MALFORMED = [
    ([], "non_field_errors"),
    ({}, "alerts"),
    ({"alerts": []}, "alerts"),
    ({"alerts": "all of them"}, "alerts"),
    ({"alerts": [1]}, "alerts.0.non_field_errors"),
    ({"alerts": [{"alert": "down"}]}, "alerts.0.alert"),
    ({"alerts": [{"idempotency_key": "k"}]}, "alerts.0.alert"),
    ({"alerts": [{"alert": alert_payload(), "idempotency_key": "\x00"}]}, None),
    ({"alerts": [{"alert": alert_payload()}] * 101}, "alerts"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED, ids=range(len(MALFORMED)))
def test_a_malformed_batch_is_a_400_with_its_field_and_stores_nothing(analyst, segment_world, body, field):
    response = token_client(analyst).post(URL, body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    if field is not None:
        assert field in error["fields"], error
    assert not AlertReceipt.objects.exists()


def test_a_batch_is_never_applied_in_the_request(analyst, segment_world):
    response = token_client(analyst).post(f"{URL}?wait=true", _batch(alert_payload()), format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["wait"]
    assert not AlertReceipt.objects.exists()


def test_errors_are_in_the_senders_language(analyst, segment_world):
    client = token_client(analyst)
    too_many = {"alerts": [{"alert": alert_payload()}] * 101}

    english = client.post(URL, too_many, format="json", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    spanish = client.post(URL, too_many, format="json", HTTP_ACCEPT_LANGUAGE="es").json()["error"]
    waited = client.post(f"{URL}?wait=1", _batch(alert_payload()), format="json", HTTP_ACCEPT_LANGUAGE="es")

    assert english["fields"]["alerts"] == ["Ensure this field has no more than 100 elements."]
    assert spanish["fields"]["alerts"] == ["Asegúrese de que este campo no tiene más de 100 elementos."]
    assert waited.json()["error"]["fields"]["wait"] == [
        "Un lote siempre lo aplica el proceso en segundo plano: envíe una alerta sola para aplicarla con wait."
    ]


def test_only_those_who_may_submit_alerts_may_send_a_batch(outsider, segment_world):
    body = _batch(alert_payload())

    assert token_client(outsider).post(URL, body, format="json").status_code == 403
    assert APIClient().post(URL, body, format="json").status_code == 401
    assert not AlertReceipt.objects.exists()


def test_the_service_itself_refuses_a_batch_past_its_limit(analyst, segment_world):
    alerts = [(alert_payload(), f"k-{index}") for index in range(INTAKE_BATCH_MAX + 1)]

    with pytest.raises(ValidationError) as english:
        alert_accept_batch(actor=analyst, alerts=alerts)
    with translation.override("es"), pytest.raises(ValidationError) as spanish:
        alert_accept_batch(actor=analyst, alerts=alerts)

    assert english.value.message_dict == {"alerts": ["Send at most 100 alerts in one batch."]}
    assert spanish.value.message_dict == {"alerts": ["Envíe como máximo 100 alertas en un lote."]}
    assert len(alert_accept_batch(actor=analyst, alerts=alerts[:INTAKE_BATCH_MAX])) == INTAKE_BATCH_MAX
