"""`POST /api/v1/metrics/buckets/` (JSON and NDJSON, Idempotency-Key, per-row errors) and the
segment reads, through a real API client and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import api_token_create
from monitoring.models import AuthBucket, MetricsBatchReceipt, Segment
from tests.monitoring.conftest import bucket, make_row, make_rows

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics/buckets/"


@pytest.fixture
def api(analyst):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=analyst, name='monitor')[1]}")
    return client


def _ndjson(rows: list[dict]) -> str:
    return "\n".join(json.dumps(row) for row in rows) + "\n"


def test_a_monitoring_system_posts_a_json_list_with_its_token(api, data):
    response = api.post(URL, make_rows(3), format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"rows": 3, "inserted": 3, "updated": 0, "unchanged": 0, "segments_created": 4}
    assert AuthBucket.objects.count() == 3


def test_an_object_with_rows_and_ndjson_are_read_the_same(api, data):
    rows = make_rows(4)

    as_object = api.post(URL, {"rows": rows}, format="json")
    as_ndjson = api.post(URL, _ndjson(rows), content_type="application/x-ndjson")

    assert as_object.json()["inserted"] == 4
    assert as_ndjson.status_code == 200
    assert as_ndjson.json() == {"rows": 4, "inserted": 0, "updated": 0, "unchanged": 4, "segments_created": 0}


def test_a_card_number_in_row_37_refuses_the_batch_naming_its_index_36_and_writes_nothing(api, data):
    rows = make_rows(40)
    rows[36]["issuer"] = "4111111111111111"

    for body, kind in ((json.dumps(rows), "application/json"), (_ndjson(rows), "application/x-ndjson")):
        response = api.post(URL, body, content_type=kind)

        assert response.status_code == 400
        error = response.json()["error"]
        assert list(error["fields"]) == ["rows.36.issuer", "rows"]  # the 37th row, index 36 as in every API list
        assert "Card numbers are never stored" in error["fields"]["rows.36.issuer"][0]
        assert "4111111111111111" not in response.content.decode()
    assert AuthBucket.objects.count() == 0 and Segment.objects.count() == 0


def test_per_row_field_errors_in_the_one_error_format(api, data):
    rows = make_rows(3)
    rows[1]["approvals"] = "many"
    rows[2]["bucket_start"] = (bucket() - timedelta(days=8)).isoformat()

    response = api.post(URL, rows, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["status"] == 400
    assert set(error["fields"]) == {"rows.1.approvals", "rows.2.bucket_start"}
    assert AuthBucket.objects.count() == 0


def test_5001_rows_are_refused_and_5000_accepted(api, data, settings):
    rows = make_rows(5000)

    too_many = api.post(URL, [*rows, make_row(bucket(30))], format="json")
    enough = api.post(URL, rows, format="json")

    assert too_many.status_code == 400
    assert list(too_many.json()["error"]["fields"]) == ["rows"]
    assert enough.status_code == 200 and enough.json()["inserted"] == 5000


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        ("{not json", "application/json", 400),
        ('{"merchant": "x"}\n[1, 2\n', "application/x-ndjson", 400),
        ('{"rows": "all of them"}', "application/json", 400),
        ("[]", "application/json", 400),
        ("merchant,attempts", "text/csv", 415),
    ],
)
def test_bodies_that_are_not_batches_are_refused(api, data, body, kind, status):
    response = api.post(URL, body, content_type=kind)

    assert response.status_code == status
    assert response.json()["error"]["status"] == status


def test_a_body_over_the_byte_limit_is_refused_with_413(api, data, settings):
    settings.PAYHEALTH_METRICS_MAX_ROWS = 2

    response = api.post(URL, [make_row(bucket(), attempts=1)] * 40, format="json")

    assert response.status_code == 413


def test_the_same_idempotency_key_and_rows_replay_the_first_answer(api, data):
    rows = make_rows(2)
    first = api.post(URL, rows, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    corrected = [dict(rows[0], approvals=890, soft_declines=70)] + rows[1:]
    api.post(URL, corrected, format="json")  # a later correction without a key

    replay = api.post(URL, _ndjson(rows), content_type="application/x-ndjson", HTTP_IDEMPOTENCY_KEY="batch-1")

    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert AuthBucket.objects.filter(approvals=890).count() == 1  # the replay wrote nothing
    assert MetricsBatchReceipt.objects.get().response_body == first.json()


def test_the_same_idempotency_key_with_other_rows_is_refused_with_422(api, data):
    api.post(URL, make_rows(2), format="json", HTTP_IDEMPOTENCY_KEY="batch-2")

    response = api.post(URL, make_rows(3), format="json", HTTP_IDEMPOTENCY_KEY="batch-2")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert AuthBucket.objects.count() == 2


def test_an_invalid_batch_keeps_no_receipt_so_the_key_can_be_used_again(api, data):
    bad = make_rows(2)
    bad[0]["attempts"] = 3

    refused = api.post(URL, bad, format="json", HTTP_IDEMPOTENCY_KEY="batch-3")
    accepted = api.post(URL, make_rows(2), format="json", HTTP_IDEMPOTENCY_KEY="batch-3")

    assert refused.status_code == 400 and accepted.status_code == 200
    assert MetricsBatchReceipt.objects.count() == 1


def test_an_expired_key_is_forgotten(api, data, settings):
    api.post(URL, make_rows(2), format="json", HTTP_IDEMPOTENCY_KEY="batch-4")
    MetricsBatchReceipt.objects.update(created_at=bucket() - timedelta(hours=25))

    response = api.post(URL, make_rows(3), format="json", HTTP_IDEMPOTENCY_KEY="batch-4")

    assert response.status_code == 200 and response.json()["inserted"] == 1


def test_a_user_without_a_desk_role_cannot_post(data, outsider):
    client = APIClient()
    client.force_authenticate(outsider)

    assert client.post(URL, make_rows(1), format="json").status_code == 403
    assert AuthBucket.objects.count() == 0


def test_segments_are_listed_and_filtered_by_merchant_and_dimensions(api, data):
    api.post(URL, [make_row(bucket(), bin_prefix="415231"), make_row(bucket(), network="mastercard")], format="json")

    everything = api.get("/api/v1/segments/").json()["results"]
    by_bin = api.get("/api/v1/segments/", {"merchant": data["merchant"].account_id, "bin_prefix": "415231"}).json()
    merchant_level = api.get("/api/v1/segments/", {"merchant_level": "true"}).json()["results"]
    by_issuer = api.get("/api/v1/segments/", {"issuer": "bbva-mx", "network": "mastercard"}).json()["results"]

    assert len(everything) == 3
    assert [s["bin_prefix"] for s in by_bin["results"]] == ["415231"]
    assert [(s["parent"], s["network"]) for s in merchant_level] == [(None, "")]
    assert [(s["issuer"], s["merchant"]) for s in by_issuer] == [("bbva-mx", data["merchant"].account_id)]


def test_a_segments_series_gives_buckets_with_exact_approval_rates(api, data):
    early, late = bucket(120), bucket(60)
    api.post(URL, [make_row(early), make_row(late, approvals=2, soft_declines=958)], format="json")
    segment = Segment.objects.get(parent__isnull=False)

    response = api.get(
        reverse("api:segment-series", args=[segment.pk]),
        {"start": (early - timedelta(minutes=15)).isoformat(), "end": (late + timedelta(minutes=15)).isoformat()},
    )

    assert response.status_code == 200
    series = response.json()
    assert series["segment"] == segment.pk and series["bucket_minutes"] == 15
    assert [b["approval_rate"] for b in series["buckets"]] == ["0.9000", "0.0020"]
    assert series["buckets"][0]["amount_approved"] == "135000.50"
    assert series["buckets"][0]["decline_codes"] == {"05": 40, "91": 20}


def test_a_series_longer_than_31_days_or_backwards_is_refused(api, data):
    api.post(URL, [make_row(bucket())], format="json")
    url = reverse("api:segment-series", args=[Segment.objects.first().pk])

    too_long = api.get(url, {"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"})
    backwards = api.get(url, {"start": "2026-03-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
    not_a_date = api.get(url, {"start": "yesterday"})
    before_1970 = api.get(url, {"start": "0165-01-20T20:03:39-06:36", "end": "0165-01-21T20:03:39-06:36"})

    assert [r.status_code for r in (too_long, backwards, not_a_date, before_1970)] == [400, 400, 400, 400]
    assert set(before_1970.json()["error"]["fields"]) == {"start", "end"}
    assert set(too_long.json()["error"]["fields"]) == {"end"}
    assert set(backwards.json()["error"]["fields"]) == {"start"}


@pytest.mark.parametrize("kind", ["application/json", "application/x-ndjson"])
@pytest.mark.parametrize(
    "body",
    ["[" * 5000 + "]" * 5000, '[{"merchant": "a\\u0000b"}]', '[{"merchant": "\\ud800"}]', '{"a": 1', "\x00"],
)
def test_hostile_bodies_are_a_400_in_both_formats(api, data, body, kind):
    response = api.post(URL, body, content_type=kind)

    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["status"] == 400
    assert AuthBucket.objects.count() == 0
