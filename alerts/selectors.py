"""Reads for the alerts app: the severity the rules give, and what a user may see."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet

from alerts.models import AlertReceipt, AlertSeverityRule
from cases.models.incident import Severity


def severity_rank(severity: str) -> int:
    """1 for SEV1 (most severe) … 4 for SEV4, so that `min` picks the more severe."""
    return int(severity[-1])


def alert_severity_for(
    *, drop_pp: Decimal, attempts: int, volume: Decimal | None = None, currency: str = "", rules=None
) -> str:
    """The severity of the first active rule (lowest priority number) that the measured impact meets.

    No rule met means SEV4: an alert always opens something a person looks at.
    """
    if rules is None:
        rules = AlertSeverityRule.objects.filter(active=True).order_by("priority", "id")
    for rule in rules:
        if rule.matches(drop_pp=drop_pp, attempts=attempts, volume=volume, currency=currency):
            return rule.severity
    return Severity.SEV4


def alert_rules_visible_to(*, user) -> QuerySet[AlertSeverityRule]:
    if not user.has_perm("alerts.view_alertseverityrule"):
        return AlertSeverityRule.objects.none()
    return AlertSeverityRule.objects.select_related("updated_by").order_by("priority", "id")


def alert_receipts_visible_to(*, user) -> QuerySet[AlertReceipt]:
    """Every receipt for the desk (alerts are not private to their sender); nothing for others."""
    if not user.has_perm("alerts.view_alertreceipt"):
        return AlertReceipt.objects.none()
    return AlertReceipt.objects.select_related("user", "incident")


def alert_status_visible_to(*, user) -> QuerySet[AlertReceipt]:
    """The receipts whose state a user may ask for: every one with the right to read receipts,
    else their own alerts (a monitoring account follows what it sent)."""
    receipts = AlertReceipt.objects.only(
        "id",
        "user_id",
        "state",
        "created_at",
        "applied_at",
        "fingerprint",
        "outcome",
        "incident_id",
        "response_body",
        "error",
    )
    if user.has_perm("alerts.view_alertreceipt"):
        return receipts
    if user.has_perm("alerts.submit_alert"):
        return receipts.filter(user=user)
    return AlertReceipt.objects.none()
