"""The demo's partner billing: approved sample rate cards, four months of fee records and invoice
lines, and each injected error found by its check, in one seed (the seed is the slow part)."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest

from costs.models import CostFinding, FeeImport, FeeRecord, InvoiceLine, RateCard
from demo import costs
from demo.desk import seed_desk

pytestmark = pytest.mark.django_db

TODAY = date(2026, 7, 14)  # the month checked: June 2026
JUNE = date(2026, 6, 1)


def test_the_demo_billing_shows_each_injected_error_as_its_finding():
    seed_desk()  # users and partners only: the incidents and payment data play no part here
    started = time.monotonic()
    seeded = costs.seed_demo_costs(today=TODAY)
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"the demo's billing took {elapsed:.1f} s"
    assert seeded["records"] <= 30_000
    cards = RateCard.objects.filter(partner__code__in=[costs.ACQUIRER, costs.SWITCH, costs.NETWORK])
    assert sorted(cards.values_list("state", flat=True)) == ["approved"] * 3
    assert list(FeeRecord.objects.dates("txn_date", "month")) == [date(2026, m, 1) for m in (3, 4, 5, 6)]
    assert InvoiceLine.objects.filter(period_start=JUNE).exists()
    assert not CostFinding.objects.exclude(period=JUNE).exists()

    by_kind: dict[str, list[CostFinding]] = {}
    for finding in CostFinding.objects.filter(period=JUNE):
        by_kind.setdefault(finding.kind, []).append(finding)
    assert sorted(by_kind) == [
        "cost_regression",  # the rate deviation is also a rise over the three months before
        "cross_border_misclass",
        "downgrade_spike",
        "duplicate_fee",
        "rate_deviation",
        "unknown_fee",
        "zero_rated_giro",
    ]
    airline_cohort = {
        "network": "visa",
        "funding": "debit",
        "region": "domestic",
        "giro": "aerolineas",
        "entry_mode": "ecommerce",
    }
    (deviation,) = by_kind["rate_deviation"]
    assert deviation.partner.code == costs.ACQUIRER and deviation.cohort == airline_cohort
    assert (deviation.expected_bps, deviation.count) == (Decimal(75), costs.AIRLINE_RECORDS)
    assert Decimal("6.9") < deviation.delta_bps < Decimal("7.1") and deviation.amount >= 5000
    (regression,) = by_kind["cost_regression"]
    assert regression.cohort == airline_cohort
    duplicates = by_kind["duplicate_fee"]
    assert sorted(f.fee_type for f in duplicates) == ["interchange", "markup"]
    assert {f.details["references"] for f in duplicates} == {costs.DUPLICATES}
    (unknown,) = by_kind["unknown_fee"]
    assert (unknown.partner.code, unknown.fee_code, unknown.amount) == (costs.SWITCH, *costs.UNKNOWN_FEE)
    (cross_border,) = by_kind["cross_border_misclass"]
    assert (cross_border.cohort, cross_border.count) == ({"country": "MX"}, costs.CROSS_BORDER_RECORDS)
    (zero_rated,) = by_kind["zero_rated_giro"]
    assert zero_rated.cohort == {"giro": "gobierno"} and zero_rated.count == costs.ZERO_RATED_RECORDS
    (spike,) = by_kind["downgrade_spike"]
    assert spike.cohort == {"network": "mastercard", "funding": "credit"}
    assert Decimal(spike.details["share_pct"]) > 6 > Decimal(spike.details["baseline_share_pct"])

    # Seeding again changes nothing.
    imports, findings = FeeImport.objects.count(), CostFinding.objects.count()
    assert costs.seed_demo_costs(today=TODAY) is None
    assert (FeeImport.objects.count(), CostFinding.objects.count(), cards.count()) == (imports, findings, 3)
