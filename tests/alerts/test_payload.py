"""Every bad field of an alert gets a 400 naming its path, and nothing is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertReceipt
from cases.models import CaseEvent, Incident
from payhealth.pan import CARD_NUMBER_MESSAGE
from tests.alerts.conftest import alert_payload
from tests.api.helpers import token_client

URL = "/api/v1/alerts/?wait=true"  # applied in the request: the answer names the incident


def _future() -> str:
    return (timezone.now() + timedelta(minutes=30)).isoformat()


def _bad(payload_changes: dict) -> dict:
    return alert_payload(**payload_changes)


def _without(section: str, key: str) -> dict:
    payload = alert_payload()
    del payload[section][key]
    return payload


BAD_PAYLOADS = [
    ("no merchant", _without("segment", "merchant"), "segment.merchant"),
    ("no segment", {k: v for k, v in alert_payload().items() if k != "segment"}, "segment"),
    ("short BIN", _bad({"segment": {"bin_prefix": "4571"}}), "segment.bin_prefix"),
    ("letters in BIN", _bad({"segment": {"bin_prefix": "45717a"}}), "segment.bin_prefix"),
    ("three-letter country", _bad({"segment": {"country": "MEX"}}), "segment.country"),
    ("unknown network", _bad({"segment": {"network": "diners"}}), "segment.network"),
    ("neither partner nor issuer", _bad({"segment": {"partner": "", "issuer": ""}}), "segment.partner"),
    ("window ends before it starts", None, "window.end"),
    ("window ends in the future", None, "window.end"),
    ("no window start", _without("window", "start"), "window.start"),
    ("unparsable start", _bad({"window": {"start": "yesterday"}}), "window.start"),
    ("baseline above 1", _bad({"baseline_approval_rate": 1.5}), "baseline_approval_rate"),
    ("observed below 0", _bad({"observed_approval_rate": -0.1}), "observed_approval_rate"),
    ("observed not a number", _bad({"observed_approval_rate": "high"}), "observed_approval_rate"),
    ("zero attempts", _bad({"attempts": 0}), "attempts"),
    ("more failures than attempts", _bad({"failed_attempts": 1001}), "failed_attempts"),
    ("currency not ISO", _bad({"volume_at_risk": {"amount": 10, "currency": "pesos"}}), "volume_at_risk.currency"),
    ("negative amount", _bad({"volume_at_risk": {"amount": -5, "currency": "MXN"}}), "volume_at_risk.amount"),
    ("negative code count", _bad({"decline_codes": [{"code": "91", "count": -1}]}), "decline_codes.0.count"),
    (
        "code without count",
        _bad({"decline_codes": [{"code": "91", "count": 1}, {"code": "05"}]}),
        "decline_codes.1.count",
    ),
    ("unknown severity hint", _bad({"severity_hint": "sev9"}), "severity_hint"),
    ("title too long", _bad({"title": "x" * 201}), "title"),
]


def _window_case(name: str) -> dict:
    end = timezone.now() - timedelta(minutes=5)
    if name == "window ends before it starts":
        return alert_payload(window={"start": end.isoformat(), "end": (end - timedelta(minutes=1)).isoformat()})
    return alert_payload(window={"end": _future()})


@pytest.mark.parametrize(("name", "payload", "path"), BAD_PAYLOADS, ids=[case[0] for case in BAD_PAYLOADS])
def test_a_bad_field_is_a_400_naming_its_path(analyst, segment_world, name, payload, path):
    payload = payload if payload is not None else _window_case(name)

    response = token_client(analyst).post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY=f"bad-{name}")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["status"] == 400
    assert error["code"] == "invalid"
    assert path in error["fields"], error["fields"]
    assert Incident.objects.count() == 0
    assert AlertReceipt.objects.count() == 0
    assert CaseEvent.objects.count() == 0


@pytest.mark.parametrize("number", ["4571731234567890", "4571 7312 3456 7890", "3056-9309-0259-04"])
def test_a_card_number_is_refused_and_never_echoed_or_stored(analyst, segment_world, number):
    response = token_client(analyst).post(URL, alert_payload(segment={"bin_prefix": number}), format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["segment.bin_prefix"] == [str(CARD_NUMBER_MESSAGE)]
    assert number[5:9] not in response.content.decode()
    assert not Incident.objects.exists()
    assert not AlertReceipt.objects.exists()


def test_a_card_number_in_the_title_is_refused(analyst, segment_world):
    response = token_client(analyst).post(URL, alert_payload(title="Declines on 4571731234567890"), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["title"] == [str(CARD_NUMBER_MESSAGE)]
    assert "4571731234567890" not in response.content.decode()


@pytest.mark.parametrize(
    ("segment", "path", "message"),
    [
        ({"merchant": "acct_NOBODY0000"}, "segment.merchant", "No merchant has the account id acct_NOBODY0000."),
        ({"partner": "nobody"}, "segment.partner", "No partner has the code nobody."),
        ({"issuer": "prosa"}, "segment.issuer", "Prosa is not an issuer; send it as the partner."),
    ],
)
def test_unknown_directory_entries_are_400_and_nothing_is_written(analyst, segment_world, segment, path, message):
    response = token_client(analyst).post(
        URL, alert_payload(segment=segment), format="json", HTTP_IDEMPOTENCY_KEY="unknown-entry"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {path: [message]}
    assert Incident.objects.count() == 0
    assert AlertReceipt.objects.count() == 0  # the receipt inserted first was rolled back too
    assert CaseEvent.objects.count() == 0


def test_an_idempotency_key_over_255_characters_is_refused(analyst, segment_world):
    response = token_client(analyst).post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert not Incident.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(analyst, segment_world):
    response = token_client(analyst).post(URL, [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


def test_floats_with_many_digits_are_rounded_not_refused(analyst, segment_world):
    payload = alert_payload(
        baseline_approval_rate=0.923456789,
        observed_approval_rate=0.71234,
        volume_at_risk={"amount": 1234.5678, "currency": "mxn"},
    )

    response = token_client(analyst).post(URL, payload, format="json")

    assert response.status_code == 201, response.content
    row = Incident.objects.get().affected_merchants.get()
    assert (str(row.baseline_rate), str(row.observed_rate)) == ("0.9235", "0.7123")
    assert (str(row.volume_at_risk), row.currency) == ("1234.57", "MXN")


def test_card_numbers_elsewhere_in_an_alert_are_masked_stored_and_noted(analyst, segment_world):
    payload = alert_payload(
        source="grafana 4111 1111 1111 1111", decline_codes=[{"code": "05 4111-1111-1111-1111", "count": 3}]
    )

    response = token_client(analyst).post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="masked-1")

    assert response.status_code == 201, response.content
    incident = Incident.objects.get()
    assert AlertReceipt.objects.get().source == "grafana 411111******1111"
    assert incident.decline_codes == ["05 411111******1111"]
    assert incident.summary == "Opened by a monitoring alert (grafana 411111******1111)."
    kinds = [CaseEvent.Kind.ALERT_RECEIVED, CaseEvent.Kind.CARD_NUMBERS_MASKED]
    received, noted = incident.events.filter(kind__in=kinds).order_by("pk")
    assert received.data["source"] == "grafana 411111******1111"
    assert noted.data == {"origin": "alert", "count": 2, "correspondence": None}


def test_an_idempotency_key_holding_a_card_number_is_refused(analyst, segment_world):
    response = token_client(analyst).post(
        URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="order-4111111111111111"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"Idempotency-Key": [str(CARD_NUMBER_MESSAGE)]}
    assert "4111111111111111" not in response.content.decode()
    assert not AlertReceipt.objects.exists()


# --- the payload's fields, built once per thread -------------------------------------------------


def test_the_payloads_fields_are_built_once_per_thread_and_bound_to_each_new_serializer():
    import threading

    from alerts.payload import AlertPayloadSerializer

    first = AlertPayloadSerializer()
    first_fields = first.fields
    second = AlertPayloadSerializer()

    assert second.fields is first_fields  # taken over, not copied again
    assert {field.parent for field in second.fields.values()} == {second}
    assert second.fields["segment"].fields["bin_prefix"].parent is second.fields["segment"]
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(AlertPayloadSerializer().fields))
    thread.start()
    thread.join()
    assert elsewhere[0] is not first_fields  # another thread builds its own
    assert elsewhere[0]["attempts"] is not first_fields["attempts"]


def test_payloads_validated_one_after_another_each_get_their_own_errors_and_data():
    from django.core.exceptions import ValidationError

    from alerts.payload import validated_payload

    first = validated_payload(alert_payload(attempts=1000, segment={"bin_prefix": "457173"}))
    with pytest.raises(ValidationError) as refused:
        validated_payload(_bad({"segment": {"bin_prefix": "4571"}, "decline_codes": [{"code": "91", "count": -1}]}))
    again = validated_payload(alert_payload(attempts=2000, segment={"bin_prefix": "511111"}))

    assert set(refused.value.message_dict) == {"segment.bin_prefix", "decline_codes.0.count"}
    assert (first["attempts"], first["segment"]["bin_prefix"]) == (1000, "457173")
    assert (again["attempts"], again["segment"]["bin_prefix"]) == (2000, "511111")
    assert again["decline_codes"] == [
        {"code": "91", "count": 120, "count_before": None},
        {"code": "05", "count": 40, "count_before": None},
    ]
