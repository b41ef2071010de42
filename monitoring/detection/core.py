"""The detector's statistics: pure and vectorised (numpy over rows of segment × bucket, no ORM).

`evaluate(rows, segments, state)` tests one run's buckets against their seasonal baselines and
walks each segment's findings forward in time; the DB runner (`monitoring.detection.runner`),
the replay command, the tests and the benchmark all call it. docs/detection.md explains the
method; the names below follow it.

Rows are (segment, bucket) pairs sorted by bucket then segment, each with its counts and the
sums of its baseline slots (aggregated by the caller). A row is *tested* (a bucket the run
evaluates), or *context* only (an earlier bucket of the same hour, for the hour test), and may be
*skipped* (a holiday or a suppressed window: nothing is tested there and the segment's state is
left as it was).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import betainc, ndtr, ndtri
from scipy.stats import betabinom
from statsmodels.stats.multitest import multipletests

# The CUSUM's reference value, in standard deviations of a bucket: a one-sided CUSUM with k
# detects best a shift of 2k, and a drop worth alerting on is at least one standard deviation.
RECOVERY_Z = -1.0  # a bucket within one (over-dispersed) standard deviation of its baseline is healthy
CUSUM_K = 0.5

# Test kinds of a row.
NOT_TESTED, BUCKET, HOUR, LOW_VOLUME = 0, 1, 2, 3

# Finding states, as the model spells them.
WATCH, ALERTED, RECOVERED = "watch", "alerted", "recovered"
DROP, SPIKE = "approval_drop", "decline_code_spike"

# Parameters per segment, in this order (the merchant's DetectorConfig; percentages as shares).
PARAMETERS = (
    "enabled",
    "min_bucket_attempts",
    "min_hour_attempts",
    "min_drop",
    "min_excess_declines",
    "watch_q",
    "alert_q",
    "alert_consecutive",
    "dispersion_floor",
    "code_min_count",
    "code_min_ratio",
    "code_min_share",
    "recovery_buckets",
    "recovery_within",
)


def parameters_from_config(config) -> tuple[float, ...]:
    """One segment's parameter tuple from a `DetectorConfig` (pp become shares)."""
    return (
        1.0 if config.enabled else 0.0,
        float(config.min_bucket_attempts),
        float(config.min_hour_attempts),
        float(config.min_drop_pp) / 100,
        float(config.min_excess_declines),
        float(config.watch_q),
        float(config.alert_q),
        float(config.alert_consecutive),
        float(config.dispersion_floor),
        float(config.code_min_count),
        float(config.code_min_ratio),
        float(config.code_min_share_pp) / 100,
        float(config.recovery_buckets),
        float(config.recovery_within_pp) / 100,
    )


@dataclass
class Rows:
    """One run's rows (length R), sorted by `t` then `seg`. `t` is the bucket start in seconds
    since the epoch; `codes`/`base_codes` are R × K counts of the decline codes `code_names`."""

    seg: np.ndarray  # int: index into the segments
    t: np.ndarray  # int64 seconds
    tested: np.ndarray  # bool
    skip: np.ndarray  # bool: holiday or suppressed
    n: np.ndarray  # attempts
    x: np.ndarray  # approvals
    base_n: np.ndarray  # R × J baseline attempts per offset from the slot (−radius … +radius)
    base_x: np.ndarray  # R × J baseline approvals
    codes: np.ndarray  # R × K
    base_codes: np.ndarray  # R × K
    code_names: list[str]
    group: np.ndarray | None = None  # Benjamini–Hochberg families (None: one, the run)

    def __len__(self) -> int:
        return len(self.seg)


@dataclass
class Segments:
    """Per segment (length S): over-dispersion and the parameters (S × len(PARAMETERS))."""

    rho: np.ndarray
    params: np.ndarray

    def p(self, name: str) -> np.ndarray:
        return self.params[:, PARAMETERS.index(name)]


@dataclass
class Active:
    """An active finding as the core walks it forward (`id` is the database's, None if new)."""

    seg: int
    kind: str
    code: str
    state: str
    test: str
    window_start: int
    window_end: int
    started_at: int | None
    attempts: int = 0
    approvals: int = 0
    expected_approvals: float = 0.0  # Σ attempts × baseline rate over the window
    count: int = 0  # declines (a drop) or the code's count (a spike) over the window
    expected_count: float = 0.0  # Σ attempts × (1 − baseline rate), or × the code's baseline share
    p_value: float = 1.0
    q_value: float = 1.0
    rejecting_in_a_row: int = 0
    alerted_at: int | None = None
    recovered_at: int | None = None
    id: int | None = None
    changed: bool = False
    events: list[str] = field(default_factory=list)  # opened / escalated / refreshed / recovered

    @property
    def baseline_rate(self) -> float:
        return self.expected_approvals / self.attempts if self.attempts else 0.0

    @property
    def observed_rate(self) -> float:
        return self.approvals / self.attempts if self.attempts else 0.0

    @property
    def excess_declines(self) -> int:
        return round(self.count - self.expected_count)


@dataclass
class State:
    """The detector's memory per segment (length S) and its active findings."""

    cusum: np.ndarray
    cusum_zero_at: np.ndarray  # int64 seconds, -1: never
    alert_run: np.ndarray  # consecutive rejecting buckets (the drop): an alert needs alert_consecutive
    healthy_run: np.ndarray
    last_t: np.ndarray  # int64 seconds, -1: none yet
    active: dict[tuple[int, str, str], Active] = field(default_factory=dict)
    closed: list[Active] = field(default_factory=list)
    low_volume: np.ndarray | None = None  # bool, the last tested bucket was too small
    baseline_rate: np.ndarray | None = None
    observed_rate: np.ndarray | None = None

    @classmethod
    def empty(cls, size: int) -> State:
        return cls(
            cusum=np.zeros(size),
            cusum_zero_at=np.full(size, -1, dtype=np.int64),
            alert_run=np.zeros(size, dtype=np.int64),
            healthy_run=np.zeros(size, dtype=np.int64),
            last_t=np.full(size, -1, dtype=np.int64),
        )

    def segment_state(self, seg: int) -> str:
        kinds = [a.state for (s, _, _), a in self.active.items() if s == seg]
        if ALERTED in kinds:
            return "alert"
        if WATCH in kinds:
            return "watch"
        if self.low_volume is not None and self.low_volume[seg]:
            return "low_volume"
        return "ok"


@dataclass
class Results:
    """Per row: the statistics of its test; per run: counts."""

    test: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    base_rate: np.ndarray
    rejecting: np.ndarray  # watch level, material
    alert_level: np.ndarray
    code_p: np.ndarray  # R × K, NaN where not tested
    code_q: np.ndarray
    code_rejecting: np.ndarray
    code_alert_level: np.ndarray
    tests: int = 0
    rejected: int = 0
    opened: int = 0
    updated: int = 0
    recovered: int = 0
    alert_buckets: int = 0  # (segment, bucket) pairs in an alerted drop finding's rejecting run
    touched: set[int] = field(default_factory=set)  # segments whose state was walked
    p0: np.ndarray | None = None  # the bucket's own baseline rate


# --- statistics --------------------------------------------------------------------------------


def baseline_rate(base_n: np.ndarray, base_x: np.ndarray) -> np.ndarray:
    """The baseline approval rate from per-offset sums (… × J): the median of the offsets' rates
    over the weeks, so a slot next to a step of the daily curve (the night's stricter rules) takes
    the rate of its own side of the step. NaN without any baseline attempts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(base_n > 0, base_x / np.maximum(base_n, 1), np.nan)
    out = np.full(rates.shape[:-1], np.nan)
    any_rate = np.isfinite(rates).any(axis=-1)
    out[any_rate] = np.nanmedian(rates[any_rate], axis=-1)
    return out


def effective_rho(rho: np.ndarray, n: np.ndarray, base_n: np.ndarray) -> np.ndarray:
    """Over-dispersion of a bucket against an estimated baseline: the segment's rho plus the
    baseline's own sampling error (n / ((n − 1) N) for a baseline of N attempts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where((n > 1) & (base_n > 0), n / (np.maximum(n - 1, 1) * np.maximum(base_n, 1)), 0.0)
    return np.clip(rho + extra, 1e-9, 0.5)


def z_scores(n, x, p0, rho) -> np.ndarray:
    """(x − n p0) over the beta-binomial standard deviation; 0 where nothing was attempted."""
    var = n * p0 * (1 - p0) * (1 + (n - 1) * rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (x - n * p0) / np.sqrt(np.maximum(var, 1e-300)), 0.0)
    return z


def lower_tail(n, x, p0, rho, *, exact_below: float = -1.5, mid: bool = False) -> np.ndarray:
    """P(X ≤ x) for X beta-binomial with mean n p0 and intra-class correlation rho (with `mid`,
    the mid-p: P(X < x) + P(X = x) / 2).

    Exact where z < `exact_below`: scipy's beta-binomial mass at x, then the tail's terms below it
    by the ratio of consecutive masses, over 8 standard deviations (the terms fall faster than
    geometrically below the mean; scipy's own sum for very large buckets). Above it, where a
    p-value is over 0.05 and no q-value it feeds can reach a threshold, the normal approximation."""
    n = np.asarray(n, float)
    x = np.asarray(x, float)
    p0 = np.clip(p0, 1e-6, 1 - 1e-6)
    rho = np.asarray(rho, float)
    sd = np.sqrt(np.maximum(n * p0 * (1 - p0) * (1 + (n - 1) * rho), 1e-12))
    z = (x - n * p0) / sd
    out = ndtr(z)
    exact = np.flatnonzero(z < exact_below)
    if not len(exact):
        return out
    scale = (1 - rho[exact]) / rho[exact]
    a, b = p0[exact] * scale, (1 - p0[exact]) * scale
    ne, xe = n[exact], x[exact]
    width = np.minimum(xe + 1, np.ceil(8 * sd[exact]) + 10)
    mass = betabinom.pmf(xe, ne, a, b)
    narrow = np.flatnonzero(width <= 2000)
    wide = np.flatnonzero(width > 2000)
    if len(wide):
        out[exact[wide]] = betabinom.cdf(xe[wide], ne[wide], a[wide], b[wide])
    for chunk in np.array_split(narrow, max(1, len(narrow) // 2048)) if len(narrow) else []:
        span = int(width[chunk].max())
        k = xe[chunk][:, None] - np.arange(span - 1)[None, :]  # P(k − 1) / P(k) for k = x, x − 1, …
        kc = np.maximum(k, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (
                kc
                * (b[chunk][:, None] + ne[chunk][:, None] - kc)
                / ((ne[chunk][:, None] - kc + 1) * (a[chunk][:, None] + kc - 1))
            )
        ratio = np.where(k > 0, np.nan_to_num(ratio, nan=0.0, posinf=0.0), 0.0)
        terms = np.cumprod(ratio, axis=1)
        out[exact[chunk]] = mass[chunk] * (1 + terms.sum(axis=1))
    if mid:
        out[exact] -= mass / 2
    return np.clip(out, 0.0, 1.0)


def upper_tail_overdispersed(n, k, share, rho) -> np.ndarray:
    """P(X ≥ k) for a binomial with the same over-dispersion (design effect 1 + (n − 1) rho):
    the regularised incomplete beta on the effective sample size."""
    deff = 1 + (n - 1) * rho
    n_eff = n / deff
    k_eff = k / deff
    share = np.clip(share, 1e-9, 1 - 1e-9)
    with np.errstate(invalid="ignore"):
        p = np.where(k_eff > 0, betainc(np.maximum(k_eff, 1e-9), np.maximum(n_eff - k_eff + 1, 1e-9), share), 1.0)
    return np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)


def estimate_rho(n: np.ndarray, x: np.ndarray, expected: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Method of moments per segment: n and x are S × B (buckets), expected S × B the baseline
    rate of each bucket (NaN where unknown). rho = Σ(r² − n p q) / Σ n(n − 1) p q, floored."""
    ok = np.isfinite(expected) & (n > 1)
    p = np.where(ok, expected, 0.5)
    pq = p * (1 - p)
    r2 = np.where(ok, (x - n * p) ** 2 - n * pq, 0.0)
    denom = np.where(ok, n * (n - 1) * pq, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(denom > 0, r2.sum(axis=1) / denom, 0.0)
    return np.maximum(np.nan_to_num(rho), floor)


def bh(p: np.ndarray, group: np.ndarray | None) -> np.ndarray:
    """Benjamini–Hochberg q-values within each group."""
    q = np.ones_like(p)
    if not len(p):
        return q
    if group is None:
        return multipletests(p, method="fdr_bh")[1]
    order = np.argsort(group, kind="stable")
    sorted_groups = group[order]
    bounds = np.flatnonzero(np.diff(sorted_groups)) + 1
    for chunk in np.split(order, bounds):
        q[chunk] = multipletests(p[chunk], method="fdr_bh")[1]
    return q


# --- the run -----------------------------------------------------------------------------------


def evaluate(rows: Rows, segments: Segments, state: State, *, step: int, gate_first: bool = False) -> Results:
    """Test the rows, apply Benjamini–Hochberg across every eligible test of the run (or of each
    `rows.group`), then the materiality gate, then walk each segment's findings forward.

    `step` is the bucket length in seconds. `gate_first` moves the gate in front of BH: it exists
    to show that the order matters, and nothing but a test uses it. Mutates `state`."""
    count = len(rows)
    seg = rows.seg
    param = segments.params[seg] if count else np.zeros((0, len(PARAMETERS)))

    def col(name: str) -> np.ndarray:
        return param[:, PARAMETERS.index(name)]

    n = rows.n.astype(float)
    x = rows.x.astype(float)
    base_n = rows.base_n.sum(axis=1).astype(float) if count else np.zeros(0)
    p0 = baseline_rate(rows.base_n, rows.base_x) if count else np.zeros(0)
    has_base = np.isfinite(p0) & (base_n > 0)
    p0 = np.where(has_base, p0, 0.5)
    rho = effective_rho(np.maximum(segments.rho[seg], col("dispersion_floor")), n, base_n) if count else np.zeros(0)
    z = z_scores(n, x, p0, rho)
    if count:
        # Small buckets (the hour test's): z from the exact mid-p, since a normal z of a handful
        # of attempts has far too heavy a lower tail.
        small = has_base & (n > 0) & (n < col("min_bucket_attempts"))
        if small.any():
            tail = lower_tail(n[small], x[small], p0[small], rho[small], exact_below=np.inf, mid=True)
            z[small] = ndtri(np.clip(tail, 1e-300, 1 - 1e-16))

    usable = rows.tested & ~rows.skip & has_base & (col("enabled") > 0) if count else np.zeros(0, bool)
    bucket_ok = usable & (n >= col("min_bucket_attempts"))

    # The hour test: the bucket and the earlier buckets of its hour (trailing), Stouffer's Z.
    per_hour = max(1, 3600 // step)
    key = seg.astype(np.int64) * (1 << 40) + rows.t // step
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    hour_n = np.zeros(count)
    hour_x = np.zeros(count)
    hour_e = np.zeros(count)  # Σ n p0
    hour_z = np.zeros(count)
    hour_k = np.zeros(count)
    for offset in range(per_hour):
        wanted = key - offset
        at = np.searchsorted(sorted_keys, wanted)
        at = np.minimum(at, max(count - 1, 0))
        found = (sorted_keys[at] == wanted) if count else np.zeros(0, bool)
        idx = order[at]
        ok = found & has_base[idx] & ~rows.skip[idx]
        hour_n += np.where(ok, n[idx], 0)
        hour_x += np.where(ok, x[idx], 0)
        hour_e += np.where(ok, n[idx] * p0[idx], 0)
        hour_z += np.where(ok & (n[idx] > 0), z[idx], 0)
        hour_k += np.where(ok & (n[idx] > 0), 1, 0)
    # Tested once an hour, at the hour's last bucket (UTC clock hours, which never overlap).
    hour_end = (rows.t + step) % 3600 == 0
    hour_ok = usable & ~bucket_ok & hour_end & (hour_n >= col("min_hour_attempts")) & (hour_k > 0)
    low_volume = usable & ~bucket_ok & hour_end & ~hour_ok

    test = np.full(count, NOT_TESTED)
    test[bucket_ok] = BUCKET
    test[hour_ok] = HOUR
    test[low_volume] = LOW_VOLUME

    if hour_ok.any():
        z = z.copy()
        z[hour_ok] = hour_z[hour_ok] / np.sqrt(hour_k[hour_ok])  # the CUSUM reads the hour's Z
    p = np.ones(count)
    if bucket_ok.any():
        p[bucket_ok] = lower_tail(n[bucket_ok], x[bucket_ok], p0[bucket_ok], rho[bucket_ok])
    if hour_ok.any():
        p[hour_ok] = ndtr(z[hour_ok])

    # The figures the gate reads: over the bucket, or over the hour.
    win_n = np.where(hour_ok, hour_n, n)
    win_x = np.where(hour_ok, hour_x, x)
    win_e = np.where(hour_ok, hour_e, n * p0)
    with np.errstate(divide="ignore", invalid="ignore"):
        base_rate = np.where(win_n > 0, win_e / np.maximum(win_n, 1), p0)
        obs_rate = np.where(win_n > 0, win_x / np.maximum(win_n, 1), base_rate)
    drop = base_rate - obs_rate
    excess = (win_n - win_x) - win_n * (1 - base_rate)
    material = (drop >= col("min_drop") - 1e-12) & (excess >= col("min_excess_declines"))

    # Decline codes: upper tail of each code's count against its baseline share.
    k_codes = rows.codes.shape[1] if rows.codes.ndim == 2 else 0
    code_p = np.full((count, k_codes), np.nan)
    code_gate = np.zeros((count, k_codes), bool)
    if k_codes and bucket_ok.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            share0 = np.where(base_n[:, None] > 0, rows.base_codes / np.maximum(base_n, 1)[:, None], 0.0)
        # A code never seen in the baseline still has a small expected share (half a count).
        share0 = np.maximum(share0, 0.5 / np.maximum(base_n, 1)[:, None])
        counts = rows.codes.astype(float)
        eligible = bucket_ok[:, None] & (counts > 0)
        ii, kk = np.nonzero(eligible)
        code_p[ii, kk] = upper_tail_overdispersed(n[ii], counts[ii, kk], share0[ii, kk], rho[ii])
        expected = n[:, None] * share0
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(n[:, None] > 0, counts / np.maximum(n, 1)[:, None], 0.0)
        code_gate = (
            eligible
            & (counts >= col("code_min_count")[:, None])
            & (counts >= col("code_min_ratio")[:, None] * expected)
            & (share - share0 >= col("code_min_share")[:, None] - 1e-12)
        )
        code_expected = expected
    else:
        code_expected = np.zeros((count, k_codes))

    # Benjamini–Hochberg across every eligible test (or, gate first, the material ones only).
    main_in = (bucket_ok | hour_ok) & (material if gate_first else True)
    code_in = ~np.isnan(code_p) & (code_gate if gate_first else True)
    ci, ck = np.nonzero(code_in)
    all_p = np.concatenate([p[main_in], code_p[ci, ck]])
    groups = None
    if rows.group is not None:
        groups = np.concatenate([rows.group[main_in], rows.group[ci]])
    all_q = bh(all_p, groups)
    q = np.ones(count)
    q[main_in] = all_q[: main_in.sum()]
    code_q = np.full((count, k_codes), np.nan)
    code_q[ci, ck] = all_q[main_in.sum() :]

    rejecting = main_in & material & (q <= col("watch_q"))
    alert_level = rejecting & (q <= col("alert_q"))
    code_rejecting = code_in & code_gate & (np.nan_to_num(code_q, nan=1.0) <= col("watch_q")[:, None])
    code_alert = code_rejecting & (np.nan_to_num(code_q, nan=1.0) <= col("alert_q")[:, None])

    results = Results(
        test=test,
        z=z,
        p=p,
        q=q,
        base_rate=base_rate,
        rejecting=rejecting,
        alert_level=alert_level,
        code_p=code_p,
        code_q=code_q,
        code_rejecting=code_rejecting,
        code_alert_level=code_alert,
        tests=int(len(all_p)),
        p0=p0,
        rejected=int((all_q <= np.concatenate([col("watch_q")[main_in], col("watch_q")[ci]])).sum()),
    )
    if state.low_volume is None:
        state.low_volume = np.zeros(len(segments.rho), bool)
        state.baseline_rate = np.full(len(segments.rho), np.nan)
        state.observed_rate = np.full(len(segments.rho), np.nan)
    _walk(
        rows,
        state,
        results,
        col,
        step=step,
        has_base=has_base,
        p0=p0,
        win=(win_n, win_x, win_e, obs_rate),
        code_expected=code_expected,
    )
    return results


def _walk(rows: Rows, state: State, results: Results, col, *, step, has_base, p0, win, code_expected) -> None:
    """Walk each segment's CUSUM, runs and findings forward, bucket by bucket in time order.
    Buckets at or before a segment's last tested bucket (late or corrected) may open or refresh
    a watch finding but move no state."""
    win_n, win_x, win_e, obs_rate = win
    walkable = rows.tested & ~rows.skip & has_base & (col("enabled") > 0)
    within = col("recovery_within")
    names = rows.code_names
    for t in np.unique(rows.t[walkable]) if walkable.any() else []:
        idx = np.flatnonzero(walkable & (rows.t == t))
        segs = rows.seg[idx]
        new = t > state.last_t[segs]
        # CUSUM and state only for new buckets.
        nidx, nsegs = idx[new], segs[new]
        if len(nidx):
            tested = (results.test[nidx] == BUCKET) | (results.test[nidx] == HOUR)
            zz = np.where(tested, results.z[nidx], 0.0)
            cusum = np.maximum(0.0, state.cusum[nsegs] - zz - CUSUM_K)
            state.cusum[nsegs] = np.where(tested, cusum, state.cusum[nsegs])
            at_zero = tested & (state.cusum[nsegs] == 0)
            state.cusum_zero_at[nsegs[at_zero]] = t
            state.last_t[nsegs] = t
            state.low_volume[nsegs] = np.where(
                results.test[nidx] == NOT_TESTED, state.low_volume[nsegs], results.test[nidx] == LOW_VOLUME
            )
            state.baseline_rate[nsegs] = np.where(tested, results.base_rate[nidx], p0[nidx])
            state.observed_rate[nsegs] = np.where(tested, obs_rate[nidx], rows.x[nidx] / np.maximum(rows.n[nidx], 1))
            state.alert_run[nsegs] = np.where(
                tested, np.where(results.rejecting[nidx], state.alert_run[nsegs] + 1, 0), state.alert_run[nsegs]
            )
            # Healthy: not rejecting, and within `recovery_within` of the baseline or within the
            # bucket's own noise (a small segment's rate wobbles by more than a point).
            close = (obs_rate[nidx] >= results.base_rate[nidx] - within[nidx] - 1e-12) | (results.z[nidx] >= RECOVERY_Z)
            healthy = ~results.rejecting[nidx] & close
            state.healthy_run[nsegs] = np.where(
                tested, np.where(healthy, state.healthy_run[nsegs] + 1, 0), state.healthy_run[nsegs]
            )
            results.touched.update(int(s) for s in nsegs)
        # Findings: only rows that reject, or segments with an active finding, need Python.
        active_segs = np.fromiter({key[0] for key in state.active}, dtype=np.int64)
        busy = results.rejecting[idx] | results.code_rejecting[idx].any(axis=1) | np.isin(segs, active_segs)
        for position in np.flatnonzero(busy):
            i = int(idx[position])
            s = int(segs[position])
            is_new = bool(new[position])
            if results.rejecting[i] or (s, DROP, "") in state.active:
                _drop(rows, results, state, col, i, s, t, step, is_new, win_n, win_x, win_e)
            for k in np.flatnonzero(results.code_rejecting[i]):
                _spike(rows, results, state, col, i, s, names[k], k, t, step, code_expected)
            for (fs, kind, code), finding in list(state.active.items()):
                if fs == s and kind == SPIKE and not results.code_rejecting[i][names.index(code)]:
                    _spike_quiet(rows, results, state, col, i, finding, names.index(code), t, step, code_expected)


def _drop(rows, results, state, col, i, s, t, step, is_new, win_n, win_x, win_e) -> None:
    key = (s, DROP, "")
    finding = state.active.get(key)
    hour = results.test[i] == HOUR
    start = t - (3600 - step) if hour else t
    if results.rejecting[i]:
        consecutive = int(col("alert_consecutive")[i])
        if finding is None:
            zero = state.cusum_zero_at[s]
            finding = Active(
                seg=s,
                kind=DROP,
                code="",
                state=WATCH,
                test="hour" if hour else "bucket",
                window_start=int(start),
                window_end=int(t + step),
                # The CUSUM dates a change only when this bucket moved it (a late bucket did not).
                started_at=int(min(zero + step, start)) if zero >= 0 and is_new else int(start),
                events=["opened"],
            )
            state.active[key] = finding
            results.opened += 1
        elif not finding.events:
            results.updated += 1
        _add(finding, rows, results, i, t, step, win_n, win_x, win_e, hour)
        finding.p_value = float(results.p[i])
        finding.q_value = float(results.q[i])
        if is_new:
            finding.rejecting_in_a_row += 1
        finding.changed = True
        if "opened" not in finding.events and "refreshed" not in finding.events:
            finding.events.append("refreshed")
        if is_new and finding.state == WATCH and results.alert_level[i] and state.alert_run[s] >= consecutive:
            finding.state = ALERTED
            finding.alerted_at = int(t + step)
            finding.events.append("escalated")
        if finding.state == ALERTED:
            results.alert_buckets += 1
        return
    if finding is None or not is_new or results.test[i] not in (BUCKET, HOUR):
        return
    finding.rejecting_in_a_row = 0
    finding.changed = True
    if state.healthy_run[s] >= col("recovery_buckets")[i]:
        finding.state = RECOVERED
        finding.recovered_at = int(t + step)
        finding.events.append("recovered")
        del state.active[key]
        state.closed.append(finding)
        results.recovered += 1


def _add(finding: Active, rows, results, i, t, step, win_n, win_x, win_e, hour) -> None:
    """Add the bucket's (or, for a new hour finding, the hour's) figures to the window."""
    if hour and finding.attempts == 0:
        n, x, e = win_n[i], win_x[i], win_e[i]
    else:
        n, x, e = rows.n[i], rows.x[i], rows.n[i] * results.p0[i]
    if t + step <= finding.window_end and finding.attempts and not hour:
        return  # a bucket already inside the window (a correction): keep the figures, no double count
    finding.window_end = max(finding.window_end, int(t + step))
    finding.window_start = min(finding.window_start, int(t if not hour else t - (3600 - step)))
    finding.attempts += int(n)
    finding.approvals += int(x)
    finding.expected_approvals += float(e)
    finding.count = finding.attempts - finding.approvals
    finding.expected_count = finding.attempts - finding.expected_approvals


def _spike(rows, results, state, col, i, s, code, k, t, step, code_expected) -> None:
    key = (s, SPIKE, code)
    finding = state.active.get(key)
    consecutive = int(col("alert_consecutive")[i])
    alert = bool(results.code_alert_level[i, k])
    q = float(results.code_q[i, k])
    if finding is None:
        finding = Active(
            seg=s,
            kind=SPIKE,
            code=code,
            state=WATCH,
            test="bucket",
            window_start=int(t),
            window_end=int(t),
            started_at=int(t),
            events=["opened"],
        )
        state.active[key] = finding
        results.opened += 1
    elif not finding.events:
        finding.events.append("refreshed")
        results.updated += 1
    if t >= finding.window_end:
        run = finding.rejecting_in_a_row + 1 if finding.window_end == t or finding.attempts == 0 else 1
        finding.rejecting_in_a_row = run
        finding.attempts += int(rows.n[i])
        finding.approvals += int(rows.x[i])
        finding.expected_approvals += float(results.p0[i] * rows.n[i])
        finding.count += int(rows.codes[i, k])
        finding.expected_count += float(code_expected[i, k])
        finding.window_end = int(t + step)
        if finding.state == WATCH and alert and run >= consecutive:
            finding.state = ALERTED
            finding.alerted_at = int(t + step)
            finding.events.append("escalated")
    finding.p_value = float(results.code_p[i, k])
    finding.q_value = q
    finding.changed = True


def _spike_quiet(rows, results, state, col, i, finding: Active, k, t, step, code_expected) -> None:
    """A bucket in which an active spike's code does not reject: recovered once the code's share
    has stayed within the band for `recovery_buckets` buckets after the window."""
    if t < finding.window_end:
        return
    n = rows.n[i]
    share = rows.codes[i, k] / n if n else 0.0
    share0 = code_expected[i, k] / n if n else 0.0
    finding.rejecting_in_a_row = 0
    finding.changed = True
    if share > share0 + col("recovery_within")[i]:
        # Still raised without rejecting: the bucket joins the window and the quiet count restarts.
        finding.attempts += int(n)
        finding.approvals += int(rows.x[i])
        finding.expected_approvals += float(results.p0[i] * n)
        finding.count += int(rows.codes[i, k])
        finding.expected_count += float(code_expected[i, k])
        finding.window_end = int(t + step)
        return
    if (t + step - finding.window_end) // step >= col("recovery_buckets")[i]:
        finding.state = RECOVERED
        finding.recovered_at = int(t + step)
        finding.events.append("recovered")
        del state.active[(finding.seg, finding.kind, finding.code)]
        state.closed.append(finding)
        results.recovered += 1
