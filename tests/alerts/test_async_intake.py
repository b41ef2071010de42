"""Alerts taken for later: 202 with a receipt, a worker that applies pending receipts in batches.

The request validates and stores a pending receipt; `alert_receipts_apply` (what the worker's
task runs) applies a batch with the same business logic as `?wait=true`. The first tests call it
in this process, to control what is in one batch; the last ones run a real Celery worker on the
real broker, published to on commit, and a sweep for a message the broker never got.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from alerts import services
from alerts.models import AlertReceipt
from alerts.services import APPLY_TASK, alert_receipts_apply
from cases.models import CaseEvent, Incident, Merchant
from tests.alerts.conftest import alert_payload
from tests.api.helpers import token_client
from tests.factories import MerchantFactory, PartnerFactory, UserFactory

URL = "/api/v1/alerts/"
CONNECT_SWEEP_DONE = re.compile(rf"Task {re.escape(APPLY_TASK)}\[[\w-]+\] succeeded")
OTHER_SEGMENT = {"segment": {"merchant": "acct_ALERTS0001", "bin_prefix": "511111"}}


def _accepted(client, payload, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client.post(URL, payload, format="json", **headers)
    assert response.status_code == 202, response.content
    return response.json()


def test_an_alert_is_accepted_with_202_a_receipt_and_a_status_url_and_applied_later(
    analyst, segment_world, django_assert_max_num_queries
):
    client = token_client(analyst)

    with django_assert_max_num_queries(3):  # token with its permissions (+ last use), segment check and insert
        response = client.post(URL, alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY="a-1")

    assert response.status_code == 202, response.content
    body = response.json()
    receipt = AlertReceipt.objects.get()
    assert body == {"id": receipt.pk, "status_url": f"/api/v1/alerts/{receipt.pk}/", "fingerprint": receipt.fingerprint}
    assert (receipt.state, receipt.incident, receipt.user) == ("pending", None, analyst)
    assert not Incident.objects.exists()
    pending = client.get(body["status_url"]).json()
    assert (pending["state"], pending["reference"], pending["errors"]) == ("pending", None, None)

    assert alert_receipts_apply() == 1

    incident = Incident.objects.get()
    done = client.get(body["status_url"]).json()
    assert (done["state"], done["outcome"], done["reference"]) == ("applied", "opened", incident.reference)
    assert done["url"] == f"/incidents/{incident.reference}/"
    assert (done["severity"], incident.fingerprint) == ("sev2", receipt.fingerprint)
    assert alert_receipts_apply() == 0  # nothing pending: nothing applied twice


def test_the_same_key_returns_the_same_receipt_and_answer_and_another_body_is_refused(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()  # once: its window is computed from the clock
    first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="a-2")
    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="a-2")
    alert_receipts_apply()
    after_apply = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="a-2")
    other = client.post(URL, {**payload, "attempts": 999}, format="json", HTTP_IDEMPOTENCY_KEY="a-2")

    assert (first.status_code, again.status_code, after_apply.status_code) == (202, 202, 202)
    assert again.content == first.content == after_apply.content
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert other.status_code == 422
    assert AlertReceipt.objects.count() == 1 and Incident.objects.count() == 1
    assert CaseEvent.objects.filter(kind="alert_received").count() == 1


def test_a_key_first_answered_in_the_request_replays_that_answer(analyst, segment_world):
    client = token_client(analyst)
    payload = alert_payload()
    waited = client.post(f"{URL}?wait=true", payload, format="json", HTTP_IDEMPOTENCY_KEY="a-3")

    again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="a-3")

    assert (waited.status_code, again.status_code) == (201, 201)
    assert again.content == waited.content
    assert AlertReceipt.objects.get().state == "applied"


def test_repeats_of_a_segment_in_one_batch_land_on_one_incident(analyst, segment_world):
    client = token_client(analyst)
    ids = [_accepted(client, alert_payload(attempts=1000 + n))["id"] for n in range(3)]
    other = _accepted(client, alert_payload(**OTHER_SEGMENT))["id"]

    assert alert_receipts_apply() == 4

    assert Incident.objects.count() == 2
    receipts = {r.pk: r for r in AlertReceipt.objects.all()}
    assert [receipts[pk].outcome for pk in ids] == ["opened", "updated", "updated"]
    assert len({receipts[pk].incident_id for pk in ids}) == 1
    assert receipts[other].outcome == "opened" and receipts[other].incident_id != receipts[ids[0]].incident_id
    incident = receipts[ids[0]].incident
    assert incident.affected_merchants.get().attempts == 1002  # the latest measurement, applied last
    assert CaseEvent.objects.filter(kind="alert_received", incident=incident).count() == 3


def test_repeats_of_a_segment_in_different_batches_land_on_one_incident(analyst, segment_world):
    client = token_client(analyst)
    first = _accepted(client, alert_payload())["id"]
    assert alert_receipts_apply() == 1
    second = _accepted(client, alert_payload(observed_approval_rate=0.5))["id"]  # 42 pp: worse
    assert alert_receipts_apply() == 1

    a, b = AlertReceipt.objects.get(pk=first), AlertReceipt.objects.get(pk=second)
    assert (a.outcome, b.outcome) == ("opened", "updated")
    assert a.incident_id == b.incident_id and Incident.objects.count() == 1
    assert Incident.objects.get().severity == "sev1"  # raised by the second alert's rules


def test_an_alert_that_fails_to_apply_is_marked_failed_with_why_and_the_batch_goes_on(analyst, segment_world):
    client = token_client(analyst)
    gone = MerchantFactory(account_id="acct_GONE0001", name="Tienda Cerrada")
    failing = _accepted(client, alert_payload(segment={"merchant": "acct_GONE0001"}))
    fine = _accepted(client, alert_payload())["id"]
    Merchant.objects.filter(pk=gone.pk).delete()  # between the request and the worker

    assert alert_receipts_apply() == 2

    receipt = AlertReceipt.objects.get(pk=failing["id"])
    assert (receipt.state, receipt.incident) == ("failed", None)
    assert receipt.error == {"segment.merchant": ["No merchant has the account id acct_GONE0001."]}
    status = client.get(failing["status_url"]).json()
    assert (status["state"], status["errors"], status["reference"]) == ("failed", receipt.error, None)
    assert AlertReceipt.objects.get(pk=fine).state == "applied"
    assert Incident.objects.count() == 1


def test_a_database_error_mid_batch_rolls_the_whole_batch_back_and_nothing_is_applied_twice(
    analyst, segment_world, monkeypatch
):
    client = token_client(analyst)
    _accepted(client, alert_payload())
    _accepted(client, alert_payload(**OTHER_SEGMENT))
    real, calls = services.alert_apply, []

    def apply_then_lose_the_database(**kwargs):
        calls.append(kwargs["fingerprint"])
        if len(calls) == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "alert_apply", apply_then_lose_the_database)
    with pytest.raises(OperationalError):
        alert_receipts_apply()
    assert not Incident.objects.exists() and not CaseEvent.objects.exists()
    assert set(AlertReceipt.objects.values_list("state", flat=True)) == {"pending"}

    monkeypatch.setattr(services, "alert_apply", real)
    assert alert_receipts_apply() == 2
    assert Incident.objects.count() == 2
    assert CaseEvent.objects.filter(kind="alert_received").count() == 2


def test_a_batch_past_its_time_budget_commits_what_it_applied_and_leaves_the_rest_pending(analyst, segment_world):
    client = token_client(analyst)
    ids = [_accepted(client, alert_payload(attempts=1000 + n))["id"] for n in range(3)]

    assert alert_receipts_apply(budget=0) == 1  # at least one, whatever the budget

    states = dict(AlertReceipt.objects.values_list("pk", "state"))
    assert [states[pk] for pk in ids] == ["applied", "pending", "pending"]
    assert alert_receipts_apply() == 2
    assert CaseEvent.objects.filter(kind="alert_received").count() == 3


def _batches(captured) -> int:
    """The batches a drain ran: each starts by locking the pending receipts it takes."""
    return sum(1 for query in captured if "alerts_alertreceipt" in query["sql"] and "SKIP LOCKED" in query["sql"])


def test_the_drain_commits_batch_after_batch_each_short_and_small(analyst, segment_world, monkeypatch):
    """A batch's transaction holds what it wrote (its incidents, the reference counter, the day's
    SLA rollup mark) until it commits, and an analyst's change there waits for it: the drain
    commits every ALERT_BATCH_SIZE alerts or BATCH_SECONDS, not once for its whole budget."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = token_client(analyst)
    for n in range(services.ALERT_BATCH_SIZE + 2):
        _accepted(client, alert_payload(attempts=1000 + n))
    with CaptureQueriesContext(connection) as by_size:
        assert services.alert_receipts_drain() == services.ALERT_BATCH_SIZE + 2
    assert _batches(by_size) == 3  # 25, then 2, then none left

    for n in range(3):
        _accepted(client, alert_payload(attempts=2000 + n))
    monkeypatch.setattr(services, "BATCH_SECONDS", 0)  # past its time at once: one alert a batch
    with CaptureQueriesContext(connection) as by_time:
        assert services.alert_receipts_drain() == 3
    assert _batches(by_time) == 4
    assert set(AlertReceipt.objects.values_list("state", flat=True)) == {"applied"}
    assert CaseEvent.objects.filter(kind="alert_received").count() == services.ALERT_BATCH_SIZE + 5


HOSTILE = [
    [],
    "alert",
    {"segment": "acct_ALERTS0001"},
    {"segment": {"merchant": ["x"]}, "window": 5},
    alert_payload(attempts=10**40),
    alert_payload(baseline_approval_rate="NaN"),
    alert_payload(decline_codes=[{"code": "91", "count": 1}] * 51),
    alert_payload(segment={"merchant": "acct_NOBODY"}),
    alert_payload(segment={"partner": "nobody", "issuer": "prosa"}),
    alert_payload(title="\x00" * 10),
]


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_payloads_get_400_and_leave_no_receipt(analyst, segment_world, payload):
    response = token_client(analyst).post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="hostile")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]
    assert not AlertReceipt.objects.exists()


def test_a_card_number_is_masked_in_the_stored_receipt_and_counted_on_the_timeline(analyst, segment_world):
    pan = "4532015112830366"
    payload = alert_payload(source=f"grafana {pan}", decline_codes=[{"code": f"91 {pan}", "count": 3}])

    _accepted(token_client(analyst), payload)

    receipt = AlertReceipt.objects.get()
    assert pan not in str(receipt.payload) and pan not in receipt.source
    assert receipt.masked_card_numbers == 2
    alert_receipts_apply()
    masked = CaseEvent.objects.get(kind=CaseEvent.Kind.CARD_NUMBERS_MASKED)
    assert (masked.data["origin"], masked.data["count"]) == ("alert", 2)


def test_the_status_url_is_the_senders_own(analyst, segment_world, outsider):
    accepted = _accepted(token_client(analyst), alert_payload())

    assert token_client(outsider).get(accepted["status_url"]).status_code == 403
    assert APIClient().get(accepted["status_url"]).status_code == 401
    assert token_client(analyst).get("/api/v1/alerts/999999/").status_code == 404


def _messages_waiting(app, queue: str) -> int:
    """Messages on `queue` in the broker (no worker consumes it)."""
    from kombu import Exchange, Queue

    with app.connection_for_write() as connection:
        bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(connection.default_channel)
        return bound.queue_declare().message_count


def test_the_worker_is_woken_by_the_oldest_pending_alert_only(
    analyst, segment_world, django_capture_on_commit_callbacks
):
    from payhealth.celery import app
    from tests.support import celery_routes, delete_queue

    client = token_client(analyst)
    queue = f"alerts-wake-{uuid.uuid4().hex[:12]}"

    def committed(url, body):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        assert response.status_code == 202, response.content
        assert len(callbacks) == 1
        return response.json()

    try:
        with celery_routes(app, [APPLY_TASK], queue):
            committed(URL, alert_payload())
            assert _messages_waiting(app, queue) == 1  # nothing older pending: published

            committed(URL, alert_payload(attempts=1001))
            batch = [{"idempotency_key": f"b-{n}", "alert": alert_payload(attempts=1002 + n)} for n in range(2)]
            answers = committed(f"{URL}batch/", {"alerts": batch})["results"]
            assert [answer["status"] for answer in answers] == [202, 202]
            assert _messages_waiting(app, queue) == 1  # the first one's task takes these as well

            assert alert_receipts_apply() == 4
            committed(URL, alert_payload(attempts=1004))
            assert _messages_waiting(app, queue) == 2  # none pending before it: published again
    finally:
        delete_queue(app, queue)


# --- a real worker, a real broker --------------------------------------------------------------


@pytest.fixture
def intake_worker(transactional_db, tmp_path):
    from payhealth.celery import app
    from tests.support import (
        celery_routes,
        database_url_for_workers,
        delete_queue,
        start_celery_worker,
        stop_celery_worker,
        subprocess_env,
        wait_for,
        worker_is_ready,
    )

    queue = f"alerts-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    process = start_celery_worker(
        queue=queue, log_path=log, env=subprocess_env(DATABASE_URL=database_url_for_workers())
    )
    try:
        wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker")
        assert process.poll() is None, log.read_text()
        # On connecting, the worker publishes its recovery sweeps, this one among them, to its own
        # queue: wait until it has run, so it cannot apply a receipt a test means to leave pending.
        wait_for(
            lambda: CONNECT_SWEEP_DONE.search(log.read_text()) or process.poll() is not None,
            timeout=60,
            what="the worker's sweep on connecting",
        )
        assert process.poll() is None, log.read_text()
        with celery_routes(app, [APPLY_TASK], queue):
            yield app, log
    finally:
        stop_celery_worker(process)
        delete_queue(app, queue)


@pytest.fixture
def live_world(transactional_db):
    MerchantFactory(account_id="acct_ALERTS0001", name="Tienda Norte")
    PartnerFactory(code="prosa", name="Prosa", kind="switch")
    PartnerFactory(code="banco-norte", name="Banco Norte", kind="issuer")
    return UserFactory(username="monitor", role="analyst")


def _wait_until_applied(ids, log):
    from tests.support import wait_for

    def settled():
        return not AlertReceipt.objects.filter(pk__in=ids, state="pending").exists()

    wait_for(settled, timeout=60, what=f"the worker to apply the alerts\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_a_real_worker_applies_accepted_alerts_published_on_commit(intake_worker, live_world):
    _app, log = intake_worker
    client = token_client(live_world)
    ids = [_accepted(client, alert_payload(attempts=1000 + n), key=f"live-{n}")["id"] for n in range(4)]
    ids.append(_accepted(client, alert_payload(**OTHER_SEGMENT), key="live-other")["id"])

    _wait_until_applied(ids, log)

    receipts = list(AlertReceipt.objects.filter(pk__in=ids).order_by("pk"))
    assert {r.state for r in receipts} == {"applied"}
    assert Incident.objects.count() == 2
    assert sorted(r.outcome for r in receipts) == ["opened", "opened", "updated", "updated", "updated"]
    assert len({r.incident_id for r in receipts[:4]}) == 1
    status = client.get(f"/api/v1/alerts/{ids[0]}/").json()
    assert status["reference"] == receipts[0].incident.reference


@pytest.mark.slow
def test_the_sweep_applies_a_receipt_whose_message_the_broker_never_got(intake_worker, live_world):
    from tests.support import celery_broker, free_port

    app, log = intake_worker
    client = token_client(live_world)
    with celery_broker(app, f"redis://127.0.0.1:{free_port()}/0"):  # nothing listens: the publish is lost
        lost = _accepted(client, alert_payload(), key="lost")["id"]
    assert AlertReceipt.objects.get(pk=lost).state == "pending"  # no message: nothing applies it

    app.send_task(APPLY_TASK)  # what beat sends every PAYHEALTH_RECOVERY_SWEEP_SECONDS

    _wait_until_applied([lost], log)
    receipt = AlertReceipt.objects.get(pk=lost)
    assert (receipt.state, receipt.outcome) == ("applied", "opened")
