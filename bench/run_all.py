"""Every benchmark at one size, on a dataset built once and restored afterwards, in one table.

    export DATABASE_URL=postgresql://…/payhealth CELERY_BROKER_URL=redis://127.0.0.1:6379/0
    .venv/bin/python bench/run_all.py [--incidents 1000000] [--requests 20] [--rebuild | --as-is]

The benchmarks run on a database of their own, the one `DATABASE_URL` names with `_bench`
appended (or `--database-url`), which this script drops and creates again on every run but
`--as-is`: the measurements write rows (alerts open incidents, notices are sent), so each run
starts from the same dataset. The dataset is `seed_demo` (the demo desk, its payment data and
billing) plus bulk incidents up to `--incidents` in all, then `VACUUM ANALYZE`. It is built once
per size and migration state and kept as a `pg_dump -Fc` file under `var/bench/`; later runs
restore it (`pg_restore -j 2`, then `VACUUM ANALYZE`) instead of seeding again; `--as-is` measures the
benchmark database as the last run left it (a few thousand rows more, the pending overview deltas
and SLA rollup days folded first, as beat would), without the restore's minutes. Either way a
`CHECKPOINT` comes before the measurements, so the build's or restore's dirty pages are written
before any figure is taken rather than by the checkpointer meanwhile.

The measurements are those of the other scripts here, through their own functions: the queue
pages and the incident page (`queue.py`), the overview, the SLA report uncached and cached and the
breaches CSV (`sla.py`), the API list in process and alert intake over HTTP against gunicorn with
concurrent clients, one alert a request and in batches of `--batch` (`api.py`), and partner
notices end to end through Celery workers into the SMTP sink (`notices.py`). One table follows:
median, p95, query count, the target, whether it is met, the figure measured on 500,000
incidents before the performance work, and the ratio to it (above 1 is better: reference ÷ ours
for times, ours ÷ reference for rates). Then the peak resident memory (VmHWM) of this process,
of the gunicorn workers and of the Celery worker processes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder comes first on the path, where bench/queue.py would shadow the
# standard library's `queue`: put the project root there instead.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

DEFAULT_INCIDENTS = 1_000_000
CURATED = 200  # the demo desk's own incidents (`seed_demo`)
DUMPS = ROOT / "var" / "bench"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS, help="incidents in all (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--alerts", type=int, default=400, help="alerts per intake run (default 400)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent alert clients (default 8)")
    parser.add_argument("--batch", type=int, default=25, help="alerts per request of the batch runs (default 25)")
    parser.add_argument("--gunicorn-workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--notice-workers", type=int, default=2, help="Celery workers for notices (default 2)")
    parser.add_argument("--rebuild", action="store_true", help="seed again even if a dump of this size exists")
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="measure the benchmark database as it is, neither seeded nor restored (to measure again after a run)",
    )
    parser.add_argument("--database-url", help="the benchmark database (default: DATABASE_URL's name + _bench)")
    parsed = parser.parse_args()
    if parsed.incidents < CURATED:
        parser.error(f"--incidents must be at least {CURATED} (the demo desk's own)")
    if not parsed.database_url:
        source = os.environ.get("DATABASE_URL")
        if not source:
            parser.error("set DATABASE_URL (the server to use) or --database-url")
        parts = urlsplit(source)
        parsed.database_url = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_bench"))
    return parsed


# --- the dataset: seeded once, restored afterwards -------------------------------------------------


def migration_state() -> str:
    """A short digest of every migration on disk: a dump is only restored into the same schema."""
    from django.db.migrations.loader import MigrationLoader

    names = sorted(f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run(argv: list[str], env: dict) -> None:
    print("  $", " ".join(argv), flush=True)
    subprocess.run(argv, cwd=ROOT, env=env, check=True)


def vacuum_analyze(url: str) -> None:
    """Fresh statistics and visibility maps, then a checkpoint: the pages the build, the restore
    and the vacuum dirtied are written now, not by the checkpointer while the pages are measured
    (it spreads them over minutes, and every measurement then waits on the disk)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as database:
        database.execute("VACUUM ANALYZE")
        try:
            database.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # a superuser's or pg_checkpoint's right
            print("  (no right to CHECKPOINT: the first measurements may wait on the build's writes)", flush=True)


def prepare_dataset(settings: argparse.Namespace) -> None:
    """Restore the dump of this size and schema, or build the dataset and dump it."""
    url = settings.database_url
    env = {**os.environ, "DATABASE_URL": url}
    dump = DUMPS / f"payhealth-{settings.incidents}-{migration_state()}.dump"
    started = time.monotonic()
    recreate_database(url)
    if dump.exists() and not settings.rebuild:
        print(f"Restoring {dump.name}…", flush=True)
        run(["pg_restore", "--jobs", "2", "--no-owner", "--dbname", url, str(dump)], env)
        vacuum_analyze(url)
        print(f"Restored in {time.monotonic() - started:.0f} s.", flush=True)
        return
    print(f"Building {settings.incidents:,} incidents (then dumped to {dump.relative_to(ROOT)})…", flush=True)
    python = [sys.executable, "manage.py"]
    run([*python, "migrate", "--noinput", "-v", "0"], env)
    run([*python, "seed_demo"], env)
    if settings.incidents > CURATED:
        run([*python, "seed_demo", "--incidents", str(settings.incidents - CURATED)], env)
    from cases.overview import overview_counters_fold

    overview_counters_fold(wait=True)  # what beat does every minute on a running desk
    vacuum_analyze(url)
    DUMPS.mkdir(parents=True, exist_ok=True)
    partial = dump.with_suffix(".partial")
    run(["pg_dump", "--format", "custom", "--no-owner", "--file", str(partial), "--dbname", url], env)
    partial.replace(dump)
    print(f"Built and dumped in {time.monotonic() - started:.0f} s.", flush=True)


# --- peak memory of the processes this run starts ---------------------------------------------------


def _status_kib(pid: int | str, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class PeakMemory:
    """The high-water mark of resident memory (VmHWM) of this process's descendants, by kind.

    Sampled a few times a second while the benchmarks run: VmHWM only grows, so the last sample
    before a process exits is its peak. gunicorn's master is left out (it only forks the workers).
    """

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.25):
            parents = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    except (OSError, IndexError, ValueError):
                        continue
            for pid in parents:
                chain, ancestor = [], parents.get(pid)
                while ancestor not in (None, 0, 1, me):
                    chain.append(ancestor)
                    ancestor = parents.get(ancestor)
                if ancestor != me:
                    continue
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if "gunicorn" in command and chain:  # a worker: its parent is the master
                    self._record("gunicorn worker", pid)
                elif "celery" in command:
                    self._record("Celery worker (any process of it)", pid)

    def _record(self, kind: str, pid: int) -> None:
        self.peaks[kind] = max(self.peaks.get(kind, 0), _status_kib(pid, "VmHWM"))


# --- the table --------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    median: float
    p95: float | None = None
    queries: int | None = None
    target: str = ""
    met: bool | None = None
    reference: float | None = None
    reference_text: str = ""
    rate: bool = False  # a throughput (higher is better), not a time

    @property
    def ratio(self) -> str:
        if not self.reference or not self.median:
            return ""
        value = self.median / self.reference if self.rate else self.reference / self.median
        return f"{value:.1f}×"


def page_row(label: str, result: dict, *, p95_ms: float, reference: float | None = None, max_queries=None) -> Row:
    met = result["p95"] <= p95_ms and (max_queries is None or result["queries"] <= max_queries)
    target = f"p95 ≤ {p95_ms:g} ms" + (f", ≤ {max_queries} q" if max_queries else "")
    return Row(label, result["median"], result["p95"], result["queries"], target, met, reference, _ms(reference))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f} ms"


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'measurement':<40}{'median':>11}{'p95':>11}{'queries':>9}  "
        f"{'target':<22}{'met':<5}{'at 500k':>12}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        unit = "/s" if row.rate else " ms"
        median = f"{row.median:,.1f}{unit}"
        p95 = "" if row.p95 is None else f"{row.p95:,.1f} ms"
        queries = "" if row.queries is None else str(row.queries)
        met = "" if row.met is None else ("yes" if row.met else "NO")
        print(
            f"{row.label:<40}{median:>11}{p95:>11}{queries:>9}  {row.target:<22}{met:<5}"
            f"{row.reference_text:>12}{row.ratio:>8}"
        )


# --- the measurements -------------------------------------------------------------------------------

QUEUE_REFERENCES = {  # label in bench/queue.py → (row label, median ms at 500,000 incidents)
    "queue, first page": ("queue, first page", 39),
    "queue, filtered": ("queue, filtered", 49),
    "queue, page 500": ("queue, deep page (500)", 75),
    "queue, search (many matches)": ("search, many matches", 46),
    "queue, search (few matches)": ("search, few matches", 752),
    "overview": ("overview", 243),
}


def measure_pages(settings) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench import queue
    from bench.figures import measure

    rows = []
    analyst = get_user_model().objects.get(username="analyst")
    client = Client(HTTP_HOST="localhost")
    client.force_login(analyst)
    for label, url in queue.queue_pages(analyst):
        if "htmx" in label:
            client.defaults["HTTP_HX_REQUEST"] = "true"
        result = measure(client, url, settings.requests)
        client.defaults.pop("HTTP_HX_REQUEST", None)
        if label.startswith("incident page ("):
            name = "incident page (20 merchants, 200 ev.)" if "merchants" in label else label
            reference = 40 if "merchants" in label else None  # the peer figure: that page only
            rows.append(page_row(name, result, p95_ms=20, reference=reference, max_queries=10))
        elif label.startswith("incident page"):
            rows.append(page_row(label, result, p95_ms=20, reference=None, max_queries=10))
        else:
            name, reference = QUEUE_REFERENCES.get(label, (label, None))
            rows.append(page_row(name, result, p95_ms=30, reference=reference))
    return rows


def measure_sla(settings) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from bench import sla

    lead = get_user_model().objects.get(username="lead")
    client = Client(HTTP_HOST="localhost")
    client.force_login(lead)
    end = sla.desk_today()
    start = end - timedelta(days=364)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    cold = sla.bench_figures(lead, start, end)
    cached = sla.bench_page(client, f"{reverse('cases:sla_report')}?{query}", settings.requests)
    csv = sla.bench_csv(client, f"{reverse('cases:sla_report_csv', args=['breaches'])}?{query}")
    return [
        Row(
            "SLA report, a year, uncached (3 runs)",
            statistics.median(cold),
            max(cold),
            None,
            "≤ 300 ms",
            max(cold) <= 300,
            11_800,
            _ms(11_800),
        ),
        page_row("SLA report, a year, page", cached, p95_ms=300, reference=709),
        Row(
            f"breaches CSV, a year ({csv['rows']:,} rows)",
            csv["ms"],
            None,
            None,
            "≤ 2,000 ms",
            csv["ms"] <= 2000,
            23_000,
            _ms(23_000),
        ),
    ]


def measure_api(settings) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import api_token_create, api_token_revoke
    from bench import api
    from partners.models import Partner

    rows = []
    user = get_user_model().objects.get(username="analyst")
    token, plain = api_token_create(user=user, name=f"bench/run_all.py {uuid.uuid4().hex[:8]}")
    try:
        codes = set(Partner.objects.values_list("code", flat=True))
        partner = "prosa" if "prosa" in codes else min(codes, default="")
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {plain}")
        results = api.in_process(plain, settings.requests, api.list_urls(partner, client))
        for label, result in results.items():
            reference = 16 if label.startswith("list, first page") else None
            rows.append(page_row(f"API {label}", result, p95_ms=30, reference=reference))
        segments = api.Segments()
        process, port = api.start_gunicorn(settings.gunicorn_workers, timeout=300)  # a busy machine is slow to boot
        try:
            for _ in range(5 * settings.gunicorn_workers):  # every worker imports and connects first
                api.request(port, "GET", api.INCIDENTS, plain)
            new = api.concurrent(
                port, plain, "new segments", settings.clients, settings.alerts, lambda n: segments.payload(index=n)
            )
            for index in range(8):  # open the repeated segments' incidents first
                api.request(port, "POST", api.ALERTS, plain, segments.repeated(index))
            repeats = api.concurrent(port, plain, "repeats", settings.clients, settings.alerts, segments.repeated)
            size = settings.batch
            batched = {}
            for name, make_alert in (("new", lambda n: segments.payload(index=n)), ("dedup", segments.repeated)):
                result = api.concurrent(
                    port,
                    plain,
                    f"{name}, batches of {size}",
                    settings.clients,
                    max(settings.alerts // size, 1),
                    lambda n, make=make_alert: {
                        "alerts": [
                            {"idempotency_key": uuid.uuid4().hex, "alert": make(n * size + k)} for k in range(size)
                        ]
                    },
                    path=api.ALERTS_BATCH,
                )
                batched[name] = {**result, "per_second": result["per_second"] * size}  # alerts, not requests
        finally:
            api.stop(process)
    finally:
        api_token_revoke(token=token, actor=user)
    for label, result, reference in (
        (f"alert intake, new ({settings.clients} clients)", new, 37),
        (f"alert intake, dedup ({settings.clients} clients)", repeats, 104),
        (f"alert intake, new, batches of {settings.batch}", batched["new"], 37),
        (f"alert intake, dedup, batches of {settings.batch}", batched["dedup"], 104),
    ):
        rows.append(
            Row(
                label,
                result["per_second"],
                result["p95"],
                None,
                "≥ 500/s",
                result["per_second"] >= 500,
                reference,
                f"{reference}/s (100k)",
                rate=True,
            )
        )
    return rows


def measure_notices(settings) -> list[Row]:
    from bench import notices
    from cases.models import Incident

    # A notice needs the partner-facing texts in its language; notices.py's incidents were made
    # before that rule and have none: give them theirs (a no-op once notices.py writes them).
    incidents, _ = notices.bench_desk()
    for incident in Incident.objects.filter(pk__in=[incident.pk for incident in incidents], partner_title_es=""):
        Incident.objects.filter(pk=incident.pk).update(
            partner_title_es=f"Benchmark: caída de aprobación ({incident.reference})",
            partner_title_en=f"Benchmark: approval rate drop ({incident.reference})",
            partner_summary_es="Rechazos 05 y 91 en tarjetas Visa y Mastercard.",
            partner_summary_en="Declines 05 and 91 on Visa and Mastercard cards.",
        )
    result = notices.run(argparse.Namespace(workers=settings.notice_workers, concurrency=4, pool="prefork", rate=0))
    return [
        Row(
            f"notice delivery ({result['delivered']:,}, {settings.notice_workers} workers)",
            result["per_second"],
            result["p95_ms"],
            None,
            "≥ 300/s",
            result["per_second"] >= 300,
            161,
            "150–172/s",
            rate=True,
        )
    ]


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # in order with the subprocesses' output, never copied by a fork
    settings = options()
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
    os.environ.setdefault("DEBUG", "false")
    # Measured, not throttled: the per-token budget would otherwise answer 429 within a second.
    os.environ.setdefault("PAYHEALTH_API_THROTTLE_TOKEN", "10000000/min")

    import django

    django.setup()
    if settings.as_is:
        from cases.overview import overview_counters_fold
        from cases.sla.rollups import sla_rollup_fold

        # What beat does every minute on a running desk: the last run's alerts and notices left
        # overview deltas and SLA rollup days pending, which the first page or report would fold.
        overview_counters_fold(wait=True)
        sla_rollup_fold()
        vacuum_analyze(settings.database_url)
    else:
        prepare_dataset(settings)

    from cases.models import Incident

    total = Incident.objects.count()
    print(f"\n{total:,} incidents in {urlsplit(settings.database_url).path.lstrip('/')}; measuring…\n", flush=True)
    rows = []
    with PeakMemory() as memory:
        for measurement in (measure_pages, measure_sla, measure_api, measure_notices):
            try:
                rows += measurement(settings)
            except (Exception, SystemExit) as error:  # one failed part must not lose the others' figures
                print(f"{measurement.__name__} failed: {error}", flush=True)
                rows.append(Row(f"{measurement.__name__}: FAILED (see above)", 0, target="", met=False))
    print(f"\n{total:,} incidents; {settings.requests} requests per page; {os.cpu_count()} CPUs\n")
    print_table(rows)
    print("\nPeak resident memory (VmHWM):")
    print(f"  {'this process (in-process pages)':<36}{_status_kib('self', 'VmHWM') / 1024:>8.0f} MiB")
    for kind, kib in sorted(memory.peaks.items()):
        print(f"  {kind:<36}{kib / 1024:>8.0f} MiB")


if __name__ == "__main__":
    main()
