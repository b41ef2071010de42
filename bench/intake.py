"""Asynchronous alert intake: accepted/s over HTTP with concurrent clients, applied/s by the worker.

    python bench/intake.py [--alerts 2000] [--clients 8] [--workers 4] [--concurrency 1] [--batch 10]
                           [--user analyst]

Against a database with the demo desk (`manage.py seed_demo`, plus `--incidents N` for size):

1. Accepted: gunicorn (`--workers` sync workers, started here on a free loopback port) and
   `--clients` threads posting alerts as fast as they are answered (202), each with its own
   Idempotency-Key: `--alerts` alerts for new segments, then `--alerts` repeats of 8 segments;
   then the same two runs again in batches of `--batch` alerts a request (`POST
   /api/v1/alerts/batch/`, a key per alert; the figures are per alert). No worker runs
   meanwhile: the receipts stay pending (their task messages wait in the broker).
   In process before that: statements per alert, and a batch of 100 new alerts and one of 100
   repeats applied by `alert_receipts_apply`: CPU per alert, statements, applied/s; and how long
   an analyst's incident opening waits while 300 alerts for new segments are applied.
2. Applied: a Celery worker (`--concurrency` processes, started here on the default queue) takes
   the pending receipts in batches; the figure is receipts applied per second, from the worker
   being ready to none pending.
3. End to end: the same again with the worker running while the clients post: accepted/s, and
   how long after the last answer the last receipt was applied.

Alerts are for segments with BIN prefixes starting with 8 (bench/api.py uses 9), source
"bench/api.py"; the incidents they open stay in the database. Nothing is asserted. Run it
against a database and a broker of its own: a worker already consuming the default queue would
apply the receipts during step 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("PAYHEALTH_API_THROTTLE_TOKEN", "10000000/min")  # measured, not throttled

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from accounts.services import api_token_create, api_token_revoke  # noqa: E402
from alerts.models import AlertReceipt  # noqa: E402
from bench.api import Segments, post_all, request, start_gunicorn, stop  # noqa: E402
from bench.figures import percentile  # noqa: E402

ALERTS = "/api/v1/alerts/"
BATCH = "/api/v1/alerts/batch/"


class BenchSegments(Segments):
    def _bin(self) -> str:
        with self.lock:
            self.counter += 1
            return f"8{self.run:03d}{self.counter:04d}"[:8]

    def repeated(self, index: int) -> dict:
        slot = index % 8
        return self.payload(bin_prefix=f"8{self.run:03d}9{slot:03d}"[:8], index=slot)


def line(label: str, count: int, seconds: float, latencies: list[float], statuses: dict, cpu: float) -> None:
    answers = ", ".join(f"{n}×{status}" for status, n in sorted(statuses.items()))
    print(
        f"{label:<34}{count / seconds:>10.1f}{percentile(latencies, 0.5):>9.1f}"
        f"{percentile(latencies, 0.95):>9.1f}{cpu * 1000 / count:>13.2f}  {answers}"
    )


def server_cpu(master: int) -> float:
    """CPU seconds (user + system) spent so far by gunicorn's master and its live workers: the
    server's cost per request is the difference over a run divided by its requests, a figure that
    other load on the machine does not inflate the way it inflates wall time (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        pid, ppid = int(entry.name), int(fields[1])
        if master in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def timed_posts(port: int, plain: str, clients: int, total: int, make_body, master: int, path: str = ALERTS):
    """`post_all`, plus the server's CPU seconds over the run."""
    before = server_cpu(master)
    seconds, latencies, statuses = post_all(port, plain, clients, total, make_body, path)
    return seconds, latencies, statuses, server_cpu(master) - before


def batches(size: int, make_alert):
    """A body maker for `POST /api/v1/alerts/batch/`: body i holds alerts i × size … i × size + size − 1,
    each with a key of its own."""

    def make_body(index: int) -> dict:
        alerts = range(index * size, index * size + size)
        return {"alerts": [{"idempotency_key": uuid.uuid4().hex, "alert": make_alert(n)} for n in alerts]}

    return make_body


def pending(since_id: int) -> int:
    return AlertReceipt.objects.filter(pk__gt=since_id, state=AlertReceipt.State.PENDING).count()


def start_worker(concurrency: int) -> tuple[subprocess.Popen, Path]:
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-intake-worker-{uuid.uuid4().hex[:8]}.log"  # noqa: S108
    argv = [sys.executable, "-m", "celery", "-A", "payhealth", "worker", "-l", "info", "-Q", "default"]
    argv += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    return process, log


def wait_applied(since_id: int, timeout: float = 600) -> float:
    started = time.perf_counter()
    while pending(since_id):
        if time.perf_counter() - started > timeout:
            raise SystemExit("receipts still pending after the timeout")
        time.sleep(0.05)
    return time.perf_counter()


def statements_per_alert(plain_user, plain: str, segments: BenchSegments, count: int = 40) -> None:
    """In process: SQL statements per alert, applied in the request (`?wait=true`) and in a batch,
    and per 202 request as the API runs it (token, permissions, the service)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from alerts.services import alert_accept, alert_ingest, alert_receipts_apply

    print(f"In process: SQL statements per alert ({count} alerts each, half new segments, half repeats)")
    print(f"{'path':<34}{'statements':>10}{'savepoints':>11}{'ms/alert':>9}")
    bodies = [segments.payload(index=i) if i % 2 else segments.repeated(i) for i in range(count)]
    with CaptureQueriesContext(connection) as sync:
        started = time.perf_counter()
        for body in bodies:
            alert_ingest(actor=plain_user, payload=body, idempotency_key=str(uuid.uuid4()))
        sync_ms = (time.perf_counter() - started) * 1000 / count
    bodies = [segments.payload(index=i) if i % 2 else segments.repeated(i) for i in range(count)]
    with CaptureQueriesContext(connection) as accept:
        started = time.perf_counter()
        for body in bodies:
            alert_accept(actor=plain_user, payload=body, idempotency_key=str(uuid.uuid4()))
        accept_ms = (time.perf_counter() - started) * 1000 / count
    with CaptureQueriesContext(connection) as batch:
        started = time.perf_counter()
        applied = alert_receipts_apply(limit=count, budget=3600)  # the whole batch, however slow
        batch_ms = (time.perf_counter() - started) * 1000 / max(applied, 1)
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {plain}")
    bodies = [segments.payload(index=i) if i % 2 else segments.repeated(i) for i in range(count)]
    with CaptureQueriesContext(connection) as whole:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(ALERTS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
            assert response.status_code == 202, response.content  # noqa: S101
        whole_ms = (time.perf_counter() - started) * 1000 / count
    alert_receipts_apply(limit=count, budget=3600)
    for label, captured, ms in (
        ("?wait=true, in the request", sync, sync_ms),
        ("202: the service", accept, accept_ms),
        ("202: the request with its token", whole, whole_ms),
        (f"202: the worker, a batch of {applied}", batch, batch_ms),
    ):
        savepoints = sum(1 for q in captured.captured_queries if q["sql"].startswith("SAVEPOINT"))
        print(f"{label:<34}{len(captured) / count:>10.1f}{savepoints / count:>11.1f}{ms:>9.1f}")
    print()


def batch_cost(plain_user, segments: BenchSegments, count: int = 100) -> None:
    """In process, one batch of `count` alerts for new segments, then one of repeats of 8 open
    segments: CPU of this process per alert (PostgreSQL's own time is not in it), statements per
    alert and alerts applied per second, as one worker process applies them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from alerts.services import alert_accept, alert_receipts_apply

    for index in range(8):  # the 8 repeated segments' incidents are open before their batch
        alert_accept(actor=plain_user, payload=segments.repeated(index), idempotency_key=str(uuid.uuid4()))
    alert_receipts_apply(limit=count, budget=3600)
    print(f"In process: one batch of {count} alerts")
    print(f"{'batch':<34}{'accept CPU ms':>14}{'apply CPU ms':>13}{'statements':>11}{'applied/s':>10}")
    for label, make_body in (("new segments", lambda i: segments.payload(index=i)), ("repeats", segments.repeated)):
        bodies = [make_body(index) for index in range(count)]
        cpu = time.process_time()
        for body in bodies:
            alert_accept(actor=plain_user, payload=body, idempotency_key=str(uuid.uuid4()))
        accept_cpu, cpu, wall = time.process_time() - cpu, time.process_time(), time.perf_counter()
        connection.queries_log.clear()  # the log keeps 9,000 statements: a count across its end is wrong
        with CaptureQueriesContext(connection) as batch:
            applied = alert_receipts_apply(limit=count, budget=3600)
        apply_cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(
            f"{label:<34}{accept_cpu * 1000 / count:>14.2f}{apply_cpu * 1000 / applied:>13.2f}"
            f"{len(batch) / applied:>11.1f}{applied / wall:>10.1f}"
        )
    print()


def analyst_waits(plain_user, segments: BenchSegments, count: int = 300) -> None:
    """In process: while one thread applies `count` alerts for new segments as a worker does
    (`alert_receipts_drain`, batch after batch), an analyst opens an incident every 0.1 s on
    another connection: how long each opening waits (a batch holds the year's reference counter
    and today's SLA rollup mark until it commits)."""
    import threading

    from django.db import connection

    from alerts.services import alert_accept, alert_receipts_drain
    from cases.services import incident_open

    for index in range(count):
        alert_accept(actor=plain_user, payload=segments.payload(index=index), idempotency_key=str(uuid.uuid4()))
    drained: dict[str, float] = {}
    finished = threading.Event()

    def drain() -> None:
        try:
            started = time.perf_counter()
            drained["applied"] = alert_receipts_drain(budget=3600)
            drained["seconds"] = time.perf_counter() - started
        finally:
            connection.close()
            finished.set()

    thread = threading.Thread(target=drain)
    thread.start()
    waits = []
    while not finished.wait(0.1):
        started = time.perf_counter()
        incident_open(actor=plain_user, title="bench/intake.py: opened by hand", category="auth_rate", severity="sev3")
        waits.append((time.perf_counter() - started) * 1000)
    thread.join()
    print(f"In process: an analyst opening incidents while {count} alerts for new segments are applied")
    print(f"{'applied/s':>10}{'openings':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    waited = (
        f"{percentile(waits, 0.5):>9.0f}{percentile(waits, 0.95):>9.0f}{max(waits):>9.0f}"
        if waits
        else "  (all applied before the first opening)"
    )
    print(f"{drained['applied'] / drained['seconds']:>10.1f}{len(waits):>9}{waited}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=2000, help="alerts per run (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--concurrency", type=int, default=1, help="Celery worker processes (default 1)")
    parser.add_argument("--batch", type=int, default=10, help="alerts per request of the batch runs (default 10)")
    parser.add_argument("--user", default="analyst", help="whose token to use (default: the demo analyst)")
    options = parser.parse_args()

    user = get_user_model().objects.filter(username=options.user).first()
    if user is None:
        raise SystemExit(f"No user {options.user!r}: run `manage.py seed_demo` first.")
    token, plain = api_token_create(user=user, name=f"bench/intake.py {uuid.uuid4().hex[:8]}")
    segments = BenchSegments()
    first_id = AlertReceipt.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    if pending(0):
        raise SystemExit(f"{pending(0)} receipts are pending already: let a worker apply them first.")
    try:
        statements_per_alert(user, plain, segments)
        batch_cost(user, segments)
        analyst_waits(user, segments)
        first_id = AlertReceipt.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        process, port = start_gunicorn(options.workers, timeout=300)  # a busy machine starts slowly
        try:
            # Every worker imports, connects and compiles its queries first: a few of each request,
            # whose receipts the worker applies below with the others.
            for index in range(5 * options.workers):
                request(port, "GET", "/api/v1/alerts/rules/", plain)
                request(port, "POST", ALERTS, plain, segments.payload(index=index))
                request(port, "POST", BATCH, plain, batches(2, lambda n: segments.payload(index=n))(index))
            print(
                f"Accepted over HTTP: gunicorn {options.workers} sync workers, {options.clients} clients, "
                f"{options.alerts} alerts per run, no worker running"
            )
            print(f"{'run':<34}{'accepted/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'CPU ms/alert':>13}  answers")
            seconds, latencies, statuses, cpu = timed_posts(
                port, plain, options.clients, options.alerts, lambda i: segments.payload(index=i), process.pid
            )
            line("new segments", options.alerts, seconds, latencies, statuses, cpu)
            seconds, latencies, statuses, cpu = timed_posts(
                port, plain, options.clients, options.alerts, segments.repeated, process.pid
            )
            line("repeats of 8 segments", options.alerts, seconds, latencies, statuses, cpu)
            size = options.batch
            for label, make_alert in (
                (f"new segments, batches of {size}", lambda i: segments.payload(index=i)),
                (f"repeats, batches of {size}", segments.repeated),
            ):
                seconds, latencies, statuses, cpu = timed_posts(
                    port, plain, options.clients, options.alerts // size, batches(size, make_alert), process.pid, BATCH
                )
                line(label, options.alerts // size * size, seconds, latencies, statuses, cpu)

            waiting = pending(first_id)
            worker, log = start_worker(options.concurrency)
            ready, worker_cpu = time.perf_counter(), server_cpu(worker.pid)
            try:
                done = wait_applied(first_id)
                worker_cpu = server_cpu(worker.pid) - worker_cpu
                print(f"\nApplied by a worker ({options.concurrency} process(es)): {waiting} pending receipts")
                print(f"{'applied/s':>10}{'seconds':>9}{'CPU ms/alert':>13}")
                print(f"{waiting / (done - ready):>10.1f}{done - ready:>9.1f}{worker_cpu * 1000 / waiting:>13.1f}")

                print(f"\nEnd to end, the worker running: {options.alerts} alerts, half new, half repeats")
                print(f"{'run':<34}{'accepted/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'CPU ms/alert':>13}  answers")
                mark = AlertReceipt.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
                seconds, latencies, statuses, cpu = timed_posts(
                    port,
                    plain,
                    options.clients,
                    options.alerts,
                    lambda i: segments.payload(index=i) if i % 2 else segments.repeated(i),
                    process.pid,
                )
                answered = time.perf_counter()
                line("mixed, worker running", options.alerts, seconds, latencies, statuses, cpu)
                done = wait_applied(mark)
                failed = AlertReceipt.objects.filter(pk__gt=first_id, state=AlertReceipt.State.FAILED).count()
                print(f"last receipt applied {done - answered:.1f} s after the last answer; {failed} failed in all")
            finally:
                stop(worker)
                print(f"(worker log: {log})")
        finally:
            stop(process)
    finally:
        api_token_revoke(token=token, actor=user)


if __name__ == "__main__":
    main()
