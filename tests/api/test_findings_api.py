"""The detector over the API: findings and their triage, segment states, settings, suppressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models.incident import Status
from monitoring.detection.config import detector_config
from monitoring.models import FindingKind, FindingState, MonitorSettings, Suppression
from tests.api.helpers import session_client, token_client
from tests.factories import IncidentFactory, MerchantFactory
from tests.monitoring.findings_support import make_finding, make_monitor, merchant_segment, slice_segment

pytestmark = pytest.mark.django_db


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def world(db):
    tienda = MerchantFactory(account_id="acct_TIENDA", name="Tienda")
    cine = MerchantFactory(account_id="acct_CINE", name="Cine")
    return {
        "tienda": tienda,
        "cine": cine,
        "alert": make_finding(slice_segment(tienda)),
        "watch": make_finding(slice_segment(cine), state=FindingState.WATCH),
        "spike": make_finding(
            slice_segment(cine, bin_prefix="415232"), kind=FindingKind.DECLINE_CODE_SPIKE, decline_code="91"
        ),
        "recovered": make_finding(merchant_segment(tienda), state=FindingState.RECOVERED),
    }


def test_list_filters_and_bounded_queries(analyst, world):
    client = token_client(analyst)
    for n in range(5):
        make_finding(slice_segment(world["tienda"], bin_prefix=f"41600{n}"), state=FindingState.WATCH)
    with CaptureQueriesContext(connection) as queries:
        everything = client.get("/api/v1/findings/", {"page_size": 200})
    assert everything.status_code == 200
    assert len(everything.json()["results"]) == 9
    assert len(queries) <= 6, [q["sql"] for q in queries]

    by_state = client.get("/api/v1/findings/", {"state": "alerted"}).json()["results"]
    assert {row["id"] for row in by_state} == {world["alert"].pk, world["spike"].pk}
    by_kind = client.get("/api/v1/findings/", {"kind": "decline_code_spike"}).json()["results"]
    assert [row["decline_code"] for row in by_kind] == ["91"]
    by_merchant = client.get("/api/v1/findings/", {"merchant": "acct_CINE"}).json()["results"]
    assert {row["segment"]["merchant"] for row in by_merchant} == {"acct_CINE"}
    assert client.get("/api/v1/findings/", {"state": "nonsense"}).status_code == 400


def test_detail_has_the_figures_and_attribution(analyst, world):
    body = token_client(analyst).get(f"/api/v1/findings/{world['alert'].pk}/").json()
    assert body["baseline_rate"] == "0.930000" and body["observed_rate"] == "0.710000"
    assert Decimal(body["drop_pp"]) == Decimal("22")
    assert body["attribution"][0]["label"] == "BBVA México"
    assert body["segment"]["label"].startswith("Tienda")
    assert "attribution_sentence" in body


def test_suppress_and_false_positive(analyst, world):
    client = token_client(analyst)
    until = datetime.now(UTC) + timedelta(hours=3)
    answer = client.post(
        f"/api/v1/findings/{world['alert'].pk}/suppress/",
        {"until": iso(until), "reason": "Switch maintenance"},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["state"] == "suppressed" and answer.json()["decided_by"] == analyst.username
    assert Suppression.objects.get(finding=world["alert"]).end == until

    again = client.post(f"/api/v1/findings/{world['alert'].pk}/false-positive/", {"note": "no"}, format="json")
    assert again.status_code == 400 and "state" in again.json()["error"]["fields"]

    marked = client.post(
        f"/api/v1/findings/{world['watch'].pk}/false-positive/", {"note": "test traffic"}, format="json"
    )
    assert marked.status_code == 200 and marked.json()["state"] == "false_positive"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"until": "tomorrow", "reason": "x"}, "until"),
        ({"until": "2990-01-01T00:00:00Z", "reason": "x"}, "until"),
        ({"until": "2020-01-01T00:00:00Z", "reason": "x"}, "until"),
        ({"reason": "x"}, "until"),
        ({"until": "NOW", "reason": ["x"]}, "reason"),
        ({"until": "NOW", "reason": "x" * 501}, "reason"),
        ({"until": "NOW", "reason": "   "}, "reason"),
    ],
)
def test_suppress_refuses_bad_input(analyst, world, body, field):
    if body.get("until") == "NOW":
        body = body | {"until": iso(datetime.now(UTC) + timedelta(hours=1))}
    answer = token_client(analyst).post(f"/api/v1/findings/{world['alert'].pk}/suppress/", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["error"]["fields"]
    world["alert"].refresh_from_db()
    assert world["alert"].state == FindingState.ALERTED


def test_triage_refused_without_a_role(outsider, world):
    client = token_client(outsider)
    answer = client.post(f"/api/v1/findings/{world['alert'].pk}/false-positive/", {"note": "x"}, format="json")
    assert answer.status_code == 403
    assert client.get("/api/v1/findings/").status_code == 403


def test_attach_needs_an_open_incident_and_calls_the_flow(analyst, world):
    client = token_client(analyst)
    closed = IncidentFactory(status=Status.CLOSED)
    refused = client.post(
        f"/api/v1/findings/{world['alert'].pk}/attach/", {"incident": closed.reference}, format="json"
    )
    assert refused.status_code == 400 and "incident" in refused.json()["error"]["fields"]
    unknown = client.post(f"/api/v1/findings/{world['alert'].pk}/attach/", {"incident": "PH-1-1"}, format="json")
    assert unknown.status_code == 400

    incident = IncidentFactory()
    answer = client.post(
        f"/api/v1/findings/{world['alert'].pk}/attach/", {"incident": incident.reference}, format="json"
    )
    opened = client.post(f"/api/v1/findings/{world['watch'].pk}/open-incident/", format="json")
    assert answer.status_code == 200 and answer.json()["incident"] == incident.reference
    assert opened.status_code == 200 and opened.json()["incident"]


def test_monitors_list_filters_and_summary(analyst, world):
    make_monitor(world["alert"].segment, "alert")
    make_monitor(world["watch"].segment, "watch")
    make_monitor(world["spike"].segment, "ok")
    make_monitor(world["recovered"].segment, "low_volume")
    client = token_client(analyst)
    alerts = client.get("/api/v1/monitors/", {"state": "alert"}).json()["results"]
    assert [row["segment"]["id"] for row in alerts] == [world["alert"].segment_id]
    cine = client.get("/api/v1/monitors/", {"merchant": "acct_CINE"}).json()["results"]
    assert len(cine) == 2
    summary = client.get("/api/v1/monitors/summary/").json()
    assert summary["states"] == {"ok": 1, "watch": 1, "alert": 1, "low_volume": 1}
    assert summary["last_run"] is None


def test_settings_read_by_all_changed_by_leads(analyst, lead, world):
    assert (
        token_client(analyst).patch("/api/v1/monitors/settings/", {"watch_q": "0.02"}, format="json").status_code == 403
    )
    client = token_client(lead)
    changed = client.patch("/api/v1/monitors/settings/", {"watch_q": "0.02", "min_drop_pp": "3.00"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["values"]["watch_q"] == "0.02000"
    assert changed.json()["effective"]["min_bucket_attempts"] == 100

    merchant = client.patch(
        "/api/v1/monitors/settings/acct_TIENDA/", {"min_bucket_attempts": 40, "enabled": False}, format="json"
    )
    assert merchant.status_code == 200, merchant.json()
    body = merchant.json()
    assert body["overrides"]["min_bucket_attempts"] == 40 and body["overrides"]["watch_q"] is None
    assert body["effective"]["watch_q"] == "0.02000" and body["effective"]["enabled"] is False
    assert MonitorSettings.objects.get(merchant=world["tienda"]).updated_by == lead

    overview = token_client(analyst).get("/api/v1/monitors/settings/").json()
    assert [row["merchant"] for row in overview["merchants"]] == ["acct_TIENDA"]
    assert overview["global"]["defaults"]["alert_q"] == "0.00100"

    replaced = client.put("/api/v1/monitors/settings/acct_TIENDA/", {"enabled": True}, format="json")
    assert replaced.json()["overrides"]["min_bucket_attempts"] is None  # PUT: what is left out inherits
    assert client.delete("/api/v1/monitors/settings/acct_TIENDA/").status_code == 204
    assert detector_config(world["tienda"].pk).enabled is True
    assert client.get("/api/v1/monitors/settings/acct_NOPE/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"watch_q": "1"},
        {"watch_q": "0"},
        {"alert_q": "0.5"},
        {"min_bucket_attempts": 0},
        {"min_bucket_attempts": "lots"},
        {"min_drop_pp": "1e400"},
        {"enabled": "perhaps"},
    ],
)
def test_settings_refuse_out_of_range(lead, body):
    answer = token_client(lead).patch("/api/v1/monitors/settings/", body, format="json")
    assert answer.status_code == 400, answer.json()
    assert set(body) & set(answer.json()["error"]["fields"])
    assert not MonitorSettings.objects.exists()


def test_suppressions_create_list_delete(analyst, lead, world):
    segment = merchant_segment(world["cine"])
    start = datetime.now(UTC) + timedelta(days=1)
    client = session_client(analyst)
    created = client.post(
        "/api/v1/suppressions/",
        {"segment": segment.pk, "start": iso(start), "end": iso(start + timedelta(hours=2)), "reason": "Upgrade"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["created_by"] == analyst.username
    assert [row["id"] for row in client.get("/api/v1/suppressions/", {"active": "true"}).json()["results"]] == [pk]
    bad = client.post(
        "/api/v1/suppressions/",
        {"segment": segment.pk, "start": iso(start), "end": iso(start - timedelta(hours=2)), "reason": "x"},
        format="json",
    )
    assert bad.status_code == 400 and "end" in bad.json()["error"]["fields"]
    assert (
        client.post("/api/v1/suppressions/", {"segment": 987654, "start": iso(start)}, format="json").status_code == 400
    )
    assert client.delete(f"/api/v1/suppressions/{pk}/").status_code == 403
    assert session_client(lead).delete(f"/api/v1/suppressions/{pk}/").status_code == 204
