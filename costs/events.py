"""Outbound webhook `cost_finding.created`: one event per finding a check run creates.

The event id derives from the finding (`cost_finding:<id>:created`), and a re-run of the checks
keeps an open finding whose figures did not change (costs/checks.py), so each finding reaches a
subscription once. Nothing is built when no active subscription listens. docs/webhooks.md lists the
payload's keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import NoReverseMatch, reverse
from django.utils import translation

from costs.models import CostFinding
from payhealth.links import absolute_url
from webhooks.models import EventType
from webhooks.selectors import subscribed_event_types
from webhooks.services import webhook_event_emit, webhook_event_id


def _text(value) -> str | None:
    return None if value is None else str(value)


def cost_finding_url(finding: CostFinding) -> str:
    """The finding's page on the desk (the admin's read-only page until the desk has its own)."""
    try:
        path = reverse("costs:finding_detail", args=[finding.pk])
    except NoReverseMatch:
        path = reverse("admin:costs_costfinding_change", args=[finding.pk])
    return absolute_url(path)


def cost_finding_webhook_payload(finding: CostFinding) -> dict:
    """The `data` of a `cost_finding.created` event: money and rates as strings, exact."""
    with translation.override("en"):
        explanation = finding.explanation()
    return {
        "finding": finding.pk,
        "kind": finding.kind,
        "partner": {"code": finding.partner.code, "name": finding.partner.name},
        "period": finding.period.strftime("%Y-%m"),
        "cohort": dict(finding.cohort),
        "fee_type": finding.fee_type,
        "fee_code": finding.fee_code,
        "rate_card_version": finding.rate_card_version,
        "transactions": finding.count,
        "volume": _text(finding.volume),
        "expected_bps": _text(finding.expected_bps),
        "billed_bps": _text(finding.billed_bps),
        "expected_amount": _text(finding.expected_amount),
        "billed_amount": _text(finding.billed_amount),
        "amount_at_stake": _text(finding.amount),
        "currency": finding.currency,
        "severity": finding.severity,
        "explanation": explanation,
        "url": cost_finding_url(finding),
    }


def cost_findings_created(findings: Iterable[CostFinding]) -> int:
    """`cost_finding.created` for each new finding to the subscriptions listening; returns the
    deliveries made. Costs no query when nobody listens."""
    if EventType.COST_FINDING_CREATED not in subscribed_event_types():
        return 0
    made = 0
    for finding in findings:
        made += len(
            webhook_event_emit(
                EventType.COST_FINDING_CREATED,
                cost_finding_webhook_payload(finding),
                webhook_event_id(f"cost_finding:{finding.pk}:created"),
            )
        )
    return made
