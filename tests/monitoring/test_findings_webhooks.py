"""Webhooks `finding.created` and `finding.recovered`: emitted once per finding event (a
deterministic id), free when nobody listens, and delivered signed by a real worker to a loopback
receiver."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from monitoring.findings import finding_escalated, finding_opened, finding_recovered
from monitoring.models import Finding, FindingState, Segment
from partners.models import Partner
from tests.database import HeldTransaction
from tests.factories import MerchantFactory, PartnerFactory, WebhookSubscriptionFactory
from tests.support import wait_for
from tests.webhooks.test_worker import running_worker
from webhooks.models import WebhookDelivery
from webhooks.selectors import SUBSCRIBED_TYPES_KEY, subscribed_event_types
from webhooks.services import webhook_event_emit, webhook_event_id
from webhooks.signing import verify

EVENTS = ["finding.created", "finding.recovered"]


@pytest.fixture(autouse=True)
def _forget_cached_subscribers():
    cache.delete(SUBSCRIBED_TYPES_KEY)
    yield
    cache.delete(SUBSCRIBED_TYPES_KEY)


def _finding() -> Finding:
    prosa = PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)
    merchant = MerchantFactory(account_id="acct_HOOKED0001", name="Tienda Avisada")
    parent = Segment.objects.create(merchant=merchant, dimensions_hash="hooked-merchant")
    segment = Segment.objects.create(
        merchant=merchant, parent=parent, route=prosa, network="visa", bin_prefix="415231", dimensions_hash="hooked"
    )
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return Finding.objects.create(
        kind="approval_drop",
        segment=segment,
        state=FindingState.ALERTED,
        window_start=end - timedelta(hours=1),
        window_end=end,
        baseline_rate=Decimal("0.860000"),
        observed_rate=Decimal("0.560000"),
        attempts=1000,
        approvals=560,
        excess_declines=300,
        p_value=1e-9,
        q_value=2e-8,
        attribution_kind="drop",
    )


@pytest.mark.django_db
def test_a_finding_event_costs_no_query_when_nobody_listens(django_assert_num_queries):
    finding = _finding()
    subscribed_event_types()  # the cached set, as a running process has it

    with django_assert_num_queries(0):
        finding_opened(finding)


@pytest.mark.django_db
def test_one_event_id_gives_each_subscription_one_delivery(partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager, events=EVENTS)
    WebhookSubscriptionFactory(owner=partner_manager, events=["incident.opened"])
    finding = _finding()

    finding_opened(finding)
    finding_opened(finding)  # the detector's transaction retried, say
    again = webhook_event_emit("finding.created", {}, webhook_event_id(f"finding:{finding.pk}:created"))

    assert again == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.subscription == hook
    assert delivery.event_id == webhook_event_id(f"finding:{finding.pk}:created")
    data = delivery.payload["data"]
    assert delivery.payload["type"] == "finding.created"
    assert data["finding"] == finding.pk and data["state"] == "alerted" and data["incident"] is None
    assert data["segment"]["route"] == "prosa" and data["segment"]["bin_prefix"] == "415231"
    assert (data["baseline_rate"], data["observed_rate"], data["excess_declines"]) == ("0.860000", "0.560000", 300)
    assert data["q_value"] == 2e-8


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_finding_created_and_recovered_signed(tmp_path, httpserver, partner_manager):
    hook = WebhookSubscriptionFactory(owner=partner_manager, url=httpserver.url_for("/hook"), events=EVENTS)
    httpserver.expect_request("/hook").respond_with_data("ok", status=200)
    finding = _finding()

    with running_worker(tmp_path) as log:
        finding_opened(finding)
        finding_escalated(finding)
        finding.refresh_from_db()
        finding.state, finding.recovered_at = FindingState.RECOVERED, finding.window_end
        finding.save()
        finding_recovered(finding)
        try:
            wait_for(
                lambda: (
                    WebhookDelivery.objects.filter(subscription=hook, status="succeeded").count() == 2
                    and len(httpserver.log) == 2
                ),
                timeout=30,
                what="both deliveries to succeed",
            )
        except AssertionError:
            raise AssertionError(log.read_text()) from None

    requests = [request for request, _response in httpserver.log]
    assert all(verify(hook.secret, r.headers, r.get_data()) for r in requests)
    bodies = {body["type"]: body for body in (json.loads(r.get_data()) for r in requests)}
    assert set(bodies) == set(EVENTS)
    assert bodies["finding.created"]["data"]["incident"] is None
    recovered = bodies["finding.recovered"]["data"]
    assert recovered["state"] == "recovered"
    assert recovered["incident"] == finding.incident.reference
    assert recovered["segment"]["merchant"] == "acct_HOOKED0001"


@pytest.mark.django_db
def test_the_documented_finding_keys_are_the_payloads_keys():
    """docs/webhooks.md lists the `data` keys of finding events; they are what is sent."""
    import re
    from pathlib import Path

    from monitoring.findings import finding_webhook_payload

    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    paragraph = text[text.index("Their\n`data` keys:") : text.index("See [findings.md]")]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph)) - {"data", "null"}
    payload = finding_webhook_payload(_finding())
    sent = set(payload) | set(payload["segment"]) | set(payload["window"])
    assert documented == sent


@pytest.mark.django_db(transaction=True)
def test_two_emitters_of_one_event_at_once_give_one_delivery(partner_manager):
    """The first emitter is held inside its transaction (deliveries written, not committed)
    until PostgreSQL shows the second one waiting for it; the second then sends nothing."""
    hook = WebhookSubscriptionFactory(owner=partner_manager, events=EVENTS)
    event_id = webhook_event_id("finding:1:created")
    held = HeldTransaction()
    results: list = [None, None]

    def emit(index: int) -> None:
        try:
            with transaction.atomic():
                results[index] = webhook_event_emit("finding.created", {"finding": 1}, event_id)
                held.hold()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[index] = error
        finally:
            connection.close()

    first = threading.Thread(target=emit, args=(0,))
    first.start()
    held.wait_until_held()
    second = threading.Thread(target=emit, args=(1,))
    second.start()
    try:
        held.wait_until_blocking(1)
    finally:
        held.let_go()
        first.join(timeout=30)
        second.join(timeout=30)

    assert [len(result) for result in results] == [1, 0], results
    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [hook.pk]
