"""A small priced month and hand-made findings for the findings' pages and API tests."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from costs.checks import costs_check
from costs.models import CostFinding
from tests.costs.conftest import DEBIT_ECOM, JUNE, bulk_load, records

RULE_45 = {"fee_type": "interchange", **DEBIT_ECOM, "rate_bps": "45"}
MAY = date(2026, 5, 1)
_keys = itertools.count()


@pytest.fixture
def priced_june(acquirer, approved_card):
    """Adquirente MX: a 45 bps interchange card; June billed at 52 bps on 300 transactions of
    MXN 100,000 (MXN 30,000,000): expected 135,000.00, billed 156,000.00, one rate deviation of
    21,000.00 (+7 bps)."""
    card = approved_card(acquirer, [RULE_45])
    bulk_load(acquirer, records(300, amount="100000.00", fee_bps=52))
    result = costs_check(partner=acquirer, period=JUNE)
    assert result.by_kind == {"rate_deviation": 1}
    return {"partner": acquirer, "card": card, "finding": CostFinding.objects.get()}


def make_finding(partner, **fields) -> CostFinding:
    values = {
        "kind": CostFinding.Kind.RATE_DEVIATION,
        "period": JUNE,
        "fee_type": "interchange",
        "currency": "MXN",
        "count": 100,
        "volume": Decimal("1000000.00"),
        "amount": Decimal("100.00"),
        "severity": CostFinding.Severity.LOW,
        "cohort": {"network": "visa", "funding": "debit"},
    } | fields
    return CostFinding.objects.create(partner=partner, key=f"test:{next(_keys)}", **values)
