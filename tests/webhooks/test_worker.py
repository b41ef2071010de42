"""End to end: a real Celery worker (the configured broker, a queue of its own) delivers to a
real HTTP server on loopback, retrying after a 500, and sends nothing past the failure that
disables a subscription."""

import contextlib
import uuid

import pytest

from cases.services import incident_transition
from payhealth.celery import app
from tests.factories import IncidentFactory, WebhookSubscriptionFactory
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
from tests.webhooks.receivers import parallel_receiver
from webhooks.models import WebhookDelivery
from webhooks.signing import verify

WEBHOOK_TASKS = ["webhooks.deliver_webhook_task", "webhooks.requeue_stuck_webhooks_task"]


@contextlib.contextmanager
def running_worker(tmp_path, *, concurrency: int = 1, **settings: str):
    queue = f"webhooks-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(
        DATABASE_URL=database_url_for_workers(),
        PAYHEALTH_WEBHOOK_RETRY_BACKOFF="1",
        PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX="1",
        PAYHEALTH_WEBHOOK_TIMEOUT="5",
        **settings,
    )
    process = start_celery_worker(queue=queue, log_path=log, env=env, concurrency=concurrency)
    try:
        wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker to start")
        assert process.poll() is None, log.read_text()
        with celery_routes(app, WEBHOOK_TASKS, queue):
            yield log
    finally:
        stop_celery_worker(process)
        delete_queue(app, queue)


@pytest.fixture
def webhook_worker(transactional_db, tmp_path):
    with running_worker(tmp_path) as log:
        yield log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_500_then_delivers_a_verified_event(
    webhook_worker, httpserver, analyst, partner_manager
):
    hook = WebhookSubscriptionFactory(
        owner=partner_manager, url=httpserver.url_for("/hook"), events=["incident.status_changed"]
    )
    httpserver.expect_ordered_request("/hook").respond_with_data("busy", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", status=200)
    incident = IncidentFactory()

    incident_transition(incident=incident, actor=analyst, to="triaging")

    delivery = WebhookDelivery.objects.get(subscription=hook)
    try:
        wait_for(
            lambda: WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded",
            timeout=30,
            what="the delivery to succeed",
        )
    except AssertionError:
        raise AssertionError(webhook_worker.read_text()) from None
    delivery.refresh_from_db()
    assert delivery.attempts == 2
    assert list(delivery.attempt_log.values_list("response_status", flat=True)) == [500, 200]
    requests = [request for request, _response in httpserver.log]
    assert len(requests) == 2
    assert all(verify(hook.secret, r.headers, r.get_data()) for r in requests)
    assert "retry: Retry in" in webhook_worker.read_text()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_nothing_after_the_failure_that_disables_the_subscription(
    tmp_path, analyst, partner_manager
):
    """Three deliveries reach a worker of three processes at once while the subscription is one
    failure away from being disabled: one is sent, its failure disables the subscription, and the
    two others wait for it and are abandoned unsent (the count ends at the limit, not past it)."""

    def held_back(delivery):
        return delivery.status == "pending" and delivery.attempts == 0 and delivery.last_error != ""

    with parallel_receiver() as (receiver, handler):
        hook = WebhookSubscriptionFactory(
            owner=partner_manager,
            url=receiver.url_for("/hook"),
            events=["incident.status_changed"],
            consecutive_failures=2,
        )
        incident = IncidentFactory()
        with running_worker(tmp_path, concurrency=3, PAYHEALTH_WEBHOOK_DISABLE_AFTER="3") as log:
            for to in ("triaging", "investigating", "mitigated"):
                incident_transition(incident=incident, actor=analyst, to=to)
            try:
                wait_for(
                    lambda: (
                        len(handler.arrived) == 3
                        or (handler.arrived and sum(map(held_back, WebhookDelivery.objects.all())) == 2)
                    ),
                    timeout=30,
                    what="every delivery to be sent or held back",
                )
                handler.released.set()
                wait_for(
                    lambda: all(d.finished for d in WebhookDelivery.objects.all()),
                    timeout=30,
                    what="every delivery to finish",
                )
            except AssertionError:
                raise AssertionError(log.read_text()) from None

    assert len(handler.arrived) == 1
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (False, 3)
    outcomes = sorted(WebhookDelivery.objects.values_list("status", "attempts"))
    assert outcomes == [("abandoned", 0), ("abandoned", 0), ("failed", 1)]
