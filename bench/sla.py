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
- Report page: the last 365 days (the desk's days) through `django.test.Client`, logged in as
  the demo lead, 3 warm-up requests then `--requests` timed ones: median and p95 of the server
  time, and the query count. Target: p95 under 300 ms. The page caches its aggregates for five
  minutes under a fingerprint of the data (cases/sla/reports/selectors.py), so the timed requests are
  the cached page plus the live breach page; the aggregates' own uncached time is printed
  before it (what the first lead after a change waits).
- CSV: the year's breach list streamed to the end: time, rows and bytes.
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
from django.urls import reverse  # noqa: E402

from bench.figures import measure  # noqa: E402
from cases.models import Incident, SlaClock  # noqa: E402
from cases.sla.reports.filters import desk_today  # noqa: E402

INCIDENTS = 100_000
SWEEP_TARGET_S = 1.0
PAGE_TARGET_MS = 300


def ensure_desk(seed: bool) -> int:
    total = Incident.objects.count()
    if total >= INCIDENTS:
        return total
    missing = INCIDENTS - total
    if not seed:
        raise SystemExit(
            f"The desk has {total:,} incidents; the benchmark wants {INCIDENTS:,}. Run\n"
            f"    python manage.py seed_demo && python manage.py seed_demo --incidents {missing}\n"
            "or run this script with --seed."
        )
    print(f"Seeding {missing:,} incidents (a few minutes)…", flush=True)
    if not get_user_model().objects.filter(username="lead").exists():
        call_command("seed_demo")
        missing = max(INCIDENTS - Incident.objects.count(), 0)
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


def bench_figures(user, start, end) -> list[float]:
    """The page's aggregates computed without the cache: what the first lead after a change waits."""
    from cases.sla.reports import ReportFilter
    from cases.sla.views.reports import _report_figures

    filters = ReportFilter(start=start, end=end)
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        _report_figures(user=user, filters=filters)
        samples.append((time.perf_counter() - started) * 1000)
    print(f"SLA report figures, one year, uncached: median {statistics.median(samples):.0f} ms (3 runs)")
    return samples


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


def bench_csv(client: Client, url: str) -> dict:
    started = time.perf_counter()
    response = client.get(url)
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    print(f"Breaches CSV, one year: {elapsed * 1000:.0f} ms, {lines - 1:,} rows, {size / 1024:,.0f} KiB")
    print(f"    {url}")
    return {"ms": elapsed * 1000, "rows": lines - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="timed requests of the report page (default 20)")
    parser.add_argument("--user", default="lead", help="username to log in as (default: the demo lead)")
    parser.add_argument("--seed", action="store_true", help=f"seed the desk up to {INCIDENTS:,} incidents if needed")
    options = parser.parse_args()

    total = ensure_desk(options.seed)
    user = get_user_model().objects.filter(username=options.user).first()
    if user is None:
        raise SystemExit(f"No user {options.user!r}: run `manage.py seed_demo` first.")
    if not user.has_perm("cases.view_sla_reports"):
        raise SystemExit(f"{options.user!r} may not see SLA reports: use a lead.")
    clocks = SlaClock.objects.count()
    print(f"{total:,} incidents, {clocks:,} SLA clocks")

    bench_sweep()

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    end = desk_today()
    start = end - timedelta(days=364)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    bench_figures(user, start, end)
    bench_page(client, f"{reverse('cases:sla_report')}?{query}", options.requests)
    bench_csv(client, f"{reverse('cases:sla_report_csv', args=['breaches'])}?{query}")


if __name__ == "__main__":
    main()
