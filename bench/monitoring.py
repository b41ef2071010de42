"""Detector figures: one detection run's time and peak memory, on the pure core and through the
database.

    python bench/monitoring.py [--segments 10000 100000] [--db-merchants 6] [--no-db]

1. **The core** (`monitoring.detection.core.evaluate`) on synthetic arrays: each of N segments
   has one new bucket and the three earlier buckets of its hour, with the sums of its 4 weeks ×
   5 baseline slots (what the runner's SQL hands it) and 9 decline codes; segment sizes are
   log-normal (a few to several thousand attempts a bucket), a few of them dropping. Time and
   peak traced memory of one run, for each N.
2. **The database path** (`monitoring.detection.runner.detection_run`): `--db-merchants`
   generated merchants on the Mexican mix (19 segments each) with 5 weeks of 15-minute buckets
   (`acct_BENCHDETECT…`, loaded day by day through `buckets_upsert` the first time), then the
   next bucket is posted and one run timed, with its query count; then the nightly
   `dispersion_estimate`. The buckets stay in the database. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from monitoring.detection import core  # noqa: E402
from monitoring.detection.config import DetectorConfig  # noqa: E402
from monitoring.models import DETECTOR_DEFAULTS  # noqa: E402

STEP = 900
CODES = 9


def synthetic_run(segments: int, seed: int = 1) -> tuple[core.Rows, core.Segments, core.State]:
    """One run's arrays: every segment's new bucket plus the three earlier buckets of its hour."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(mean=5.0, sigma=1.5, size=segments).clip(2, 20_000).astype(np.int64)
    rate = rng.uniform(0.75, 0.95, size=segments)
    per_hour = 4
    t_end = 1_780_000_000 // 3600 * 3600 + 3600 - STEP  # the last bucket of an hour
    seg = np.tile(np.arange(segments), per_hour)
    t = np.repeat(t_end - STEP * np.arange(per_hour)[::-1], segments).astype(np.int64)
    rows_n = rng.poisson(size[seg]).astype(np.int64)
    drop = np.where((seg % 500 == 0) & (t == t_end), 0.05, 0.0)  # one segment in 500 drops 5 pp
    rows_x = rng.binomial(rows_n, rate[seg] - drop)
    base_n = rng.poisson(np.repeat(size[seg][:, None] * 4, 5, axis=1)).astype(float)
    base_x = rng.binomial(base_n.astype(np.int64), rate[seg][:, None]).astype(float)
    shares = rng.dirichlet(np.ones(CODES), size=segments)
    declines = rows_n - rows_x
    codes = np.array([rng.multinomial(d, shares[s]) for d, s in zip(declines, seg, strict=True)])
    base_codes = shares[seg] * (base_n.sum(axis=1) - base_x.sum(axis=1))[:, None]
    rows = core.Rows(
        seg=seg,
        t=t,
        tested=t == t_end,
        skip=np.zeros(len(seg), bool),
        n=rows_n,
        x=rows_x,
        base_n=base_n,
        base_x=base_x,
        codes=codes,
        base_codes=base_codes,
        code_names=[f"{k:02d}" for k in range(CODES)],
    )
    params = np.tile(np.array(core.parameters_from_config(DetectorConfig(**DETECTOR_DEFAULTS))), (segments, 1))
    return rows, core.Segments(np.full(segments, 1e-4), params), core.State.empty(segments)


def bench_core(segments: int) -> None:
    rows, segs, state = synthetic_run(segments)
    tracemalloc.start()
    started = time.perf_counter()
    results = core.evaluate(rows, segs, state, step=STEP)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"core, {segments:>7,} segments ({len(rows):,} rows, {results.tests:,} tests): "
        f"{seconds:6.2f} s, peak {peak / 1e6:,.0f} MB traced; {results.rejected} rejected, "
        f"{results.opened} findings opened"
    )


def bench_db(merchants: int) -> None:
    from django.utils import timezone

    from cases.models import Merchant
    from monitoring import generator as gen
    from monitoring.detection.runner import detection_run, dispersion_estimate
    from monitoring.models import AuthBucket, DetectorRun
    from monitoring.services import buckets_upsert
    from partners.models import Partner

    for code, kind in (
        ("bbva-mx", Partner.Kind.ISSUER),
        ("banorte", Partner.Kind.ISSUER),
        ("prosa", Partner.Kind.SWITCH),
    ):
        Partner.objects.get_or_create(
            code=code, defaults={"name": code, "kind": kind, "country": "MX", "language": "es"}
        )
    accounts = [f"acct_BENCHDETECT{m:04d}" for m in range(merchants)]
    for account in accounts:
        Merchant.objects.get_or_create(account_id=account, defaults={"name": account, "country": "MX", "mcc": "5411"})
    profiles = [gen.profile(a, 3000, issuers=["bbva-mx", "banorte"], routes=["prosa"]) for a in accounts]
    now = timezone.now()
    end = now - timedelta(seconds=now.timestamp() % STEP) - timedelta(minutes=15)  # the last finished bucket
    start = end - timedelta(weeks=5)
    present = AuthBucket.objects.filter(segment__merchant__account_id__in=accounts, bucket_start__gte=start).count()
    segments = len(profiles) * (len(gen.MX_SLICES) + 1)
    expected = segments * int((end - start).total_seconds() // STEP)
    if present < expected:
        started = time.perf_counter()
        day = start
        while day < end:
            until = min(day + timedelta(days=1), end)
            buckets_upsert(gen.generate(profiles, start=day, end=until, holidays=None), source="bench", now=until)
            day = until
        print(f"loaded {expected:,} buckets of {segments} segments (5 weeks) in {time.perf_counter() - started:.0f} s")
    # The watermark just before the last bucket, so the run reads that bucket only.
    DetectorRun.objects.create(
        started_at=end,
        finished_at=end,
        watermark=AuthBucket.objects.order_by("-updated_at").values_list("updated_at", flat=True).first(),
    )
    started = time.perf_counter()
    dispersion_estimate(now=end)
    print(f"dispersion_estimate: {segments} segments, {time.perf_counter() - started:.2f} s")
    buckets_upsert(gen.generate(profiles, start=end, end=end + timedelta(minutes=15), holidays=None), source="bench")
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        run = detection_run()
        seconds = time.perf_counter() - started
    print(
        f"detection_run: {run.segments} segments, {run.buckets} buckets tested, {run.tests} tests, "
        f"{seconds:.2f} s, {len(queries)} queries; findings {run.findings_opened} opened"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--db-merchants", type=int, default=6)
    parser.add_argument("--no-db", action="store_true")
    args = parser.parse_args()
    for segments in args.segments:
        bench_core(segments)
    if not args.no_db:
        bench_db(args.db_merchants)
    print(f"peak resident memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
