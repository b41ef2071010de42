"""COST_SPIKE: a sudden rise of the effective bps of a partner or of one of its merchants, the last
week of the month against the 28 days before it; and the merchant column of fee records."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.urls import reverse
from django.utils import translation

from costs.checks import costs_check
from costs.columnar import billing_columns
from costs.effective import daily_bps
from costs.importing import RECORD_FIELDS, FeeImportRefused, _file_table, fee_import, fee_import_preview
from costs.models import CostFinding, CostThresholds, FeeRecord
from tests.costs.conftest import bulk_load

pytestmark = pytest.mark.django_db

MAY = date(2026, 5, 1)
JUNE = date(2026, 6, 1)
BASELINE_FROM = date(2026, 5, 27)  # June's last week is the 24th to the 30th; the 28 days before
WINDOW_FROM = date(2026, 6, 24)
DAYS = [BASELINE_FROM + timedelta(days=n) for n in range(35)]
DEBIT, CREDIT = Decimal(50), Decimal(200)
CARD = [
    {"fee_type": "interchange", "funding": "debit", "rate_bps": "50"},
    {"fee_type": "interchange", "funding": "credit", "rate_bps": "200"},
]


def txn(ref: str, day: date, amount: Decimal, funding: str, merchant: str, bps: Decimal | None = None) -> dict:
    """A fee record billed exactly at the card's rate of its funding (or at `bps`)."""
    rate = bps if bps is not None else (DEBIT if funding == "debit" else CREDIT)
    fee = (amount * rate / 10000).quantize(Decimal("0.0001"))
    return {
        "reference": ref,
        "date": day.isoformat(),
        "amount": str(amount),
        "funding": funding,
        "merchant": merchant,
        "interchange_fee": str(fee),
        "currency": "MXN",
    }


def spikes():
    return list(CostFinding.objects.filter(kind=CostFinding.Kind.COST_SPIKE).order_by("id"))


def test_a_merchant_whose_mix_shifts_to_credit_is_one_spike_with_the_exact_amount(
    acquirer, approved_card, client, analyst
):
    approved_card(acquirer, CARD, effective_from=MAY)
    rows = []
    for d, day in enumerate(DAYS):
        credits = 8 if day >= WINDOW_FROM else 2  # 80 bps before, 170 bps in the last week
        for n in range(10):
            funding = "credit" if n < credits else "debit"
            rows.append(txn(f"MIX{d:02d}{n:02d}", day, Decimal(10_000), funding, "acct_MixShift01"))
        for n in range(40):  # a large merchant, half credit every day: 125 bps throughout
            funding = "credit" if n % 2 else "debit"
            rows.append(txn(f"BIG{d:02d}{n:02d}", day, Decimal(100_000), funding, "acct_Steady02"))
    bulk_load(acquirer, rows)

    result = costs_check(period=JUNE)

    assert result.by_kind == {"cost_spike": 1}  # every fee on the card: nothing else; the partner moved < 5 bps
    (finding,) = spikes()
    assert finding.cohort == {"merchant": "acct_MixShift01"}
    assert (finding.expected_bps, finding.billed_bps) == (Decimal(80), Decimal(170))
    assert finding.amount == Decimal("6300.00")  # 90 bps × MXN 700,000 ÷ 10⁴
    assert (finding.count, finding.volume) == (70, Decimal("700000.00"))
    assert finding.billed_amount == Decimal("11900.00") and finding.expected_amount == Decimal("5600.00")
    assert finding.fee_type == "" and finding.severity == "low"
    assert finding.details["q_value"] <= 0.001
    assert (finding.details["window_start"], finding.details["baseline_start"]) == ("2026-06-24", "2026-05-27")
    assert len(finding.sample_references) == 10
    assert all(ref.startswith("MIX") and ref >= "MIX28" for ref in finding.sample_references)  # credit, last week
    text = finding.explanation()
    assert "acct_MixShift01" in text and "170.00 bps" in text and "80.00 bps" in text and "6,300.00 MXN" in text
    with translation.override("es"):
        spanish = finding.explanation()
    assert (
        spanish.startswith("El costo efectivo de Adquirente MX para el comercio acct_MixShift01")
        and "170.00 pb" in spanish
    )

    client.force_login(analyst)
    html = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()
    assert "Sudden cost rise" in html and "acct_MixShift01" in html and finding.sample_references[0] in html
    assert "Last week from" in html and "2026-06-24" in html
    # The partner's months (May and June priced), then the merchant's own days from the baseline's first
    # day (27 May) to the end of June: billed only.
    assert html.count('class="chart-point chart-billed"') == 2 + 35
    assert html.count('class="chart-point chart-expected"') == 2
    listed = client.get(reverse("costs:finding_list"), {"kind": "cost_spike"}).content.decode()
    assert "acct_MixShift01" in listed
    exported = client.get(reverse("costs:finding_list_csv"), {"kind": "cost_spike"})
    exported = b"".join(exported.streaming_content).decode("utf-8-sig")
    (row,) = list(csv.DictReader(exported.splitlines()))
    assert (row["Merchant"], row["Amount at stake"]) == ("acct_MixShift01", "6300.00")

    again = costs_check(period=JUNE)  # a re-run keeps it; a dismissed one is not raised again
    assert again.created == 0 and spikes() == [finding]
    CostFinding.objects.filter(pk=finding.pk).update(state=CostFinding.State.DISMISSED)
    assert costs_check(period=JUNE).findings == 0


def noisy_rows(seed: int, merchant: str = "acct_Noisy03") -> list[dict]:
    """Ten transactions a day of random amounts, each debit or credit at random: a stable mix."""
    rng = random.Random(seed)
    rows = []
    for d, day in enumerate(DAYS):
        for n in range(10):
            amount = Decimal(rng.randint(100_000, 3_000_000)) / 100
            rows.append(txn(f"N{d:02d}{n:02d}", day, amount, rng.choice(("debit", "credit")), merchant))
    return rows


def test_a_stable_noisy_series_is_no_spike(acquirer, approved_card):
    approved_card(acquirer, CARD, effective_from=MAY)
    CostThresholds.objects.create(partner=acquirer, deviation_amount=0)  # only the test stands in the way
    bulk_load(acquirer, noisy_rows(seed=9))
    # The week's bps did rise by more than 5 over the baseline: only the statistics say it is noise.
    rows = daily_bps(start=BASELINE_FROM, end=date(2026, 6, 30), partner=acquirer)
    week = [r for r in rows if r["day"] >= WINDOW_FROM]
    before = [r for r in rows if r["day"] < WINDOW_FROM]
    rise = (
        sum(r["billed"] for r in week) / sum(r["volume"] for r in week) * 10000
        - sum(r["billed"] for r in before) / sum(r["volume"] for r in before) * 10000
    )
    assert rise >= 5

    assert costs_check(period=JUNE).findings == 0


@pytest.mark.parametrize(("new_bps", "fires"), [(54, False), (56, True)])
def test_a_rate_card_change_in_the_last_week_is_a_spike_from_5_bps(acquirer, approved_card, new_bps, fires):
    approved_card(acquirer, CARD, effective_from=MAY)
    approved_card(acquirer, [{**CARD[0], "rate_bps": str(new_bps)}, CARD[1]], effective_from=WINDOW_FROM)
    CostThresholds.objects.create(partner=acquirer, deviation_amount=0)
    rows = [
        txn(
            f"RC{d:02d}{n:02d}",
            day,
            Decimal(10_000),
            "debit",
            "acct_Card04",
            Decimal(new_bps if day >= WINDOW_FROM else 50),
        )
        for d, day in enumerate(DAYS)
        for n in range(20)
    ]
    bulk_load(acquirer, rows)

    result = costs_check(period=JUNE)

    assert set(result.by_kind) <= {"cost_spike"}  # every fee follows its card
    found = spikes()
    if not fires:
        assert found == []
        return
    # The merchant is the whole partner here: one finding for each series.
    assert [f.cohort for f in found] == [{}, {"merchant": "acct_Card04"}] or [f.cohort for f in found] == [
        {"merchant": "acct_Card04"},
        {},
    ]
    assert {f.amount for f in found} == {Decimal("840.00")}  # 6 bps × MXN 1,400,000 ÷ 10⁴
    whole = next(f for f in found if not f.cohort)
    assert "all its merchants" in whole.explanation()


MERCHANT_ROWS = [
    {"reference": "M-1", "date": "2026-06-02", "amount": "100.00", "merchant": "acct_1Nv0FGQ9RKHgCVdK"},
    {"reference": "M-2", "date": "2026-06-02", "amount": "200.00", "merchant": ""},
]


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_merchant_column_imports_by_columns_by_rows_and_from_parquet(acquirer, make_partner, tmp_path):
    rows = [{**row, "interchange_fee": "1.00"} for row in MERCHANT_ROWS]
    path = write_csv(tmp_path / "registros.csv", rows)
    mapping = {name: name for name in RECORD_FIELDS}
    assert billing_columns(_file_table(path, "csv", list(rows[0])), mapping, "records", {}) is not None
    by_columns = fee_import(path, partner=acquirer, shape="records")
    by_rows = fee_import([{**rows[0], "amount": 100}, rows[1]], partner=make_partner(), shape="records")
    pq.write_table(pa.table({k: pa.array([row[k] for row in rows]) for k in rows[0]}), tmp_path / "r.parquet")
    from_parquet = fee_import(tmp_path / "r.parquet", partner=make_partner(), shape="records")

    for done in (by_columns, by_rows, from_parquet):
        stored = FeeRecord.objects.filter(fee_import=done).order_by("row").values_list("merchant", flat=True)
        assert list(stored) == ["acct_1Nv0FGQ9RKHgCVdK", ""]
    preview = fee_import_preview(path, shape="records")
    assert preview.rows[0][1]["merchant"] == "acct_1Nv0FGQ9RKHgCVdK"


def test_a_merchant_that_is_not_an_account_id_is_a_row_error(acquirer):
    with pytest.raises(FeeImportRefused) as refused:
        fee_import([{**MERCHANT_ROWS[0], "merchant": "Tienda Centro"}], partner=acquirer, shape="records")
    assert [(e.row, e.column) for e in refused.value.errors] == [(1, "merchant")]
    assert not FeeRecord.objects.exists()


def test_the_cost_series_api_gives_a_merchants_days(acquirer, approved_card, analyst):
    from rest_framework.test import APIClient

    bulk_load(
        acquirer,
        [
            txn("A1", date(2026, 6, 3), Decimal(1000), "credit", "acct_Api05"),
            txn("A2", date(2026, 6, 3), Decimal(1000), "debit", "acct_Other06"),
        ],
    )
    client = APIClient()
    client.force_authenticate(analyst)
    answer = client.get(
        "/api/v1/cost-series/", {"partner": acquirer.code, "merchant": "acct_Api05", "by": "day", "to": "2026-06"}
    )
    assert answer.status_code == 200, answer.content
    (series,) = answer.json()["series"]
    points = {p["at"]: p for p in series["points"]}
    assert len(points) == 30 and answer.json()["cohort"] == {"merchant": "acct_Api05"}
    assert Decimal(points["2026-06-03"]["billed_bps"]) == Decimal(200) and points["2026-06-03"]["expected_bps"] is None
    assert points["2026-06-04"]["billed_bps"] is None
    bad = client.get("/api/v1/cost-series/", {"partner": acquirer.code, "merchant": "Tienda", "by": "day"})
    monthly = client.get("/api/v1/cost-series/", {"partner": acquirer.code, "merchant": "acct_Api05"})
    assert bad.status_code == monthly.status_code == 400
    assert "merchant" in bad.json()["error"]["fields"] and "by" in monthly.json()["error"]["fields"]


def test_the_rank_test_over_series_with_gaps_equals_scipys_one_series_at_a_time():
    import numpy as np
    from scipy.stats import mannwhitneyu

    from costs.checks import _mann_whitney_greater

    rng = np.random.default_rng(7)
    daily = rng.normal(size=(60, 35))
    daily[rng.random((60, 35)) < 0.15] = np.nan  # days without billing
    daily[:5, 28:] += 3  # five series rise in their last week
    expected = [
        mannwhitneyu(row[28:][~np.isnan(row[28:])], row[:28][~np.isnan(row[:28])], alternative="greater").pvalue
        for row in daily
    ]
    assert np.allclose(_mann_whitney_greater(daily[:, 28:], daily[:, :28]), expected, rtol=0, atol=1e-12)
