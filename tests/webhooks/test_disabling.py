"""A subscription is disabled by the failure that reaches PAYHEALTH_WEBHOOK_DISABLE_AFTER, and no
attempt is sent after it: each attempt is claimed under the subscription's row lock, and no more
attempts run at once than failures are left. Real concurrent transactions (threads with their
own connections) against a receiver that answers several requests at once."""

import threading

import pytest
from django.db import connection

from cases.services import incident_transition
from tests.database import HeldTransaction
from tests.factories import IncidentFactory, WebhookSubscriptionFactory
from tests.support import wait_for
from tests.webhooks.receivers import parallel_receiver
from webhooks import delivery as delivery_module
from webhooks.delivery import WebhookRetry, webhook_deliver
from webhooks.models import WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)
Status = WebhookDelivery.Status


@pytest.fixture
def receiver():
    with parallel_receiver() as (server, handler):
        yield server, handler


def deliveries(analyst, count: int) -> list[WebhookDelivery]:
    incident = IncidentFactory()
    for to in ["triaging", "investigating", "mitigated", "resolved"][:count]:
        incident_transition(incident=incident, actor=analyst, to=to)
    return list(WebhookDelivery.objects.order_by("pk"))


def in_thread(function, results: list) -> threading.Thread:
    def run():
        try:
            results.append(function())
        except BaseException as exc:  # reported by the test's assertions
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_attempt_that_could_fail_past_the_limit_waits_for_the_one_under_way(
    receiver, partner_manager, analyst, settings, fast_retries
):
    server, handler = receiver
    settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER = 3
    hook = WebhookSubscriptionFactory(
        owner=partner_manager, url=server.url_for("/hook"), events=["incident.status_changed"], consecutive_failures=2
    )
    first, second = deliveries(analyst, 2)
    results: list = []
    thread = in_thread(lambda: webhook_deliver(delivery_id=first.pk), results)
    try:
        wait_for(lambda: handler.arrived, timeout=10, what="the first attempt to reach the receiver")

        with pytest.raises(WebhookRetry):  # were it sent, both could fail: the limit would be overshot
            webhook_deliver(delivery_id=second.pk)
        second.refresh_from_db()
        assert (second.status, second.attempts) == (Status.PENDING, 0)
        assert second.last_error.startswith("Waiting for the deliveries already under way")
    finally:
        handler.released.set()
        thread.join(timeout=30)

    assert results == ["failed"]
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (False, 3)
    assert webhook_deliver(delivery_id=second.pk) == "skipped"
    second.refresh_from_db()
    assert (second.status, second.attempts) == (Status.ABANDONED, 0)
    assert len(handler.arrived) == 1


def test_attempts_run_side_by_side_while_failures_are_left(receiver, partner_manager, analyst, settings, fast_retries):
    server, handler = receiver
    settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER = 3
    WebhookSubscriptionFactory(owner=partner_manager, url=server.url_for("/hook"), events=["incident.status_changed"])
    first, second = deliveries(analyst, 2)
    results: list = []
    thread = in_thread(lambda: webhook_deliver(delivery_id=first.pk), results)
    try:
        wait_for(lambda: handler.arrived, timeout=10, what="the first attempt to reach the receiver")

        assert webhook_deliver(delivery_id=second.pk) == "failed"  # not held: two failures still leave one
    finally:
        handler.released.set()
        thread.join(timeout=30)

    assert results == ["failed"]
    assert len(handler.arrived) == 2


def test_an_attempt_claimed_while_the_disabling_failure_commits_waits_for_it_and_sends_nothing(
    receiver, partner_manager, analyst, settings, fast_retries, monkeypatch
):
    """The failure that disables the subscription is held before it commits; an attempt claimed
    meanwhile must wait for the subscription's lock, then find it disabled."""
    server, handler = receiver
    handler.released.set()  # every request answers at once
    settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER = 3
    hook = WebhookSubscriptionFactory(
        owner=partner_manager, url=server.url_for("/hook"), events=["incident.status_changed"], consecutive_failures=2
    )
    first, second = deliveries(analyst, 2)
    held = HeldTransaction()
    real_forget = delivery_module.forget_subscribed_event_types

    def forget_then_hold():  # runs in the transaction that disables the subscription
        real_forget()
        held.hold()

    monkeypatch.setattr(delivery_module, "forget_subscribed_event_types", forget_then_hold)
    first_results: list = []
    second_results: list = []
    first_thread = in_thread(lambda: webhook_deliver(delivery_id=first.pk), first_results)
    second_thread = None
    try:
        held.wait_until_held()
        second_thread = in_thread(lambda: webhook_deliver(delivery_id=second.pk), second_results)
        held.wait_until_blocking(1)
    finally:
        held.let_go()
        first_thread.join(timeout=30)
        if second_thread is not None:
            second_thread.join(timeout=30)

    assert (first_results, second_results) == (["failed"], ["skipped"])
    assert len(handler.arrived) == 1
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures) == (False, 3)
    second.refresh_from_db()
    assert (second.status, second.attempts) == (Status.ABANDONED, 0)
    assert second.last_error == "The webhook was disabled before this event could be delivered."
