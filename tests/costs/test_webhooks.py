"""Webhook `cost_finding.created`: one delivery per new finding to a real HTTP receiver on
loopback, none again when a re-check finds the same, one for a finding whose figures changed."""

from __future__ import annotations

import json

import pytest
from django.utils import translation

from costs.checks import costs_check
from costs.models import CostFinding
from tests.costs.conftest import DEBIT_ECOM, JUNE, bulk_load, load, records
from tests.factories import WebhookSubscriptionFactory
from webhooks.delivery import webhook_deliver
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_event_id
from webhooks.signing import verify

pytestmark = pytest.mark.django_db

RULE_45 = {"fee_type": "interchange", **DEBIT_ECOM, "rate_bps": "45"}
UNKNOWN_LINE = {"period": "2026-06", "fee_code": "SRV-99", "count": "10", "volume": "0", "amount": "2500.00"}


@pytest.fixture
def fast_retries(settings):
    settings.PAYHEALTH_WEBHOOK_TIMEOUT = 2
    return settings


@pytest.fixture
def hook(httpserver, partner_manager):
    httpserver.expect_request("/costs-hook", method="POST").respond_with_data("ok", status=200)
    return WebhookSubscriptionFactory(
        owner=partner_manager, url=httpserver.url_for("/costs-hook"), events=["cost_finding.created"]
    )


def english(finding) -> str:
    with translation.override("en"):
        return finding.explanation()


def deliver_all() -> None:
    for delivery in WebhookDelivery.objects.filter(status="pending").order_by("pk"):
        assert webhook_deliver(delivery_id=delivery.pk) == "succeeded"


def bodies(httpserver, hook) -> list[dict]:
    requests = [request for request, _response in httpserver.log]
    assert all(verify(hook.secret, r.headers, r.get_data()) for r in requests)
    return [json.loads(r.get_data()) for r in requests]


def test_each_new_finding_is_delivered_once_and_a_recheck_sends_nothing(
    httpserver, hook, acquirer, approved_card, fast_retries
):
    approved_card(acquirer, [RULE_45])
    bulk_load(acquirer, records(1000, amount="10000.00", fee_bps=52))  # 7 bps over on MXN 10,000,000
    load(acquirer, [UNKNOWN_LINE], shape="invoice")

    assert costs_check(period=JUNE).created == 2
    deliver_all()

    sent = bodies(httpserver, hook)
    assert sorted(body["data"]["kind"] for body in sent) == ["rate_deviation", "unknown_fee"]
    deviation = next(body for body in sent if body["data"]["kind"] == "rate_deviation")
    finding = CostFinding.objects.get(kind="rate_deviation")
    assert deviation["type"] == "cost_finding.created"
    assert deviation["id"] == str(webhook_event_id(f"cost_finding:{finding.pk}:created"))
    data = deviation["data"]
    assert data["finding"] == finding.pk
    assert data["partner"] == {"code": "adquirente-mx", "name": "Adquirente MX"}
    assert (data["period"], data["cohort"], data["fee_type"]) == ("2026-06", DEBIT_ECOM, "interchange")
    assert (data["expected_bps"], data["billed_bps"]) == ("45.0000", "52.0000")
    assert (data["expected_amount"], data["billed_amount"], data["amount_at_stake"]) == (
        "45000.00",
        "52000.00",
        "7000.00",
    )
    assert (data["currency"], data["severity"], data["transactions"]) == ("MXN", "low", 1000)
    with translation.override("es"):  # whatever the language of the run: the English sentence
        assert data["explanation"] == english(finding)
    assert data["explanation"].startswith("Adquirente MX billed Interchange at 52.")
    assert data["url"].endswith(f"/{finding.pk}/change/") or data["url"].endswith(f"/{finding.pk}/")

    again = costs_check(period=JUNE)  # the same billing: the same findings, kept

    assert (again.findings, again.created) == (2, 0)
    assert CostFinding.objects.get(kind="rate_deviation").pk == finding.pk
    assert WebhookDelivery.objects.count() == 2


def test_a_finding_whose_figures_change_is_replaced_and_sent_the_unchanged_one_is_not(
    httpserver, hook, acquirer, approved_card, fast_retries
):
    approved_card(acquirer, [RULE_45])
    bulk_load(acquirer, records(1000, amount="10000.00", fee_bps=52))
    load(acquirer, [UNKNOWN_LINE], shape="invoice")
    costs_check(period=JUNE)
    unknown = CostFinding.objects.get(kind="unknown_fee")
    first = CostFinding.objects.get(kind="rate_deviation")

    bulk_load(acquirer, records(500, amount="10000.00", fee_bps=52, prefix="MORE"))  # the deviation grows
    result = costs_check(partner=acquirer, period=JUNE)

    assert (result.findings, result.created) == (2, 1)
    assert CostFinding.objects.get(kind="unknown_fee").pk == unknown.pk
    grown = CostFinding.objects.get(kind="rate_deviation")
    assert grown.pk != first.pk and grown.amount == 10500
    assert WebhookDelivery.objects.count() == 3
    deliver_all()
    assert [body["data"]["amount_at_stake"] for body in bodies(httpserver, hook)].count("10500.00") == 1


def test_no_webhook_for_a_finding_nobody_subscribed_to(acquirer, approved_card, partner_manager):
    WebhookSubscriptionFactory(owner=partner_manager, events=["finding.created"])
    load(acquirer, [UNKNOWN_LINE], shape="invoice")

    assert costs_check(period=JUNE).created == 1
    assert not WebhookDelivery.objects.exists()


def test_the_documented_keys_are_the_payloads_keys(acquirer):
    """docs/webhooks.md lists the `data` keys of `cost_finding.created`; they are what is sent."""
    import re
    from pathlib import Path

    from costs.events import cost_finding_webhook_payload

    load(acquirer, [UNKNOWN_LINE], shape="invoice")
    costs_check(period=JUNE)
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    paragraph = text[text.index("Its `data` keys: `finding`") : text.index("Money and rates are strings")]
    documented = set(re.findall(r"`([a-z_]+)`", paragraph))
    documented -= {"data", "rate_deviation", "cost_regression", "downgrade_spike", "duplicate_fee"}
    documented -= {"unknown_fee", "cross_border_misclass", "zero_rated_giro", "code", "name", "network"}
    documented -= {"funding", "giro", "cost_spike"}
    assert documented == set(cost_finding_webhook_payload(CostFinding.objects.get()))
