"""Realistic authorization buckets from a fixed seed: the demo's payment data, and the data of
tests and benchmarks.

`generate(profiles, start=…, end=…)` yields one `monitoring.rows.BucketRow` per slice of each
merchant per bucket (PAYHEALTH_METRICS_BUCKET_MINUTES unless `minutes` is given), plus the
merchant-level row that sums the slices, ready for `monitoring.services.buckets_upsert`.

What makes the data look real:

- hour-of-week seasonality in Mexico City time: a night trough and two peaks (lunch and evening),
  a weekend with a later morning and less volume on Sunday, and a lower approval rate at night;
- the desk's Mexican bank holidays (`desk_holidays()`) with about 40 % less volume;
- issuers of very different sizes (BBVA México, Banorte, Santander México, Banamex, Nu México,
  Banco Azteca) routed through the Prosa or E-Global switches, and a long tail of small BIN
  segments without a known issuer; networks, funding types and entry modes;
- declines drawn over a mix of soft (05, 51, 91, 96, 61) and hard (14, 54, 57, N7) codes,
  with a few declines whose code the source does not know.

Counts are integers with approvals + soft + hard + errors == attempts and the code counts adding
up to at most the declines; amounts are Decimal MXN. Every bucket of every slice draws from its
own generator seeded by (seed, merchant, slice, bucket start), so a bucket is the same whichever
range it is generated in (the seed of the demo and the live replay agree) and the same seed
always gives identical rows.

Regressions are small dataclasses passed in `regressions`: `RouteOutage`, `IssuerCodeSpike`,
`ThreeDSFailure`, `MixShift`. Each moves outcomes only inside its window and its slices, after
the ordinary draws, so the rest of the data is identical with or without it.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings

from monitoring.rows import BucketRow, bucket_floor
from partners.reference import DATA_DIR as PARTNERS_DATA_DIR
from partners.reference import MX_BANKING

DEFAULT_SEED = 20_240_915
LOCAL_TZ = ZoneInfo("America/Mexico_City")
CENTS = Decimal("0.01")
HOLIDAY_VOLUME = 0.6  # a bank holiday carries 40 % less volume
NIGHT_APPROVAL_DROP = 0.04  # 00:00–05:59 local: stricter fraud rules, more declines
ERROR_RATE = 0.004
HARD_SHARE = 0.3  # of the declines
UNKNOWN_CODE_SHARE = 0.03  # declines whose code the source does not send
SOFT_CODES = (("05", 0.42), ("51", 0.36), ("91", 0.06), ("96", 0.04), ("61", 0.12))
HARD_CODES = (("14", 0.3), ("54", 0.28), ("57", 0.27), ("N7", 0.15))

# Relative volume per local hour (0–23) on a weekday: night trough, lunch and evening peaks.
_WEEKDAY_CURVE = (
    0.22, 0.14, 0.09, 0.07, 0.07, 0.1, 0.2, 0.38, 0.58, 0.72, 0.82, 0.9,
    0.98, 1.0, 0.93, 0.86, 0.84, 0.86, 0.92, 0.98, 0.96, 0.8, 0.58, 0.36,
)  # fmt: skip
# Weekends start later; Saturday keeps most of the volume, Sunday less.
_WEEKEND_CURVE = (
    0.3, 0.2, 0.13, 0.09, 0.07, 0.07, 0.1, 0.18, 0.32, 0.52, 0.72, 0.86,
    0.95, 1.0, 0.98, 0.94, 0.9, 0.88, 0.9, 0.92, 0.88, 0.74, 0.56, 0.4,
)  # fmt: skip
_DAY_VOLUME = (1.0, 0.98, 1.0, 1.02, 1.1, 0.88, 0.72)  # Monday … Sunday


@dataclass(frozen=True)
class Slice:
    """One segment of a merchant: its dimensions, its share of the merchant's volume, its
    daytime approval rate and average ticket (MXN). Every slice has its own BIN prefix, so two
    slices never share a segment even without an issuer or route."""

    bin_prefix: str
    network: str
    funding: str
    entry_mode: str
    share: float
    approval: float
    ticket: Decimal
    issuer: str = ""
    route: str = ""
    country: str = "MX"


# The Mexican card mix: a few big issuers, switches, and a long tail of small BIN segments.
MX_SLICES: tuple[Slice, ...] = (
    Slice("415231", "visa", "debit", "ecommerce", 0.17, 0.86, Decimal("612.40"), "bbva-mx", "prosa"),
    Slice("547077", "mastercard", "credit", "3ds", 0.11, 0.9, Decimal("1480.00"), "bbva-mx", "e-global"),
    Slice("491566", "visa", "debit", "card_present", 0.08, 0.93, Decimal("388.90"), "bbva-mx", "prosa"),
    Slice("493172", "visa", "debit", "ecommerce", 0.1, 0.84, Decimal("540.10"), "banorte", "prosa"),
    Slice("526498", "mastercard", "credit", "3ds", 0.07, 0.89, Decimal("1322.50"), "banorte", "prosa"),
    Slice("455503", "visa", "credit", "3ds", 0.09, 0.9, Decimal("1615.00"), "santander-mx", "prosa"),
    Slice("518899", "mastercard", "debit", "card_present", 0.05, 0.92, Decimal("402.30"), "santander-mx", "e-global"),
    Slice("476612", "visa", "credit", "ecommerce", 0.08, 0.88, Decimal("1210.75"), "banamex", "e-global"),
    Slice("557910", "mastercard", "credit", "ecommerce", 0.06, 0.87, Decimal("890.00"), "nu-mx", "prosa"),
    Slice("418080", "visa", "debit", "card_present", 0.04, 0.83, Decimal("295.60"), "banco-azteca", "prosa"),
    Slice("402766", "visa", "prepaid", "ecommerce", 0.03, 0.78, Decimal("240.00")),
    Slice("533221", "mastercard", "debit", "ecommerce", 0.025, 0.81, Decimal("455.20")),
    Slice("450914", "visa", "credit", "3ds", 0.02, 0.85, Decimal("980.00")),
    Slice("537840", "mastercard", "prepaid", "card_present", 0.015, 0.8, Decimal("210.40")),
    Slice("376650", "amex", "credit", "ecommerce", 0.015, 0.91, Decimal("2310.00")),
    Slice("421003", "visa", "debit", "card_present", 0.01, 0.82, Decimal("330.00")),
    Slice("510123", "mastercard", "credit", "ecommerce", 0.01, 0.84, Decimal("760.00")),
    Slice("466701", "visa", "prepaid", "3ds", 0.005, 0.76, Decimal("180.00")),
)


@dataclass(frozen=True)
class MerchantProfile:
    """A merchant's series: its account id, its attempts per bucket at the weekly peak (all
    slices together, for 15-minute buckets; scaled for other sizes) and its slices."""

    account: str
    peak_attempts: int
    slices: tuple[Slice, ...] = MX_SLICES
    currency: str = "MXN"


def profile(
    account: str,
    peak_attempts: int,
    *,
    issuers: Iterable[str] | None = None,
    routes: Iterable[str] | None = None,
    slices: Sequence[Slice] = MX_SLICES,
    count: int | None = None,
) -> MerchantProfile:
    """A merchant on the Mexican mix. `issuers`/`routes`: the partner codes the desk has; a
    slice naming another one keeps its BIN prefix and loses that dimension (None keeps all).
    `count` keeps the first (largest) slices only, for small test data."""
    issuers = None if issuers is None else set(issuers)
    routes = None if routes is None else set(routes)
    kept = []
    for item in slices[:count] if count else slices:
        if issuers is not None and item.issuer not in issuers:
            item = replace(item, issuer="")
        if routes is not None and item.route not in routes:
            item = replace(item, route="")
        kept.append(item)
    return MerchantProfile(account, peak_attempts, tuple(kept))


# --- Regressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    """A window [start, end) and the merchants it touches (empty: every merchant)."""

    start: datetime
    end: datetime
    merchants: frozenset[str] = field(default_factory=frozenset)

    def active(self, account: str, moment: datetime) -> bool:
        return self.start <= moment < self.end and (not self.merchants or account in self.merchants)


@dataclass(frozen=True)
class RouteOutage(Regression):
    """A switch failing: `failure` of the approvals of every slice routed through `route`
    become soft declines with codes 91 and 96."""

    route: str = "prosa"
    failure: float = 0.35
    codes: tuple[str, str] = ("91", "96")


@dataclass(frozen=True)
class IssuerCodeSpike(Regression):
    """One issuer declining with `code` on `funding` cards: `extra` of the approvals become
    soft declines with that code."""

    issuer: str = "bbva-mx"
    funding: str = "debit"
    code: str = "05"
    extra: float = 0.12


@dataclass(frozen=True)
class ThreeDSFailure(Regression):
    """The 3DS server failing: `extra` of the approvals of 3DS e-commerce slices become soft
    declines with `code` (authentication required)."""

    extra: float = 0.25
    code: str = "1A"


@dataclass(frozen=True)
class MixShift(Regression):
    """`share` of a merchant's volume moves to the slice with BIN prefix `bin_prefix`, the
    other slices losing it in proportion; every slice keeps its approval rate."""

    bin_prefix: str = "402766"
    share: float = 0.15


# --- Holidays ----------------------------------------------------------------------------------


def desk_holidays() -> frozenset[date]:
    """The Mexican bank holidays of the desk's calendar, or the bundled list without one."""
    from partners.models import Holiday  # the models need the app registry; the rest of this module not

    days = frozenset(Holiday.objects.filter(calendar__code=MX_BANKING).values_list("date", flat=True))
    if days:
        return days
    with open(PARTNERS_DATA_DIR / "mx_bank_holidays.csv", newline="", encoding="utf-8") as handle:
        return frozenset(date.fromisoformat(row["date"]) for row in csv.DictReader(handle))


# --- Generation --------------------------------------------------------------------------------


def bucket_starts(start: datetime, end: datetime, minutes: int) -> list[datetime]:
    """Bucket starts from `start` (floored) up to, not including, `end`."""
    step = timedelta(minutes=minutes)
    moment = bucket_floor(start, minutes)
    starts = []
    while moment < end:
        starts.append(moment)
        moment += step
    return starts


def volume_factor(moment: datetime, *, holidays: frozenset[date] = frozenset()) -> float:
    """Relative volume of the bucket starting at `moment` (1.0 at the weekday peak)."""
    local = moment.astimezone(LOCAL_TZ)
    curve = _WEEKEND_CURVE if local.weekday() >= 5 else _WEEKDAY_CURVE
    hour = local.hour + local.minute / 60
    low = curve[int(hour) % 24]
    high = curve[(int(hour) + 1) % 24]
    factor = (low + (high - low) * (hour - int(hour))) * _DAY_VOLUME[local.weekday()]
    return factor * (HOLIDAY_VOLUME if local.date() in holidays else 1.0)


def approval_shift(moment: datetime) -> float:
    """How much lower the approval rate is at this local time (night)."""
    return NIGHT_APPROVAL_DROP if moment.astimezone(LOCAL_TZ).hour < 6 else 0.0


def generate(
    profiles: Iterable[MerchantProfile],
    *,
    start: datetime,
    end: datetime,
    seed: int = DEFAULT_SEED,
    minutes: int | None = None,
    regressions: Sequence[Regression] = (),
    holidays: frozenset[date] | None = None,
    merchant_level: bool = True,
) -> Iterator[BucketRow]:
    """Rows for every bucket in [start, end) of every profile, bucket by bucket, numbered from 1.

    `holidays`: None reads the desk's (`desk_holidays()`). `merchant_level` adds the row of
    the merchant-level segment (the sum of the slices) to each bucket.
    """
    minutes = minutes or settings.PAYHEALTH_METRICS_BUCKET_MINUTES
    holidays = desk_holidays() if holidays is None else holidays
    profiles = list(profiles)
    number = 0
    for moment in bucket_starts(start, end, minutes):
        volume = volume_factor(moment, holidays=holidays) * minutes / 15
        shift = approval_shift(moment)
        for merchant in profiles:
            active = [regression for regression in regressions if regression.active(merchant.account, moment)]
            rows = [
                _slice_row(merchant, index, item, moment, volume=volume, shift=shift, seed=seed, active=active)
                for index, item in enumerate(merchant.slices)
            ]
            if merchant_level:
                rows.append(_sum_row(merchant, moment, rows))
            for row in rows:
                number += 1
                yield replace(row, number=number)


def _rng(seed: int, account: str, index: int, moment: datetime) -> random.Random:
    digest = hashlib.blake2b(f"{seed}|{account}|{index}|{moment.timestamp():.0f}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """An integer in [0, n]: exact for small n, the normal approximation beyond."""
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < 40:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def _split(rng: random.Random, total: int, weights: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """`total` spread over the codes (sequential binomials: the counts add up to `total`)."""
    counts: dict[str, int] = {}
    left, remaining = total, 1.0
    for position, (code, weight) in enumerate(weights):
        drawn = left if position == len(weights) - 1 else _binomial(rng, left, weight / remaining)
        remaining -= weight
        if drawn:
            counts[code] = drawn
        left -= drawn
    return counts


def _share(merchant: MerchantProfile, item: Slice, active: list[Regression]) -> float:
    share = item.share
    for regression in active:
        if isinstance(regression, MixShift):
            target = regression.bin_prefix == item.bin_prefix
            share = share * (1 - regression.share) + (regression.share if target else 0.0)
    return share


def _slice_row(merchant, index, item: Slice, moment, *, volume, shift, seed, active) -> BucketRow:
    rng = _rng(seed, merchant.account, index, moment)
    noise = math.exp(rng.gauss(0, 0.05))
    attempts = _poisson(rng, merchant.peak_attempts * _share(merchant, item, active) * volume * noise)
    errors = _binomial(rng, attempts, ERROR_RATE)
    approvals = _binomial(rng, attempts - errors, max(0.0, item.approval - shift))
    declines = attempts - errors - approvals
    hard = _binomial(rng, declines, HARD_SHARE)
    soft = declines - hard
    codes: dict[str, int] = {}
    for kind_total, weights in ((soft, SOFT_CODES), (hard, HARD_CODES)):
        known = kind_total - _binomial(rng, kind_total, UNKNOWN_CODE_SHARE)
        for code, count in _split(rng, known, weights).items():
            codes[code] = codes.get(code, 0) + count
    for regression in active:  # after the ordinary draws: the rest of the data stays the same
        moved, moved_codes = _regression(rng, regression, item, approvals)
        approvals -= moved
        soft += moved
        for code, count in moved_codes.items():
            codes[code] = codes.get(code, 0) + count
    ticket = item.ticket * Decimal(str(round(math.exp(rng.gauss(0, 0.04)), 4)))
    return BucketRow(
        number=0,
        merchant=merchant.account,
        network=item.network,
        bin_prefix=item.bin_prefix,
        issuer=item.issuer,
        route=item.route,
        country=item.country,
        funding=item.funding,
        entry_mode=item.entry_mode,
        bucket_start=moment,
        attempts=attempts,
        approvals=approvals,
        soft_declines=soft,
        hard_declines=hard,
        errors=errors,
        amount_attempted=(ticket * attempts).quantize(CENTS),
        amount_approved=(ticket * approvals).quantize(CENTS),
        currency=merchant.currency,
        decline_codes=codes,
    )


def _regression(rng: random.Random, regression: Regression, item: Slice, approvals: int) -> tuple[int, dict]:
    """How many approvals the regression turns into soft declines here, and their codes."""
    if isinstance(regression, RouteOutage) and item.route == regression.route and item.route:
        moved = _binomial(rng, approvals, regression.failure)
        first = _binomial(rng, moved, 0.7)
        return moved, {
            code: count for code, count in zip(regression.codes, (first, moved - first), strict=True) if count
        }
    if (
        isinstance(regression, IssuerCodeSpike)
        and item.issuer
        and item.issuer == regression.issuer
        and item.funding == regression.funding
    ):
        moved = _binomial(rng, approvals, regression.extra)
        return moved, {regression.code: moved} if moved else {}
    if isinstance(regression, ThreeDSFailure) and item.entry_mode == "3ds":
        moved = _binomial(rng, approvals, regression.extra)
        return moved, {regression.code: moved} if moved else {}
    return 0, {}


def _sum_row(merchant: MerchantProfile, moment: datetime, rows: list[BucketRow]) -> BucketRow:
    codes: dict[str, int] = {}
    for row in rows:
        for code, count in row.decline_codes.items():
            codes[code] = codes.get(code, 0) + count
    return BucketRow(
        number=0,
        merchant=merchant.account,
        network="",
        bin_prefix="",
        issuer="",
        route="",
        country="",
        funding="",
        entry_mode="",
        bucket_start=moment,
        attempts=sum(row.attempts for row in rows),
        approvals=sum(row.approvals for row in rows),
        soft_declines=sum(row.soft_declines for row in rows),
        hard_declines=sum(row.hard_declines for row in rows),
        errors=sum(row.errors for row in rows),
        amount_attempted=sum((row.amount_attempted for row in rows), Decimal("0.00")),
        amount_approved=sum((row.amount_approved for row in rows), Decimal("0.00")),
        currency=merchant.currency,
        decline_codes=codes,
    )
