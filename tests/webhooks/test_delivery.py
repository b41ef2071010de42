"""Delivering webhooks to a real HTTP server on loopback (pytest-httpserver), in this process:
`webhook_deliver` is what the Celery task runs (tests/webhooks/test_worker.py runs a worker)."""

import json
import threading

import pytest
from werkzeug import Response

from accounts.services import profile_update
from cases.services import incident_transition
from tests.factories import IncidentFactory, UserFactory, WebhookSubscriptionFactory
from tests.support import published, scripted_smtp_server, smtp_settings
from webhooks import delivery as delivery_module
from webhooks.delivery import DELIVER_TASK, WebhookRetry, webhook_deliver, webhook_requeue_stuck
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_delivery_replay, webhook_subscription_enable, webhook_subscription_ping
from webhooks.signing import verify

pytestmark = pytest.mark.django_db
Status = WebhookDelivery.Status


@pytest.fixture
def hook(httpserver, partner_manager):
    return WebhookSubscriptionFactory(
        owner=partner_manager, url=httpserver.url_for("/hook"), events=["incident.status_changed"]
    )


def status_change(analyst, to="triaging"):
    incident = IncidentFactory(title="Mastercard timeouts")
    incident_transition(incident=incident, actor=analyst, to=to)
    return incident, WebhookDelivery.objects.get(payload__incident__reference=incident.reference)


def received(httpserver):
    return [request for request, _response in httpserver.log]


def test_the_receiver_gets_a_signed_json_event_that_verifies(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook", method="POST").respond_with_data("thanks", status=200)
    incident, delivery = status_change(analyst)

    assert webhook_deliver(delivery_id=delivery.pk) == "succeeded"

    [request] = received(httpserver)
    body = request.get_data()
    assert verify(hook.secret, request.headers, body) is True
    assert verify("whsec_wrong", request.headers, body) is False
    assert request.headers["PayHealth-Webhook-Id"] == str(delivery.event_id)
    assert request.headers["Content-Type"] == "application/json"
    event = json.loads(body)
    assert (event["type"], event["incident"]["reference"], event["incident"]["status"]) == (
        "incident.status_changed",
        incident.reference,
        "triaging",
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SUCCEEDED, 1, 200)
    assert delivery.delivered_at is not None
    [attempt] = delivery.attempt_log.all()
    assert (attempt.number, attempt.response_status, attempt.response_body, attempt.error) == (1, 200, "thanks", "")
    assert attempt.request_headers["PayHealth-Webhook-Signature"] == request.headers["PayHealth-Webhook-Signature"]


def test_500s_are_retried_until_the_receiver_answers(httpserver, hook, analyst, fast_retries):
    httpserver.expect_ordered_request("/hook").respond_with_data("down", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("still down", status=503)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=204)
    _incident, delivery = status_change(analyst)

    for _ in range(2):
        with pytest.raises(WebhookRetry):
            webhook_deliver(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING
    assert webhook_deliver(delivery_id=delivery.pk) == "succeeded"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.SUCCEEDED, 3)
    attempts = list(delivery.attempt_log.values_list("number", "response_status", "response_body"))
    assert attempts == [(1, 500, "down"), (2, 503, "still down"), (3, 204, "")]
    ids = {r.headers["PayHealth-Webhook-Id"] for r in received(httpserver)}
    assert ids == {str(delivery.event_id)}  # one event id for every attempt
    hook.refresh_from_db()
    assert hook.consecutive_failures == 0


def test_a_4xx_answer_fails_the_delivery_without_retrying(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook").respond_with_data("unknown hook", status=410)
    _incident, delivery = status_change(analyst)

    assert webhook_deliver(delivery_id=delivery.pk) == "failed"
    assert webhook_deliver(delivery_id=delivery.pk) == "skipped"  # a second task posts nothing

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.FAILED, 1, 410)
    assert len(received(httpserver)) == 1
    hook.refresh_from_db()
    assert hook.consecutive_failures == 1


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried(httpserver, hook, analyst, fast_retries, status):
    httpserver.expect_request("/hook").respond_with_data("slow down", status=status)
    _incident, delivery = status_change(analyst)

    with pytest.raises(WebhookRetry):
        webhook_deliver(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == (Status.PENDING, status)


def test_redirects_are_not_followed(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook").respond_with_response(Response(status=302, headers={"Location": "/other"}))
    _incident, delivery = status_change(analyst)

    assert webhook_deliver(delivery_id=delivery.pk) == "failed"

    assert [r.path for r in received(httpserver)] == ["/hook"]


def test_timeouts_and_refused_connections_are_retried_then_abandoned(settings, partner_manager, analyst, fast_retries):
    from tests.support import free_port

    settings.PAYHEALTH_WEBHOOK_MAX_ATTEMPTS = 2
    hook = WebhookSubscriptionFactory(
        owner=partner_manager, url=f"http://127.0.0.1:{free_port()}/hook", events=["incident.status_changed"]
    )
    _incident, delivery = status_change(analyst)

    with pytest.raises(WebhookRetry):
        webhook_deliver(delivery_id=delivery.pk)
    assert webhook_deliver(delivery_id=delivery.pk) == "abandoned"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.ABANDONED, 2, None)
    assert delivery.last_error.startswith("Gave up after 2 attempts: ConnectionRefusedError")
    hook.refresh_from_db()
    assert hook.consecutive_failures == 1


def test_a_slow_receiver_times_out(httpserver, hook, analyst, fast_retries):
    gave_up = threading.Event()

    def answers_only_after_the_client_gave_up(request):
        # bounded: a client that does not give up gets this answer after 10 s, and the test fails
        gave_up.wait(timeout=10)
        return Response("late")

    fast_retries.PAYHEALTH_WEBHOOK_TIMEOUT = 1
    httpserver.expect_request("/hook").respond_with_handler(answers_only_after_the_client_gave_up)
    _incident, delivery = status_change(analyst)

    try:
        with pytest.raises(WebhookRetry):
            webhook_deliver(delivery_id=delivery.pk)
    finally:
        gave_up.set()

    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.response_status is None
    assert "timed out" in attempt.error
    assert attempt.duration_ms >= 1000


def test_only_the_first_512_bytes_of_the_answer_are_kept(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook").respond_with_data("x" * 10000, status=400)
    _incident, delivery = status_change(analyst)

    webhook_deliver(delivery_id=delivery.pk)

    assert delivery.attempt_log.get().response_body == "x" * 512


def test_a_character_cut_at_the_limit_is_dropped_not_garbled(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook").respond_with_data("x" * 511 + "ñandú", status=400)
    _incident, delivery = status_change(analyst)

    webhook_deliver(delivery_id=delivery.pk)

    assert delivery.attempt_log.get().response_body == "x" * 511  # "ñ" is two bytes: the 512th is half of it


def test_a_subscription_is_disabled_after_the_limit_and_its_owner_is_told(
    httpserver, analyst, settings, fast_retries, django_capture_on_commit_callbacks
):
    settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER = 3
    settings.PAYHEALTH_SITE_URL = "https://desk.example.test"
    owner = UserFactory(username="paula", email="paula@payhealth.test", role="partner_manager")
    profile_update(user=owner, timezone="America/Mexico_City", language="es")
    hook = WebhookSubscriptionFactory(
        owner=owner, name="Chat", url=httpserver.url_for("/hook"), events=["incident.status_changed"]
    )
    httpserver.expect_request("/hook").respond_with_data("no", status=404)
    incident = IncidentFactory()
    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        for to in ("triaging", "investigating", "mitigated"):
            incident_transition(incident=incident, actor=analyst, to=to)
        for delivery in WebhookDelivery.objects.order_by("pk"):
            with django_capture_on_commit_callbacks(execute=True):
                webhook_deliver(delivery_id=delivery.pk)

    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (False, 3)
    assert hook.disabled_reason.startswith("Disabled after 3 failed deliveries in a row. Last error: HTTP 404")
    [mail] = smtp.accepted
    assert mail["To"] == "paula@payhealth.test"
    assert "Chat" in str(mail["Subject"])
    assert f"https://desk.example.test/webhooks/{hook.pk}/" in mail.get_content()
    # A disabled subscription hears nothing more, and queued deliveries are abandoned unsent.
    incident_transition(incident=incident, actor=analyst, to="resolved")
    assert WebhookDelivery.objects.count() == 3
    webhook_subscription_enable(subscription=hook, actor=owner)
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.disabled_reason) == (True, 0, "")


def test_the_disabled_notice_is_in_the_owners_language(db, settings):
    from django.core import mail

    from webhooks.delivery import mail_subscription_disabled

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    owner = UserFactory(username="paula", email="paula@payhealth.test", role="partner_manager")
    profile_update(user=owner, timezone="America/Mexico_City", language="es")
    hook = WebhookSubscriptionFactory(owner=owner, name="Chat", active=False, consecutive_failures=10)

    assert mail_subscription_disabled(hook.pk) is True

    [message] = mail.outbox
    assert message.subject == "PayHealth desactivó su webhook “Chat”"  # the owner's language
    assert message.to == ["paula@payhealth.test"]


def test_a_replay_is_the_same_event_signed_at_its_own_time(
    httpserver, hook, analyst, partner_manager, fast_retries, monkeypatch
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    _incident, original = status_change(analyst)
    monkeypatch.setattr(delivery_module, "signing_timestamp", lambda: 1_800_000_000)
    webhook_deliver(delivery_id=original.pk)

    monkeypatch.setattr(delivery_module, "signing_timestamp", lambda: 1_800_000_090)
    replay = webhook_delivery_replay(delivery=original, actor=partner_manager)
    assert webhook_deliver(delivery_id=replay.pk) == "succeeded"

    first, second = received(httpserver)
    assert (replay.replay_of_id, replay.event_id, replay.payload) == (original.pk, original.event_id, original.payload)
    assert first.get_data() == second.get_data()
    assert first.headers["PayHealth-Webhook-Id"] == second.headers["PayHealth-Webhook-Id"] == str(original.event_id)
    assert (first.headers["PayHealth-Webhook-Timestamp"], second.headers["PayHealth-Webhook-Timestamp"]) == (
        "1800000000",
        "1800000090",
    )
    assert verify(hook.secret, second.headers, second.get_data(), now=1_800_000_100) is True
    assert verify(hook.secret, first.headers, first.get_data(), now=1_800_000_400) is False  # stale by then


def test_replay_is_refused_to_someone_else_and_for_a_disabled_hook(hook, analyst, partner_manager):
    from django.core.exceptions import PermissionDenied, ValidationError

    _incident, original = status_change(analyst)
    other_manager = UserFactory(username="pedro", role="partner_manager")

    with pytest.raises(PermissionDenied):
        webhook_delivery_replay(delivery=original, actor=other_manager)
    hook.active = False
    hook.save()
    with pytest.raises(ValidationError):
        webhook_delivery_replay(delivery=original, actor=partner_manager)
    assert WebhookDelivery.objects.count() == 1


def test_ping_reaches_the_receiver(httpserver, hook, partner_manager, fast_retries):
    httpserver.expect_request("/hook").respond_with_data("pong")

    ping = webhook_subscription_ping(subscription=hook, actor=partner_manager)
    assert webhook_deliver(delivery_id=ping.pk) == "succeeded"

    [request] = received(httpserver)
    assert json.loads(request.get_data())["type"] == "ping"
    assert verify(hook.secret, request.headers, request.get_data()) is True


def test_the_sweep_requeues_lost_deliveries(hook, analyst, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    _incident, lost = status_change(analyst)
    long_ago = timezone.now() - timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=long_ago)
    _incident, recent = status_change(analyst, to="triaging")

    with django_capture_on_commit_callbacks() as callbacks:
        assert webhook_requeue_stuck() == 1

    assert published(callbacks, DELIVER_TASK) == [[lost.pk]]
    lost.refresh_from_db()
    assert lost.status == Status.PENDING and lost.next_attempt_at > long_ago


def test_a_receivers_answer_is_kept_without_card_numbers(httpserver, hook, analyst, fast_retries):
    httpserver.expect_request("/hook").respond_with_data("refused: card 4111 1111 1111 1111", status=400)
    _incident, delivery = status_change(analyst)

    webhook_deliver(delivery_id=delivery.pk)

    assert delivery.attempt_log.get().response_body == "refused: card 411111******1111"


def test_after_the_broker_returns_every_pending_delivery_created_before_is_published_again(
    hook, analyst, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    _incident, lost_with_the_broker = status_change(analyst)
    reconnected_at = timezone.now()
    _incident, after = status_change(analyst, to="triaging")

    with django_capture_on_commit_callbacks() as callbacks:
        assert webhook_requeue_stuck() == 0  # younger than the stuck threshold
        assert webhook_requeue_stuck(reconnected_at=reconnected_at) == 1

    assert published(callbacks, DELIVER_TASK) == [[lost_with_the_broker.pk]]
    assert after.pk not in published(callbacks, DELIVER_TASK)[0]


@pytest.mark.django_db(transaction=True)  # the worker drops its broken connection between tries
def test_an_answer_the_database_could_not_take_is_recorded_again_and_never_posted_twice(
    httpserver, hook, analyst, fast_retries, monkeypatch
):
    from django.db import OperationalError

    from webhooks.delivery import OutcomeNotRecorded, webhook_record_outcome

    httpserver.expect_request("/hook").respond_with_data("ok", status=200)
    _incident, delivery = status_change(analyst)
    real_record = delivery_module._record
    down = {"tries": 0}

    def database_away(delivery_id, outcome):
        down["tries"] += 1
        raise OperationalError("the database server closed the connection")

    monkeypatch.setattr(delivery_module, "_record", database_away)
    fast_retries.CELERY_TASK_SOFT_TIME_LIMIT = 0.2  # a short budget for recording, in this test
    with pytest.raises(OutcomeNotRecorded) as kept:
        webhook_deliver(delivery_id=delivery.pk)
    assert down["tries"] >= 1
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERING  # nothing recorded yet, and nothing retried

    monkeypatch.setattr(delivery_module, "_record", real_record)
    assert webhook_record_outcome(delivery_id=delivery.pk, outcome=kept.value.outcome) == "succeeded"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SUCCEEDED, 1, 200)
    assert len(received(httpserver)) == 1
