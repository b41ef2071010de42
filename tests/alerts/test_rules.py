"""The severity rules: the shipped defaults, first match wins, leads change them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from alerts.models import AlertSeverityRule
from alerts.selectors import alert_severity_for
from alerts.services import alert_rule_create, alert_rule_update

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.mark.parametrize(
    ("drop_pp", "attempts", "volume", "currency", "expected"),
    [
        (D("35"), 5000, None, "", "sev1"),
        (D("20"), 100, None, "", "sev1"),  # both thresholds exactly met
        (D("19.99"), 100000, None, "", "sev2"),
        (D("25"), 99, None, "", "sev4"),  # a big drop on too little traffic is noise
        (D("25"), 99, D("500000"), "MXN", "sev1"),  # unless the money at risk is large
        (D("25"), 99, D("500000"), "USD", "sev4"),  # volume thresholds count in their own currency
        (D("10"), 400, D("100000"), "MXN", "sev2"),  # too few attempts for SEV2, but enough volume
        (D("5"), 500, None, "", "sev2"),
        (D("4.99"), 1_000_000, None, "", "sev3"),
        (D("5"), 499, None, "", "sev4"),
        (D("2"), 2000, None, "", "sev3"),
        (D("3"), 10, D("20000"), "MXN", "sev3"),
        (D("1.99"), 1_000_000, D("9000000"), "MXN", "sev4"),
        (D("0"), 1, None, "", "sev4"),
        (D("-4"), 5000, None, "", "sev4"),  # the rate went up: no rule, SEV4
    ],
)
def test_default_rules(drop_pp, attempts, volume, currency, expected):
    assert alert_severity_for(drop_pp=drop_pp, attempts=attempts, volume=volume, currency=currency) == expected


def test_the_defaults_are_seeded():
    rows = list(
        AlertSeverityRule.objects.values_list("priority", "min_drop_pp", "min_attempts", "min_volume", "severity")
    )

    assert rows == [
        (10, D("20.00"), 100, D("500000.00"), "sev1"),
        (20, D("5.00"), 500, D("100000.00"), "sev2"),
        (30, D("2.00"), 2000, D("20000.00"), "sev3"),
        (100, D("0.00"), 0, None, "sev4"),
    ]


def test_the_first_matching_rule_by_priority_wins_and_inactive_rules_are_skipped(lead):
    alert_rule_create(actor=lead, priority=5, min_drop_pp=D("1"), severity="sev3")
    assert alert_severity_for(drop_pp=D("30"), attempts=5000) == "sev3"

    rule = AlertSeverityRule.objects.get(priority=5)
    alert_rule_update(rule=rule, actor=lead, active=False)

    assert alert_severity_for(drop_pp=D("30"), attempts=5000) == "sev1"
    assert AlertSeverityRule.objects.get(priority=5).updated_by == lead


def test_with_no_rules_everything_is_sev4():
    AlertSeverityRule.objects.all().delete()

    assert alert_severity_for(drop_pp=D("50"), attempts=10**6) == "sev4"


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"min_volume": D("1000")}, "__all__"),  # a volume without its currency
        ({"volume_currency": "MXN"}, "__all__"),  # a currency without a volume
        ({"min_volume": D("1000"), "volume_currency": "pesos"}, "volume_currency"),
        ({"min_drop_pp": D("101")}, "min_drop_pp"),
        ({"severity": "sev9"}, "severity"),
    ],
)
def test_an_inconsistent_rule_is_refused(lead, fields, error_field):
    with pytest.raises(ValidationError) as caught:
        alert_rule_create(actor=lead, **{"priority": 1, "severity": "sev2", **fields})

    assert error_field in caught.value.message_dict
    assert not AlertSeverityRule.objects.filter(priority=1).exists()
