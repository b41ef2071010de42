"""Notices under faults: N notices through two real workers and beat on a private Redis, a worker
killed while it sends, then the broker stopped and started. Prints how long the backlog took to
drain after the last fault, and how many notices were duplicated or lost.

    export DATABASE_URL=postgresql://…/payhealth     # a database you can write bench rows to
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/faults.py [--notices 200] [--outage 5] [--workers 2] [--concurrency 2]

The script reuses the partners and incidents of `bench/notices.py` (created once), composes
`--notices` breakage notices and queues them with the bulk action. Its own `redis-server` runs on
a free loopback port (the configured broker is never touched), the SMTP sink (`payhealth.mailsink`)
in this process keeps every message as a file, and the workers and beat (a schedule file in a
temporary folder, the settings' schedule) run with the default settings, so the recovery is the
one a deployment gets. The scenario: queue the notices; once a quarter have gone, SIGKILL one
worker's process group (its attempts under way stay `sending`) and start a replacement; stop
Redis for `--outage` seconds, then start it again (nothing persisted: the queued tasks are gone).
The last fault ends when Redis answers again.

Figures: drain time (last fault's end → every notice sent and recorded), lost (notices not sent
within `--deadline` seconds), duplicates (messages received beyond one per Message-ID), the
notices counted as possible duplicates, and the throughput before the faults. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
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

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from bench.notices import arrivals, bench_desk, free_port  # noqa: E402
from cases.correspondence.compose import notice_compose  # noqa: E402
from cases.correspondence.dispatch import notices_send  # noqa: E402
from cases.models import Correspondence  # noqa: E402
from payhealth.celery import app  # noqa: E402
from payhealth.mailsink import mailsink_start  # noqa: E402
from tests.support import RedisServer  # noqa: E402


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "payhealth", *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(name: str, concurrency: int, env: dict[str, str], scratch: Path) -> subprocess.Popen:
    argv = ["worker", "-l", "info", "--concurrency", str(concurrency), "-Q", settings.CELERY_TASK_DEFAULT_QUEUE]
    argv += ["-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return spawn(argv, env, scratch / f"{name}.log")


def ready(scratch: Path, name: str) -> bool:
    log = scratch / f"{name}.log"
    return log.exists() and b" ready." in log.read_bytes()


def wait(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=200, help="notices to queue (default %(default)s)")
    parser.add_argument("--outage", type=float, default=5, help="seconds the broker stays down (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per worker (default %(default)s)")
    parser.add_argument(
        "--deadline", type=float, default=300, help="seconds to wait for the drain (default %(default)s)"
    )
    options = parser.parse_args()

    incidents, user = bench_desk()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="payhealth-faults-") as scratch:
        scratch = Path(os.environ.get("BENCH_KEEP_LOGS") or scratch)  # BENCH_KEEP_LOGS: a folder to keep the logs in
        redis = RedisServer(scratch)
        redis.start()
        port = free_port()
        sink = mailsink_start(mail_dir=scratch / "mail", port=port, report=lambda line: None)
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(CELERY_BROKER_URL=redis.url, EMAIL_URL=f"smtp://127.0.0.1:{port}", LOG_LEVEL="WARNING")
        os.environ["CELERY_BROKER_URL"] = redis.url  # this process publishes there too
        app.conf.update(broker_url=redis.url, broker_transport_options={})
        names = [f"faults-{run}-{number}" for number in range(options.workers)]
        workers = {name: start_worker(name, options.concurrency, env, scratch) for name in names}
        beat = spawn(
            ["beat", "-l", "info", "-S", "celery.beat:PersistentScheduler", "-s", str(scratch / "beat-schedule")],
            env,
            scratch / "beat.log",
        )
        try:
            wait(lambda: all(ready(scratch, name) for name in names), timeout=60, what="the workers")
            drafts = []
            for incident in incidents:
                drafts += notice_compose(incident=incident, actor=user, kind="breakage").drafts
                if len(drafts) >= options.notices:
                    break
            drafts = drafts[: options.notices]
            ids = [draft.pk for draft in drafts]
            queued_at = time.monotonic()
            for incident in incidents:
                batch = [draft for draft in drafts if draft.incident_id == incident.pk]
                if batch:
                    notices_send(correspondences=batch, actor=user)
            rows = Correspondence.objects.filter(pk__in=ids)
            quarter = max(len(ids) // 4, 1)
            sent = rows.filter(status=Correspondence.Status.SENT)
            wait(lambda: sent.count() >= quarter, timeout=120, what="a quarter of the notices")
            before = rows.filter(status=Correspondence.Status.SENT).count()
            rate = before / (time.monotonic() - queued_at)

            victim = names[0]
            in_flight = rows.filter(status=Correspondence.Status.SENDING).count()
            kill(workers[victim])
            print(f"killed {victim} with {in_flight} notice(s) sending; {before} sent before the faults")
            replacement = f"{victim}-again"
            workers[replacement] = start_worker(replacement, options.concurrency, env, scratch)

            redis.stop()
            time.sleep(options.outage)  # the outage itself: the scenario, not a wait for an event
            redis.start()
            fault_end = time.monotonic()
            print(f"broker down for {options.outage:.0f}s; the last fault ended")

            def drained() -> bool:
                return (
                    not rows.exclude(status=Correspondence.Status.SENT).exists()
                    and not rows.filter(consequences_at__isnull=True).exists()
                )

            deadline = fault_end + options.deadline
            progress, mark = [], fault_end
            while not drained() and time.monotonic() < deadline:
                if time.monotonic() >= mark:
                    progress.append(f"+{mark - fault_end:.0f}s {sent.count()}")
                    mark += 5
                time.sleep(0.2)
            drain = time.monotonic() - fault_end
            done = drained()
            connection.close()
        finally:
            stop(beat)
            for process in workers.values():
                stop(process)
            sink.stop()
            redis.stop()

        statuses = Counter(rows.values_list("status", flat=True))
        received = arrivals(scratch / "mail")
        files = len(list((scratch / "mail").glob("*.eml")))
        message_ids = {row.message_id for row in rows}
        duplicates = files - len(received)
        lost = len(message_ids - set(received))
        possible = sum(rows.values_list("possible_duplicates", flat=True))

    print()
    timeouts = (
        f"task time limit {settings.PAYHEALTH_TASK_TIME_LIMIT}s, stuck after {settings.PAYHEALTH_NOTICE_STUCK_AFTER}s, "
        f"recovery sweep every {settings.PAYHEALTH_RECOVERY_SWEEP_SECONDS}s"
    )
    print(f"{options.notices} notices; {options.workers} workers × {options.concurrency}; {timeouts}")
    print(f"throughput before the faults: {rate:.0f} notices/s")
    print(f"drain after the last fault: {drain:.1f}s (target ≤ 60 s){'' if done else ' — NOT drained'}")
    print(f"sent after the last fault: {', '.join(progress)}")
    print(f"statuses {dict(statuses)}")
    print(f"lost: {lost}; duplicates received: {duplicates}; counted as possible duplicates: {possible}")


if __name__ == "__main__":
    main()
