"""The figures behind the charts, aggregated in PostgreSQL over the bucket table's partitions.

Every series is `date_bin` over `bucket_start` (UTC-aligned bins) with sums of counts; rates are
computed from the counts. The expected band of a series comes from the same-slot history: for
each bin, the buckets of the same weekday and time in the previous `baseline_weeks` weeks,
`baseline_slot_radius` buckets either side (the detector's own baseline settings), pooled into a
baseline rate p; the band is the beta-binomial 99 % interval of the approvals expected from the
bin's observed attempts at rate p, with the segment's over-dispersion (the detector's nightly
estimate, else a method-of-moments estimate from the same baseline buckets, never below the
dispersion floor). docs/charts.md explains it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection
from scipy.stats import beta, betabinom

from monitoring.charts.svg import Point
from monitoring.detection.config import detector_config
from monitoring.models import Segment, SegmentMonitor

WEEK = timedelta(days=7)
ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")  # a Monday, midnight UTC
BAND_QUANTILES = (0.005, 0.995)  # the 99 % interval
EXACT_UP_TO = 300  # attempts; above, the moment-matched beta (band())
DIMENSION_COLUMNS = {
    "issuer": "issuer_id",
    "route": "route_id",
    "bin_prefix": "bin_prefix",
    "network": "network",
    "funding": "funding",
    "entry_mode": "entry_mode",
}


@dataclass
class Bin:
    start: datetime
    attempts: int = 0
    approvals: int = 0

    @property
    def rate(self) -> float | None:
        return self.approvals / self.attempts if self.attempts else None


def _minutes(step: timedelta) -> int:
    return int(step.total_seconds() // 60)


def binned_series(*, segment_ids: list[int], start: datetime, end: datetime, step: timedelta) -> dict[int, list[Bin]]:
    """Each segment's bins with start ≤ bin < end (every bin present, empty ones at zero): one query."""
    found: dict[int, dict[datetime, Bin]] = {segment_id: {} for segment_id in segment_ids}
    if segment_ids:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT segment_id, date_bin(%s::interval, bucket_start, %s) AS bin, SUM(attempts), SUM(approvals) "
                "FROM monitoring_authbucket WHERE segment_id = ANY(%s) AND bucket_start >= %s AND bucket_start < %s "
                "GROUP BY 1, 2",
                [f"{_minutes(step)} minutes", ORIGIN, list(segment_ids), start, end],
            )
            for segment_id, at, attempts, approvals in cursor.fetchall():
                found[segment_id][at] = Bin(at, int(attempts), int(approvals))
    first = _floor(start, step)
    bins = []
    at = first
    while at < end:
        bins.append(at)
        at += step
    return {sid: [rows.get(at) or Bin(at) for at in bins] for sid, rows in found.items()}


def _floor(moment: datetime, step: timedelta) -> datetime:
    return moment - (moment - ORIGIN) % step


@dataclass(frozen=True)
class BaselineSettings:
    weeks: int
    radius: timedelta  # buckets either side of the slot, as a duration
    dispersion: float | None  # the detector's estimate, if any
    dispersion_floor: float


def baseline_settings(segment: Segment) -> BaselineSettings:
    """The detector's baseline settings for the segment's merchant and its over-dispersion (two queries)."""
    config = detector_config(segment.merchant_id)
    dispersion = SegmentMonitor.objects.filter(segment=segment).values_list("dispersion", flat=True).first()
    return BaselineSettings(
        weeks=int(config.baseline_weeks),
        radius=timedelta(minutes=settings.PAYHEALTH_METRICS_BUCKET_MINUTES * int(config.baseline_slot_radius)),
        dispersion=dispersion,
        dispersion_floor=float(config.dispersion_floor),
    )


def _baseline_buckets(*, segment_id: int, start: datetime, end: datetime, base: BaselineSettings):
    """(bucket_start, attempts, approvals) of the same slots in the previous weeks: one query."""
    ranges = []
    params: list = [segment_id]
    for week in range(1, base.weeks + 1):
        ranges.append("(bucket_start >= %s AND bucket_start < %s)")
        params += [start - week * WEEK - base.radius, end - week * WEEK + base.radius]
    if not ranges:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bucket_start, attempts, approvals FROM monitoring_authbucket "
            f"WHERE segment_id = %s AND ({' OR '.join(ranges)}) ORDER BY bucket_start",
            params,
        )
        return cursor.fetchall()


def dispersion_estimate(samples: list[tuple[int, float, float]], floor: float) -> float:
    """Method-of-moments beta-binomial intra-class correlation from (attempts, rate, expected rate)."""
    values = []
    for attempts, rate, expected in samples:
        variance = expected * (1 - expected)
        if attempts < 2 or variance <= 0:
            continue
        values.append(((rate - expected) ** 2 - variance / attempts) / (variance * (1 - 1 / attempts)))
    if not values:
        return floor
    return float(min(max(float(np.mean(values)), floor), 0.5))


def band(*, attempts: np.ndarray, rate: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """The 99 % interval of approvals ÷ attempts under a beta-binomial(attempts, rate, rho).

    Exact (`betabinom.ppf`, which sums the probability mass) up to EXACT_UP_TO attempts; beyond,
    the beta distribution with the same mean and variance, rate × (1 − rate) × (1 + (n − 1) rho) ÷ n,
    which the beta-binomial's share converges to and which scipy computes in constant time."""
    p = np.clip(rate, 1e-6, 1 - 1e-6)
    n = attempts
    low = np.empty(len(n))
    high = np.empty(len(n))
    small = n <= EXACT_UP_TO
    if small.any():
        scale = 1 / rho - 1
        ns, ps = n[small], p[small]
        low[small] = betabinom.ppf(BAND_QUANTILES[0], ns, ps * scale, (1 - ps) * scale) / ns
        high[small] = betabinom.ppf(BAND_QUANTILES[1], ns, ps * scale, (1 - ps) * scale) / ns
    large = ~small
    if large.any():
        nl, pl = n[large], p[large]
        size = np.maximum(nl / (1 + (nl - 1) * rho) - 1, 1e-3)  # alpha + beta of the matching beta
        low[large] = beta.ppf(BAND_QUANTILES[0], pl * size, (1 - pl) * size)
        high[large] = beta.ppf(BAND_QUANTILES[1], pl * size, (1 - pl) * size)
    return low, high


def series_with_band(
    *, segment: Segment, start: datetime, end: datetime, step: timedelta, bins: list[Bin] | None = None
) -> tuple[list[Point], list[dict]]:
    """The segment's points with their expected band, and the rows of the data table."""
    base = baseline_settings(segment)
    if bins is None:
        bins = binned_series(segment_ids=[segment.pk], start=start, end=end, step=step)[segment.pk]
    history = _baseline_buckets(segment_id=segment.pk, start=bins[0].start if bins else start, end=end, base=base)
    times = [row[0] for row in history]
    pooled: list[tuple[int, int]] = []
    samples: list[tuple[int, float, float]] = []
    for item in bins:
        attempts = approvals = 0
        members = []
        for week in range(1, base.weeks + 1):
            low = item.start - week * WEEK - base.radius
            high = item.start + step - week * WEEK + base.radius
            for index in range(bisect.bisect_left(times, low), bisect.bisect_left(times, high)):
                _at, n, k = history[index]
                attempts += n
                approvals += k
                members.append((n, k))
        pooled.append((attempts, approvals))
        if attempts:
            expected = approvals / attempts
            samples += [(n, k / n, expected) for n, k in members if n]
    rho = base.dispersion if base.dispersion is not None else dispersion_estimate(samples, base.dispersion_floor)
    rho = max(rho, base.dispersion_floor, 1e-6)
    points: list[Point] = []
    rows: list[dict] = []
    n_arr = np.array([b.attempts for b in bins], dtype=float)
    p_arr = np.array([(k / n) if n else np.nan for n, k in pooled], dtype=float)
    usable = (n_arr > 0) & ~np.isnan(p_arr)
    low = np.full(len(bins), np.nan)
    high = np.full(len(bins), np.nan)
    if usable.any():
        low[usable], high[usable] = band(attempts=n_arr[usable], rate=p_arr[usable], rho=rho)
    for index, item in enumerate(bins):
        band_low = None if np.isnan(low[index]) else float(low[index])
        band_high = None if np.isnan(high[index]) else float(high[index])
        points.append(Point(item.start, item.rate, band_low, band_high))
        base_attempts, base_approvals = pooled[index]
        rows.append(
            {
                "start": item.start,
                "attempts": item.attempts,
                "approvals": item.approvals,
                "rate": item.rate,
                "baseline": base_approvals / base_attempts if base_attempts else None,
                "low": band_low,
                "high": band_high,
            }
        )
    return points, rows


@dataclass
class CodeMix:
    declines: int = 0
    codes: dict[str, int] = field(default_factory=dict)


def decline_mix(*, segment: Segment, start: datetime, end: datetime, weeks: int) -> dict[str, CodeMix]:
    """Decline counts by code during [start, end) and in the same window of the previous `weeks`
    weeks ("baseline"): two queries (codes, then the declines they are shares of)."""
    params: list = [segment.pk, start, end]
    ranges = ["(bucket_start >= %s AND bucket_start < %s)"]
    for week in range(1, weeks + 1):
        ranges.append("(bucket_start >= %s AND bucket_start < %s)")
        params += [start - week * WEEK, end - week * WEEK]
    where = f"segment_id = %s AND ({' OR '.join(ranges)})"
    period = "CASE WHEN bucket_start >= %s AND bucket_start < %s THEN 'during' ELSE 'baseline' END"
    mixes = {"baseline": CodeMix(), "during": CodeMix()}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {period}, c.key, SUM(c.value::bigint) FROM monitoring_authbucket "
            f"CROSS JOIN LATERAL jsonb_each_text(decline_codes) AS c WHERE {where} GROUP BY 1, 2",
            [start, end, *params],
        )
        for name, code, count in cursor.fetchall():
            mixes[name].codes[code] = int(count)
        cursor.execute(
            f"SELECT {period}, SUM(soft_declines + hard_declines) FROM monitoring_authbucket WHERE {where} GROUP BY 1",
            [start, end, *params],
        )
        for name, declines in cursor.fetchall():
            mixes[name].declines = int(declines or 0)
    return mixes


@dataclass
class ChildRow:
    key: object
    label: str
    attempts: int
    approvals: int
    rate: float | None
    baseline_rate: float | None
    excess_declines: int | None
    bins: list[Bin]
    segment_id: int | None = None


def children_breakdown(
    *, segment: Segment, dimension: str, start: datetime, end: datetime, step: timedelta, weeks: int
) -> list[ChildRow]:
    """The merchant-level segment's slices summed by one dimension over [start, end): binned
    counts (one query) and the same window of the previous weeks (one query); rows sorted by
    excess declines, the largest first."""
    column = DIMENSION_COLUMNS[dimension]  # a fixed column name, never user text
    bins_by: dict[object, dict[datetime, Bin]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.{column}, date_bin(%s::interval, b.bucket_start, %s), SUM(b.attempts), SUM(b.approvals), "
            "MIN(s.id), COUNT(DISTINCT s.id) "
            "FROM monitoring_authbucket b JOIN monitoring_segment s ON s.id = b.segment_id "
            "WHERE s.parent_id = %s AND b.bucket_start >= %s AND b.bucket_start < %s GROUP BY 1, 2",
            [f"{_minutes(step)} minutes", ORIGIN, segment.pk, start, end],
        )
        single: dict[object, int | None] = {}
        for key, at, attempts, approvals, first_id, count in cursor.fetchall():
            key = key or None
            bins_by[key][at] = Bin(at, int(attempts), int(approvals))
            single[key] = first_id if count == 1 and single.get(key, first_id) == first_id else None
        ranges, params = [], [segment.pk]
        for week in range(1, weeks + 1):
            ranges.append("(b.bucket_start >= %s AND b.bucket_start < %s)")
            params += [start - week * WEEK, end - week * WEEK]
        baseline: dict[object, tuple[int, int]] = {}
        if ranges:
            cursor.execute(
                f"SELECT s.{column}, SUM(b.attempts), SUM(b.approvals) FROM monitoring_authbucket b "
                f"JOIN monitoring_segment s ON s.id = b.segment_id WHERE s.parent_id = %s AND ({' OR '.join(ranges)}) "
                "GROUP BY 1",
                params,
            )
            for key, attempts, approvals in cursor.fetchall():
                baseline[key or None] = (int(attempts), int(approvals))
    all_bins = []
    at = _floor(start, step)
    while at < end:
        all_bins.append(at)
        at += step
    rows = []
    for key, found in bins_by.items():
        bins = [found.get(at) or Bin(at) for at in all_bins]
        attempts = sum(b.attempts for b in bins)
        approvals = sum(b.approvals for b in bins)
        base_attempts, base_approvals = baseline.get(key, (0, 0))
        base_rate = base_approvals / base_attempts if base_attempts else None
        excess = round(attempts * base_rate - approvals) if base_rate is not None else None
        rows.append(
            ChildRow(
                key=key,
                label="",
                attempts=attempts,
                approvals=approvals,
                rate=approvals / attempts if attempts else None,
                baseline_rate=base_rate,
                excess_declines=excess,
                bins=bins,
                segment_id=single.get(key),
            )
        )
    rows.sort(key=lambda row: (-(row.excess_declines or 0), -row.attempts))
    return rows
