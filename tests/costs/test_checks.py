"""The cost checks on generated billing, through the import path (COPY) and real PostgreSQL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from costs.checks import costs_check, severity_of
from costs.models import CostFinding, CostThresholds
from tests.costs.conftest import DEBIT_ECOM, JUNE, bulk_load, load, records

pytestmark = pytest.mark.django_db

RULE_45 = {"fee_type": "interchange", **DEBIT_ECOM, "rate_bps": "45"}


def findings(kind=None):
    rows = CostFinding.objects.order_by("kind", "partner_id")
    return list(rows.filter(kind=kind) if kind else rows)


def test_billed_52_bps_on_a_45_bps_rule_is_one_deviation_of_exactly_17500(acquirer, approved_card):
    approved_card(acquirer, [RULE_45, {"fee_type": "interchange", "rate_bps": "120"}])
    load(acquirer, records(50_000, fee_bps=52))  # MXN 25,000,000

    result = costs_check(period=date(2026, 6, 17))

    assert result.by_kind == {"rate_deviation": 1}
    (finding,) = findings()
    assert finding.period == JUNE
    assert finding.count == 50_000
    assert finding.volume == Decimal("25000000.00")
    assert (finding.expected_bps, finding.billed_bps, finding.delta_bps) == (Decimal(45), Decimal(52), Decimal(7))
    assert finding.amount == Decimal("17500.00")
    assert (finding.expected_amount, finding.billed_amount) == (Decimal("112500.00"), Decimal("130000.00"))
    assert finding.rule.rate_bps == 45 and finding.rate_card_version == 1  # the specific rule, not the 120 bps one
    assert finding.severity == "low"
    assert finding.cohort == DEBIT_ECOM
    assert "17,500.00 MXN" in finding.explanation() and "at 52.00 bps" in finding.explanation()


def test_billed_45_4_bps_is_rounding_and_no_finding(acquirer, approved_card):
    approved_card(acquirer, [RULE_45])
    load(acquirer, records(50_000, fee_bps=Decimal("45.4")))

    assert costs_check(partner=acquirer, period=JUNE).findings == 0


@pytest.mark.parametrize(("billed", "expected_amount"), [("accordingly", None), ("45 all month", Decimal("7500.00"))])
def test_a_rule_changed_on_the_16th_splits_the_month(acquirer, approved_card, billed, expected_amount):
    approved_card(acquirer, [RULE_45])
    approved_card(acquirer, [{**RULE_45, "rate_bps": "40"}], effective_from=date(2026, 6, 16))

    def bps(day):
        return 45 if billed != "accordingly" or day.day < 16 else 40

    load(acquirer, records(30_000, amount="1000.00", fee_bps=bps))  # 1,000 a day, MXN 1,000 each

    costs_check(partner=acquirer, period=JUNE)

    if expected_amount is None:
        assert findings() == []
        return
    (finding,) = findings()
    assert finding.kind == "rate_deviation"
    assert finding.amount == expected_amount  # 15,000,000 billed at 45 instead of 40
    assert (finding.expected_bps, finding.billed_bps) == (Decimal("42.5"), Decimal(45))
    assert finding.rate_card_version == 2 and len(finding.details["rules"]) == 2


def test_150_references_billed_twice_are_150_duplicates(acquirer, approved_card):
    approved_card(acquirer, [RULE_45])
    rows = records(5_000, fee_bps=45)
    load(acquirer, rows + rows[1000:1150])

    costs_check(partner=acquirer, period=JUNE)

    (finding,) = findings()  # the copies do not count as billed at the rate: no deviation
    assert finding.kind == "duplicate_fee"
    assert finding.count == 150 and finding.details == {"references": 150}
    assert finding.amount == Decimal("337.50")  # 150 × 2.25
    assert finding.sample_references == [f"ARN{n:07d}" for n in range(1000, 1010)]


def test_a_downgrade_share_from_2_to_6_percent_is_flagged_and_to_2_3_is_not(make_partner):
    rising, steady = make_partner(), make_partner()
    may = date(2026, 5, 1)
    for partner, share in ((rising, 6_000), (steady, 2_300)):  # per 100,000
        bulk_load(partner, records(20_000, start=may, days=31, fee_bps=45, downgraded=400, prefix=f"M{share}-"))
        current = records(50_000, fee_bps=45, downgraded=share // 2, prefix=f"J{share}-")
        for row in current[: share // 2]:
            row["interchange_fee"] = "4.00"  # a downgraded transaction costs 80 bps instead of 45
        bulk_load(partner, current)

    costs_check(period=JUNE)

    (finding,) = findings()
    assert (finding.kind, finding.partner) == ("downgrade_spike", rising)
    assert finding.details["share_pct"] == "6.000" and finding.details["baseline_share_pct"] == "2.000"
    assert finding.details["q_value"] <= 0.001
    assert finding.amount == Decimal("3500.00")  # 2,000 excess downgrades × (4.00 − 2.25)
    assert finding.sample_references == [f"J6000-{n:07d}" for n in range(10)]


def test_an_unmapped_fee_code_and_interchange_on_a_zero_rated_giro(acquirer, approved_card):
    approved_card(acquirer, [RULE_45])
    lines = [
        {"period": "2026-06", "fee_code": "XQZ9", "count": "1", "amount": "12000.00"},
        {"period": "2026-06", "fee_code": "MISC-SMALL", "count": "1", "amount": "800.00"},
        {"period": "2026-06", "fee_code": "IC", "count": "10", "volume": "5000", "amount": "22.50", **DEBIT_ECOM},
    ]
    load(acquirer, lines, shape="invoice", mapping={"fee_codes": {"IC": "interchange"}})
    load(acquirer, records(200, amount="1000.00", fee_bps=30, giro="beneficencia"))

    costs_check(partner=acquirer, period=JUNE)

    unknown, zero = findings("unknown_fee"), findings("zero_rated_giro")
    assert [(f.fee_code, f.amount) for f in unknown] == [("XQZ9", Decimal("12000.00"))]
    assert [(f.cohort, f.billed_bps, f.amount) for f in zero] == [
        ({"giro": "beneficencia"}, Decimal(30), Decimal("600.00"))
    ]
    assert len(findings()) == 2  # the giro's interchange is not also a rate deviation


def test_a_cross_border_fee_on_a_domestic_transaction(acquirer):
    rows = records(120, fee_bps=45, issuer_country="MX", merchant_country="mx", cross_border_fee="5.00")
    rows += records(30, fee_bps=45, issuer_country="US", merchant_country="MX", cross_border_fee="5.00", prefix="X")
    load(acquirer, rows)

    costs_check(partner=acquirer, period=JUNE)

    (finding,) = findings()
    assert (finding.kind, finding.count, finding.amount) == ("cross_border_misclass", 120, Decimal("600.00"))


def test_a_cost_regression_against_the_median_of_three_months(acquirer):
    for month, bps in ((3, 45), (4, 46), (5, 44)):
        rows = records(200, start=date(2026, month, 1), days=28, amount="60000.00", fee_bps=bps, prefix=f"M{month}-")
        load(acquirer, rows)
    load(acquirer, records(200, amount="60000.00", fee_bps=50))

    costs_check(partner=acquirer, period=JUNE)

    (finding,) = findings()
    assert finding.kind == "cost_regression"
    assert (finding.expected_bps, finding.billed_bps) == (Decimal(45), Decimal(50))
    assert finding.amount == Decimal("6000.00")  # 5 bps of MXN 12,000,000
    assert finding.details["previous_bps"] == ["45.0000", "46.0000", "44.0000"]


def test_a_rate_card_change_explains_a_rise(acquirer, approved_card):
    for month in (3, 4, 5):
        rows = records(200, start=date(2026, month, 1), days=28, amount="60000.00", fee_bps=45, prefix=f"M{month}-")
        load(acquirer, rows)
    approved_card(acquirer, [{**RULE_45, "rate_bps": "50"}])
    load(acquirer, records(200, amount="60000.00", fee_bps=50))

    costs_check(partner=acquirer, period=JUNE)

    assert findings() == []


def test_thresholds_are_per_partner(acquirer, approved_card):
    approved_card(acquirer, [RULE_45])
    load(acquirer, records(1_000, fee_bps=52))  # 7 bps of MXN 500,000: 350 pesos
    assert costs_check(partner=acquirer, period=JUNE).findings == 0

    CostThresholds.objects.create(partner=acquirer, deviation_amount=300)
    assert costs_check(partner=acquirer, period=JUNE).by_kind == {"rate_deviation": 1}


def test_running_twice_replaces_open_findings_and_keeps_decisions(
    acquirer, approved_card, django_assert_max_num_queries
):
    approved_card(acquirer, [RULE_45])
    load(acquirer, records(2_000, fee_bps=45) + records(400, fee_bps=45, prefix="ARN")[:20])
    load(acquirer, records(500, fee_bps=30, giro="gobierno", prefix="G"))
    costs_check(partner=acquirer, period=JUNE)
    first = {(f.kind, f.key, f.amount) for f in findings()}
    assert {kind for kind, _key, _amount in first} == {"duplicate_fee", "zero_rated_giro"}

    with django_assert_max_num_queries(16):  # the month's facts and the sudden rises' daily series: one each
        costs_check(partner=acquirer, period=JUNE)
    assert {(f.kind, f.key, f.amount) for f in findings()} == first

    CostFinding.objects.filter(kind="duplicate_fee").update(state="dismissed")
    costs_check(period=JUNE)
    assert sorted((f.kind, f.state) for f in findings()) == [
        ("duplicate_fee", "dismissed"),
        ("zero_rated_giro", "open"),
    ]


@pytest.mark.parametrize(
    ("amount", "severity"),
    [(Decimal("500000"), "high"), (Decimal("-499999.99"), "medium"), (Decimal("50000"), "medium"), (49999, "low")],
)
def test_severity_from_the_monthly_amount(amount, severity):
    assert severity_of(Decimal(amount)) == severity


def test_every_kind_explains_itself_in_spanish(acquirer):
    from django.utils import translation

    load(acquirer, [{"period": "2026-06", "fee_code": "XQZ9", "amount": "12000"}], shape="invoice")
    costs_check(partner=acquirer, period=JUNE)
    (finding,) = findings()
    with translation.override("es"):
        text = finding.explanation()
    expected = "Adquirente MX cobró 12,000.00 MXN en 2026-06 con el código de cargo XQZ9, que ningún mapeo reconoce."
    assert text == expected
    for kind in CostFinding.Kind.values:  # every sentence formats with the figures a finding keeps
        finding.kind = kind
        finding.details = {"share_pct": "6", "baseline_share_pct": "2", "downgraded": 1, "q_value": 0.0001}
        finding.details |= {"references": 1}
        with translation.override("es"):
            assert "%(" not in finding.explanation()


def test_a_reference_billed_again_next_month_is_a_copy_for_the_regression_and_new_for_the_month(acquirer):
    # The cost regression counts a (reference, fee type) once across its four months; the month's
    # checks count it once within the month: May's reference billed again in June is June's own.
    for month, bps in ((3, 45), (4, 46), (5, 44)):
        rows = records(200, start=date(2026, month, 1), days=28, amount="60000.00", fee_bps=bps, prefix=f"M{month}-")
        load(acquirer, rows)
    again = [row | {"date": "2026-06-10", "interchange_fee": "600.00"} for row in rows[:20]]  # 100 bps
    load(acquirer, records(200, amount="60000.00", fee_bps=50) + again)

    costs_check(partner=acquirer, period=JUNE)

    (finding,) = findings()  # and no duplicate fee: each June reference is billed once in June
    assert finding.kind == "cost_regression"
    assert (finding.count, finding.billed_bps, finding.amount) == (200, Decimal(50), Decimal("6000.00"))
