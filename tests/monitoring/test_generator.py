"""The payment data generator: deterministic, consistent, seasonal, and its regressions show up
where and when they are declared."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from monitoring import generator
from monitoring.generator import IssuerCodeSpike, MixShift, RouteOutage, ThreeDSFailure
from monitoring.models import AuthBucket
from monitoring.rows import BucketRow
from monitoring.services import buckets_upsert
from payhealth.pan import contains_card_number
from tests.factories import MerchantFactory, PartnerFactory

START = datetime(2026, 3, 2, 6, tzinfo=UTC)  # Monday, midnight in Mexico City
HOLIDAY = date(2026, 3, 16)  # a Monday (Benito Juárez's birthday, observed)
PROFILES = [generator.profile("acct_GENTEST0001", 800, count=6), generator.profile("acct_GENTEST0002", 400, count=6)]


def rows(days: int = 2, *, start: datetime = START, **kwargs) -> list[BucketRow]:
    kwargs.setdefault("holidays", frozenset())
    kwargs.setdefault("minutes", 15)
    return list(generator.generate(PROFILES, start=start, end=start + timedelta(days=days), **kwargs))


@pytest.fixture(scope="module")
def month() -> list[BucketRow]:
    return rows(28, holidays=frozenset({HOLIDAY}))


def local_hour(row: BucketRow) -> int:
    return row.bucket_start.astimezone(generator.LOCAL_TZ).hour


def merchant_level(data):
    return [row for row in data if not row.bin_prefix]


def test_the_same_seed_gives_identical_rows_and_another_seed_other_rows():
    first = rows(1)
    assert first == rows(1)
    assert first != rows(1, seed=generator.DEFAULT_SEED + 1)
    # A bucket is the same whichever range it is generated in: the seed and the live replay agree.
    later = START + timedelta(hours=13)
    inside = [dataclasses.replace(row, number=0) for row in first if row.bucket_start == later]
    alone = [dataclasses.replace(row, number=0) for row in rows(start=later, days=1 / 96)]
    assert inside == alone and len(alone) == 2 * 7


def test_every_row_adds_up_and_holds_no_card_number(month):
    assert len(month) == 28 * 96 * 2 * 7
    assert [row.number for row in month[:3]] == [1, 2, 3]
    for row in month:
        assert row.approvals + row.soft_declines + row.hard_declines + row.errors == row.attempts
        assert sum(row.decline_codes.values()) <= row.soft_declines + row.hard_declines
        assert all(count > 0 for count in row.decline_codes.values())
        assert Decimal("0") <= row.amount_approved <= row.amount_attempted
        assert row.amount_attempted == row.amount_attempted.quantize(Decimal("0.01"))
        assert row.currency == "MXN"
        assert not contains_card_number([str(value) for value in dataclasses.astuple(row)])
    by_bucket = defaultdict(list)
    for row in month:
        by_bucket[(row.merchant, row.bucket_start, bool(row.bin_prefix))].append(row)
    for (account, start, sliced), group in by_bucket.items():
        if sliced:
            (total,) = by_bucket[(account, start, False)]
            assert total.attempts == sum(row.attempts for row in group)
            assert total.amount_approved == sum(row.amount_approved for row in group)


def test_night_approves_less_than_day_and_weekends_and_holidays_carry_other_volumes(month):
    totals = merchant_level(month)

    def rate(selected):
        return sum(row.approvals for row in selected) / sum(row.attempts for row in selected)

    night = [row for row in totals if local_hour(row) < 6]
    day = [row for row in totals if 10 <= local_hour(row) < 18]
    assert rate(night) < rate(day) - 0.02
    assert sum(row.attempts for row in night) / len(night) < 0.3 * sum(row.attempts for row in day) / len(day)

    def volume(weekday):
        selected = [
            row
            for row in totals
            if row.bucket_start.astimezone(generator.LOCAL_TZ).weekday() == weekday
            and row.bucket_start.astimezone(generator.LOCAL_TZ).date() != HOLIDAY
        ]
        return sum(row.attempts for row in selected) / len(selected)

    assert volume(6) < 0.85 * volume(2)  # Sunday against Wednesday
    holiday = sum(row.attempts for row in totals if row.bucket_start.astimezone(generator.LOCAL_TZ).date() == HOLIDAY)
    assert 0.5 < holiday / (volume(0) * 96 * 2) < 0.7  # about 40 % less than an ordinary Monday


def window(hours_from: int, hours_to: int) -> dict:
    return {"start": START + timedelta(hours=hours_from), "end": START + timedelta(hours=hours_to)}


def share(data, codes, keep) -> float:
    selected = [row for row in data if keep(row)]
    coded = sum(row.decline_codes.get(code, 0) for row in selected for code in codes)
    return coded / sum(row.attempts for row in selected)


def test_a_route_outage_raises_91_and_96_on_that_route_only_and_only_in_its_window():
    outage = RouteOutage(**window(14, 16), route="prosa")
    plain, hit = rows(1), rows(1, regressions=[outage])
    inside = lambda row: outage.start <= row.bucket_start < outage.end  # noqa: E731
    prosa = lambda row: row.route == "prosa" and inside(row)  # noqa: E731
    other = lambda row: row.route == "e-global" and inside(row)  # noqa: E731
    assert share(hit, ("91", "96"), prosa) > share(plain, ("91", "96"), prosa) + 0.2
    assert share(hit, ("91", "96"), other) == share(plain, ("91", "96"), other)
    assert [row for row in hit if not inside(row)] == [row for row in plain if not inside(row)]
    assert all(row.attempts == base.attempts for row, base in zip(hit, plain, strict=True))


def test_an_issuer_spike_raises_05_on_its_debit_cards_only():
    spike = IssuerCodeSpike(**window(10, 13), issuer="bbva-mx", funding="debit")
    plain, hit = rows(1), rows(1, regressions=[spike])
    inside = lambda row: spike.start <= row.bucket_start < spike.end  # noqa: E731
    debit = lambda row: inside(row) and row.issuer == "bbva-mx" and row.funding == "debit"  # noqa: E731
    credit = lambda row: inside(row) and row.issuer == "bbva-mx" and row.funding == "credit"  # noqa: E731
    assert share(hit, ("05",), debit) > share(plain, ("05",), debit) + 0.08
    assert share(hit, ("05",), credit) == share(plain, ("05",), credit)


def test_a_3ds_failure_touches_3ds_slices_of_the_named_merchants_only():
    failure = ThreeDSFailure(**window(11, 12), merchants=frozenset({"acct_GENTEST0001"}))
    plain, hit = rows(1), rows(1, regressions=[failure])
    inside = lambda row: failure.start <= row.bucket_start < failure.end  # noqa: E731
    for account, changed in (("acct_GENTEST0001", True), ("acct_GENTEST0002", False)):
        keep = lambda row, account=account: inside(row) and row.merchant == account and row.entry_mode == "3ds"  # noqa: E731
        assert (share(hit, ("1A",), keep) > 0.15) is changed
    non_3ds = [row for row in hit if row.bin_prefix and row.entry_mode != "3ds"]
    assert non_3ds == [row for row in plain if row.bin_prefix and row.entry_mode != "3ds"]


def test_a_mix_shift_moves_volume_without_changing_rates():
    target = PROFILES[0].slices[-1].bin_prefix
    shift = MixShift(**window(0, 24), bin_prefix=target, share=0.15)
    plain, moved = rows(1), rows(1, regressions=[shift])

    def stats(data, keep):
        selected = [row for row in data if row.merchant == "acct_GENTEST0001" and keep(row)]
        return sum(row.attempts for row in selected), sum(row.approvals for row in selected)

    total = stats(plain, lambda row: not row.bin_prefix)[0]
    before, after = stats(plain, lambda r: r.bin_prefix == target), stats(moved, lambda r: r.bin_prefix == target)
    assert after[0] - before[0] > 0.1 * total
    assert abs(after[1] / after[0] - before[1] / before[0]) < 0.02


def test_desk_holidays_come_from_the_desk_calendar(db):
    assert date(2026, 12, 25) in generator.desk_holidays()


def test_generated_rows_go_through_the_upsert_as_they_are(db):
    MerchantFactory(account_id="acct_GENTEST0001")
    MerchantFactory(account_id="acct_GENTEST0002")
    for code in ("bbva-mx", "banorte", "santander-mx"):
        PartnerFactory(code=code, kind="issuer")
    for code in ("prosa", "e-global"):
        PartnerFactory(code=code, kind="switch")
    data = rows(1 / 4)
    first = buckets_upsert(data, source="test")
    assert (first.inserted, first.segments_created) == (len(data), 14)
    again = buckets_upsert(rows(1 / 4), source="test")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(data))
    assert AuthBucket.objects.count() == len(data)
