"""SLA figures on a benchmark desk: one sweep over every open clock, the SLA report page for a year,
and the CSV export of a year of breaches. Printed, never asserted.

    export DATABASE_URL=postgresql://…/payhealth
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_demo                     # users, partners, the demo desk
    .venv/bin/python manage.py seed_demo --incidents 100000  # a few minutes; the seed writes SLA clocks too
    .venv/bin/python bench/sla.py [--requests 20] [--user lead] [--seed]

With `--seed` the script runs those two seeds itself when the desk has fewer than 100,000
incidents (adding only the missing ones); without it, it says how and stops.

- Sweep: `sla_sweep()` once, timed, inside a transaction that is then rolled back, so the desk is
  unchanged, every run measures the same work and no notification is queued (they are queued on
  commit). It prints how many running clocks there were and how many warnings and breaches it
  fired. Target: under 1 s.
- Rollups: `rebuild_sla_rollups` of the year, timed (what an upgrade or a zone change costs), and
  the fold of one pending day (what beat does each minute after a change on that day).
- Report figures uncached, for the year: read from the rollups (what the page does) and, for
  comparison, from the clocks (what it did before the rollups, and still does with a partner
  filter); median of 3 runs each.
- Report page: the last 365 days (the desk's days) through `django.test.Client`, logged in as
  the demo lead, 3 warm-up requests then `--requests` timed ones: median and p95 of the server
  time, and the query count. Target: p95 under 300 ms. The page caches its aggregates for five
  minutes under a fingerprint of the data (cases/sla/reports/selectors.py), so the timed requests are
  the cached page plus the live breach page; the aggregates' own uncached time is printed
  before it (what the first lead after a change waits).
- Breach page: the first and the 20th page of the year's breach list, uncached.
- CSV: the year's breach list (and the attainment and scorecard tables) streamed to the last
  byte, `--csv-runs` times: median time to the last byte and to the first chunk, rows, bytes,
  the query count, and the CPU time of this process and of its PostgreSQL backend. Target for
  the breach list: under 2 s, one query. `--csv-only` skips the sweep and the page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on the path, where bench/queue.py would shadow the
# standard library's `queue`: put the project root there instead.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.figures import measure  # noqa: E402
from cases.models import Incident, SlaClock  # noqa: E402
from cases.sla.reports.filters import desk_today  # noqa: E402

INCIDENTS = 100_000
SWEEP_TARGET_S = 1.0
PAGE_TARGET_MS = 300
CSV_TARGET_S = 2.0


def ensure_desk(seed: bool, wanted: int = INCIDENTS) -> int:
    total = Incident.objects.count()
    if total >= wanted:
        return total
    missing = wanted - total
    if not seed:
        raise SystemExit(
            f"The desk has {total:,} incidents; the benchmark wants {wanted:,} (--incidents). Run\n"
            f"    python manage.py seed_demo && python manage.py seed_demo --incidents {missing}\n"
            "or run this script with --seed."
        )
    print(f"Seeding {missing:,} incidents (a few minutes)…", flush=True)
    if not get_user_model().objects.filter(username="lead").exists():
        call_command("seed_demo")
        missing = max(wanted - Incident.objects.count(), 0)
    if missing:
        call_command("seed_demo", incidents=missing)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # fresh statistics and visibility map after the bulk load
    return Incident.objects.count()


def bench_sweep() -> None:
    from cases.sla.sweep import sla_sweep

    running = SlaClock.objects.filter(state=SlaClock.State.RUNNING).count()
    with transaction.atomic():
        started = time.perf_counter()
        result = sla_sweep()
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    verdict = "ok" if elapsed < SWEEP_TARGET_S else "SLOW"
    print(
        f"sla_sweep(): {elapsed * 1000:.0f} ms over {running:,} running clocks; "
        f"{result.warned:,} warnings, {result.breached:,} breaches fired (rolled back); "
        f"target < {SWEEP_TARGET_S:.0f} s: {verdict}"
    )


def bench_rollups(start, end) -> None:
    from cases.sla.rollups import sla_rollup_fold, sla_rollup_mark, sla_rollup_rebuild

    started = time.perf_counter()
    rows = sla_rollup_rebuild(first=start, last=end)
    elapsed = time.perf_counter() - started
    print(f"rebuild_sla_rollups, one year: {elapsed * 1000:.0f} ms, {rows:,} rollup rows")
    clock = SlaClock.objects.filter(started_at__date__gte=end - timedelta(days=30)).order_by("-pk").first()
    if clock is not None:
        with transaction.atomic():
            sla_rollup_mark(incident_ids=[clock.incident_id])
        started = time.perf_counter()
        days = sla_rollup_fold()
        elapsed = time.perf_counter() - started
        print(f"fold of {days} pending day(s) (one incident's clocks changed): {elapsed * 1000:.0f} ms")


def _timed_figures(user, filters, runs: int = 3) -> list[float]:
    from cases.sla.views.reports import _report_figures

    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        _report_figures(user=user, filters=filters)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_figures(user, start, end) -> list[float]:
    """The page's aggregates computed without the cache, from the rollups and from the clocks."""
    from cases.sla.reports import ReportFilter, selectors

    filters = ReportFilter(start=start, end=end)
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")  # the recommended setting (docs/performance.md)
    rollup_samples = _timed_figures(user, filters)
    rollups = statistics.median(rollup_samples)
    saved = {
        name: getattr(selectors, name)
        for name in (
            "_attainment_from_rollups",
            "_attainment_groups_from_rollups",
            "_time_to_from_rollups",
            "_scorecard_from_rollups",
        )
    }
    severities = ["", *selectors.Severity.values]
    selectors._attainment_from_rollups = selectors._attainment_from_clocks
    selectors._attainment_groups_from_rollups = lambda f, dimensions: {
        dimension: selectors._attainment_from_clocks(f, dimension) for dimension in dimensions
    }
    selectors._time_to_from_rollups = lambda f: selectors._time_to_from_clocks(f, severities)
    selectors._scorecard_from_rollups = selectors._scorecard_from_clocks
    try:
        clocks = statistics.median(_timed_figures(user, filters))
    finally:
        for name, value in saved.items():
            setattr(selectors, name, value)
    verdict = "ok" if rollups < PAGE_TARGET_MS else "SLOW"
    print(
        f"SLA report figures, one year, uncached: from the rollups median {rollups:.0f} ms "
        f"(target < {PAGE_TARGET_MS} ms: {verdict}); from the clocks {clocks:.0f} ms (3 runs each)"
    )
    return rollup_samples


def bench_breach_pages(user, start, end) -> None:
    from cases.sla.reports import ReportFilter, sla_breaches

    filters = ReportFilter(start=start, end=end)
    for page in (1, 20):
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            result = sla_breaches(user=user, filters=filters, page=page)
            samples.append((time.perf_counter() - started) * 1000)
        print(
            f"Breach list page {page} of {result.page.paginator.num_pages:,} ({result.total:,} breaches): "
            f"median {statistics.median(samples):.1f} ms (5 runs)"
        )


def bench_page(client: Client, url: str, requests: int) -> dict:
    result = measure(client, url, requests)
    p95 = result["p95"]
    verdict = "ok" if p95 < PAGE_TARGET_MS else "SLOW"
    print(
        f"SLA report page, one year: median {result['median']:.0f} ms, p95 {p95:.0f} ms, "
        f"max {result['max']:.0f} ms, {result['queries']} queries ({requests} requests); "
        f"target p95 < {PAGE_TARGET_MS} ms: {verdict}"
    )
    print(f"    {url}")
    return result


def _backend_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) of the PostgreSQL backend `pid`, when it runs on this machine."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_csv(client: Client, url: str, label: str = "Breaches", runs: int = 3) -> dict:
    """One CSV streamed to its last byte, `runs` times: time to the first and to the last byte,
    rows, size, the queries it ran (the session and permission lookups included), and the CPU
    time of this process (the server's Python) and of the PostgreSQL backend serving it (read
    from /proc when the database runs on this machine), medians."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    first_ms, last_ms, python_cpu, backend_cpu = [], [], [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu, started_backend = time.perf_counter(), time.process_time(), _backend_cpu_s(backend)
            response = client.get(url)
            size = lines = 0
            first = None
            for chunk in response.streaming_content:
                if first is None:
                    first = time.perf_counter()
                size += len(chunk)
                lines += chunk.count(b"\n")
            ended = time.perf_counter()
            python_cpu.append(time.process_time() - started_cpu)
            if started_backend is not None:
                backend_cpu.append(_backend_cpu_s(backend) - started_backend)
        first_ms.append(((first or ended) - started) * 1000)
        last_ms.append((ended - started) * 1000)
    verdict = "ok" if statistics.median(last_ms) < CSV_TARGET_S * 1000 else "SLOW"
    cpu = f"CPU: Python {statistics.median(python_cpu):.2f} s"
    if backend_cpu:
        cpu += f", PostgreSQL {statistics.median(backend_cpu):.2f} s"
    print(
        f"{label} CSV, one year: last byte median {statistics.median(last_ms):.0f} ms "
        f"(min {min(last_ms):.0f}, max {max(last_ms):.0f}; {runs} runs), first chunk "
        f"{statistics.median(first_ms):.0f} ms, {lines - 1:,} rows, {size / 1024:,.0f} KiB, "
        f"{len(captured.captured_queries)} queries; {cpu}; target < {CSV_TARGET_S:.0f} s: {verdict}"
    )
    print(f"    {url}")
    return {"ms": statistics.median(last_ms), "rows": lines - 1, "queries": len(captured.captured_queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="timed requests of the report page (default 20)")
    parser.add_argument("--user", default="lead", help="username to log in as (default: the demo lead)")
    parser.add_argument("--seed", action="store_true", help=f"seed the desk up to {INCIDENTS:,} incidents if needed")
    parser.add_argument(
        "--incidents", type=int, default=INCIDENTS, help=f"incidents the desk should have (default {INCIDENTS:,})"
    )
    parser.add_argument("--csv-only", action="store_true", help="measure the CSV exports alone (no sweep, no page)")
    parser.add_argument("--csv-runs", type=int, default=3, help="runs of each CSV export (default 3)")
    options = parser.parse_args()

    total = ensure_desk(options.seed, options.incidents)
    user = get_user_model().objects.filter(username=options.user).first()
    if user is None:
        raise SystemExit(f"No user {options.user!r}: run `manage.py seed_demo` first.")
    if not user.has_perm("cases.view_sla_reports"):
        raise SystemExit(f"{options.user!r} may not see SLA reports: use a lead.")
    clocks = SlaClock.objects.count()
    print(f"{total:,} incidents, {clocks:,} SLA clocks")

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    end = desk_today()
    start = end - timedelta(days=364)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    if not options.csv_only:
        bench_sweep()
        bench_rollups(start, end)
        bench_figures(user, start, end)
        bench_breach_pages(user, start, end)
        bench_page(client, f"{reverse('cases:sla_report')}?{query}", options.requests)
    for table, label in (("breaches", "Breaches"), ("attainment", "Attainment"), ("scorecard", "Scorecard")):
        url = f"{reverse('cases:sla_report_csv', args=[table])}?{query}"
        bench_csv(client, url, label, runs=options.csv_runs)


if __name__ == "__main__":
    main()
