"""Dense series (segments × buckets) for the core: baselines by shifting whole columns, the rows
of a run, and the nightly over-dispersion. The tests, the replay and the benchmark use it; the DB
runner aggregates the same baselines in SQL instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitoring.detection.core import Rows, baseline_rate, estimate_rho

WEEK = 7 * 86400


@dataclass
class Series:
    """Counts per segment (S) and bucket (T), column 0 starting at `start` (epoch seconds).
    `excluded` leaves a bucket out of every baseline (a suppression, a finding, a holiday);
    `skip` leaves it untested (a holiday, a suppression)."""

    start: int
    step: int
    n: np.ndarray  # S × T
    x: np.ndarray  # S × T
    codes: np.ndarray  # S × T × K
    code_names: list[str]
    excluded: np.ndarray  # S × T bool
    skip: np.ndarray  # S × T bool

    @property
    def per_week(self) -> int:
        return WEEK // self.step


def baselines(series: Series, cols: np.ndarray, *, weeks: int, radius: int):
    """Baseline attempts and approvals (S × len(cols) × (2 radius + 1), per offset from the slot)
    and code counts (S × len(cols) × K) of each column: the same slot ± `radius` buckets in each of
    the last `weeks` weeks, without excluded buckets."""
    size, total = series.n.shape
    base_n = np.zeros((size, len(cols), 2 * radius + 1))
    base_x = np.zeros((size, len(cols), 2 * radius + 1))
    base_codes = np.zeros((size, len(cols), series.codes.shape[2]))
    for week in range(1, weeks + 1):
        for offset in range(-radius, radius + 1):
            src = cols - week * series.per_week + offset
            ok = (src >= 0) & (src < total)
            if not ok.any():
                continue
            src_ok = src[ok]
            keep = ~series.excluded[:, src_ok]
            base_n[:, ok, offset + radius] += np.where(keep, series.n[:, src_ok], 0)
            base_x[:, ok, offset + radius] += np.where(keep, series.x[:, src_ok], 0)
            base_codes[:, ok] += np.where(keep[:, :, None], series.codes[:, src_ok], 0)
    return base_n, base_x, base_codes


def rows_for(series: Series, cols: np.ndarray, *, weeks: int, radius: int, hour: bool = True) -> Rows:
    """The rows of a run testing `cols` (every segment), with the earlier buckets of each hour
    as context. Each column is its own Benjamini–Hochberg family (its own run)."""
    cols = np.asarray(cols)
    per_hour = max(1, 3600 // series.step) if hour else 1
    context = np.unique(np.concatenate([cols - offset for offset in range(per_hour)]))
    context = context[context >= 0]
    every = np.union1d(cols, context)
    size = series.n.shape[0]
    base_n, base_x, base_codes = baselines(series, every, weeks=weeks, radius=radius)
    tested_col = np.isin(every, cols)
    # Rows sorted by bucket, then segment.
    seg = np.tile(np.arange(size), len(every))
    col = np.repeat(every, size)
    return Rows(
        seg=seg,
        t=series.start + col.astype(np.int64) * series.step,
        tested=np.repeat(tested_col, size),
        skip=series.skip[seg, col],
        n=series.n[seg, col],
        x=series.x[seg, col],
        base_n=base_n.transpose(1, 0, 2).reshape(-1, base_n.shape[2]),
        base_x=base_x.transpose(1, 0, 2).reshape(-1, base_x.shape[2]),
        codes=series.codes[seg, col],
        base_codes=base_codes.transpose(1, 0, 2).reshape(-1, series.codes.shape[2]),
        code_names=list(series.code_names),
        group=col.astype(np.int64),
    )


def dispersion(series: Series, *, weeks: int, radius: int, floor: np.ndarray, last: int | None = None) -> np.ndarray:
    """rho per segment by the method of moments over its buckets of the last `weeks` weeks
    (up to column `last`), each against its own baseline (excluded buckets left out)."""
    total = series.n.shape[1]
    last = total if last is None else last
    first = max(0, last - weeks * series.per_week)
    cols = np.arange(first, last)
    base_n, base_x, _ = baselines(series, cols, weeks=weeks, radius=radius)
    expected = baseline_rate(base_n, base_x)
    n = np.where(series.excluded[:, cols], 0, series.n[:, cols]).astype(float)
    x = np.where(series.excluded[:, cols], 0, series.x[:, cols]).astype(float)
    return estimate_rho(n, x, expected, floor)


def series_from_rows(rows, *, start: int, end: int, step: int, holidays=None, local_tz=None) -> tuple[Series, list]:
    """A Series from generated `BucketRow`s (their segments in order of first appearance) and the
    segment keys. `holidays`: local dates whose buckets are skipped and left out of baselines."""
    from monitoring.generator import HARD_CODES, SOFT_CODES

    names = [code for code, _ in SOFT_CODES + HARD_CODES]
    index: dict[tuple, int] = {}
    total = (end - start) // step
    cells: list[tuple] = []
    for row in rows:
        key = (row.merchant, row.network, row.bin_prefix, row.issuer, row.route, row.funding, row.entry_mode)
        s = index.setdefault(key, len(index))
        t = (int(row.bucket_start.timestamp()) - start) // step
        cells.append((s, t, row.attempts, row.approvals, row.decline_codes))
    for code in sorted({c for cell in cells for c in cell[4]} - set(names)):
        names.append(code)
    code_index = {code: k for k, code in enumerate(names)}
    size = len(index)
    n = np.zeros((size, total), np.int64)
    x = np.zeros((size, total), np.int64)
    codes = np.zeros((size, total, len(names)), np.int32)
    for s, t, attempts, approvals, decline_codes in cells:
        n[s, t] = attempts
        x[s, t] = approvals
        for code, count in decline_codes.items():
            codes[s, t, code_index[code]] = count
    skip = np.zeros((size, total), bool)
    if holidays:
        from datetime import UTC, datetime

        for t in range(total):
            moment = datetime.fromtimestamp(start + t * step, UTC).astimezone(local_tz)
            if moment.date() in holidays:
                skip[:, t] = True
    return Series(start, step, n, x, codes, names, skip.copy(), skip), list(index)
