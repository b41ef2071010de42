"""Partner notices end to end: 1,000 notices to 200 partners through real Celery workers into the
local SMTP sink. Prints messages per second and the latency from queueing to receipt.

    export DATABASE_URL=postgresql://…/payhealth     # a database you can write bench rows to
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/0 # the broker to measure (default: filesystem)
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/notices.py [--workers 2] [--concurrency 4] [--pool prefork] [--rate 0]

The script creates (once) 200 partners `bench-notice-NNN`, each with one contact (half read
Spanish, half English), and five SEV3 incidents engaging all of them; every run composes one
breakage notice per partner and incident (1,000), then queues them: by default with the bulk
action `notices_send`, once per incident (200 notices a transaction), or with `--rate N`, one
`notice_send` at a time, N per second. The SMTP sink (`payhealth.mailsink`, the one `make run`
starts) runs in this process on a free loopback port and writes every message to a temporary
folder, noting when it stored each one (its arrival). Workers are `celery worker` processes on the
configured broker, consuming a queue of their own (`--pool threads` suits this I/O-bound task
too). Throughput is notices ÷ (last arrival − first `queued_at`); latency is each notice's
arrival − its `queued_at`, so it includes the commit, publishing, the broker, the worker's
transactions (each task claims, marks sent and records a batch of notices) and the SMTP
conversation. The workers' CPU time is read from /proc for their processes (not PostgreSQL's).
Nothing is asserted: the figures go in docs/performance.md. Target: at least 300 messages/s with
two workers on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
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
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.figures import percentile  # noqa: E402
from cases.correspondence.compose import notice_compose  # noqa: E402
from cases.correspondence.dispatch import notice_send, notices_send  # noqa: E402
from cases.models import Correspondence, Incident, PartnerEngagement  # noqa: E402
from cases.numbering import next_reference  # noqa: E402
from partners.models import NoticeTemplate, Partner, PartnerContact  # noqa: E402
from partners.notices import load_notice_templates  # noqa: E402
from payhealth.celery import app  # noqa: E402
from payhealth.mailsink import mailsink_start  # noqa: E402

PARTNERS = 200
INCIDENTS = 5
TARGET_PER_SECOND = 300
BENCH_USER = "bench-notices"
PARTNER_TEXT = {
    "partner_title_en": "Approval rate drop on debit authorizations",
    "partner_title_es": "Caída de aprobación en autorizaciones de débito",
    "partner_summary_en": "Since 10:00 we see issuer declines (05, 91) rise on debit card authorizations.",
    "partner_summary_es": "Desde las 10:00 vemos subir los rechazos del emisor (05, 91) en autorizaciones de débito.",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_desk() -> tuple[list[Incident], object]:
    """200 partners with one contact each, five incidents engaging them all; created once."""
    load_notice_templates(NoticeTemplate)
    user, _ = get_user_model().objects.get_or_create(username=BENCH_USER, defaults={"first_name": "Bench"})
    user.groups.add(Group.objects.get(name="partner_manager"))
    with transaction.atomic():
        partners = []
        for number in range(PARTNERS):
            language = "es" if number % 2 == 0 else "en"
            partner, created = Partner.objects.get_or_create(
                code=f"bench-notice-{number:03d}",
                defaults={
                    "name": f"Bench Partner {number:03d}",
                    "kind": Partner.Kind.ISSUER,
                    "country": "MX" if language == "es" else "US",
                    "language": language,
                    "timezone": "America/Mexico_City" if language == "es" else "America/New_York",
                },
            )
            if created:
                PartnerContact.objects.create(
                    partner=partner, name=f"Operations {number:03d}", email=f"ops{number:03d}@bench-partner.test"
                )
            partners.append(partner)
        incidents = []
        for number in range(INCIDENTS):
            fingerprint = f"bench:notices-{number}"
            incident = Incident.objects.filter(fingerprint=fingerprint).first()
            if incident is None:
                now = timezone.now()
                incident = Incident.objects.create(
                    reference=next_reference(now.year),
                    title=f"Benchmark: approval rate drop {number + 1}",
                    category="auth_rate",
                    severity="sev3",
                    status="investigating",
                    owner=user,
                    created_by=user,
                    started_at=now,
                    detected_at=now,
                    card_networks=["visa", "mastercard"],
                    decline_codes=["05", "91"],
                    country="MX",
                    fingerprint=fingerprint,
                )
                PartnerEngagement.objects.bulk_create(
                    PartnerEngagement(incident=incident, partner=partner) for partner in partners
                )
            # Partners read a title and summary of their own language: a notice without them is refused.
            Incident.objects.filter(pk=incident.pk).update(**PARTNER_TEXT)
            incidents.append(incident)
    return incidents, user


def start_workers(
    count: int, concurrency: int, pool: str, queue: str, smtp_port: int, log_dir: Path
) -> list[subprocess.Popen]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["EMAIL_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    env["LOG_LEVEL"] = "WARNING"
    workers = []
    for number in range(count):
        argv = [sys.executable, "-m", "celery", "-A", "payhealth", "worker", "-l", "info"]
        argv += ["--pool", pool, "--concurrency", str(concurrency), "-Q", queue, "-n", f"{queue}-{number}@%h"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        log = (log_dir / f"worker-{number}.log").open("wb")
        workers.append(
            subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def workers_cpu_seconds(workers: list[subprocess.Popen]) -> float:
    """User + system CPU time of every process of the workers' sessions (main and pool), from /proc."""
    sessions = {worker.pid for worker in workers}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[3]) in sessions:  # the session id (each worker starts its own)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_ready(log_dir: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [log_dir / f"worker-{number}.log" for number in range(count)]
        if all(log.exists() and b" ready." in log.read_bytes() for log in logs):
            return
        time.sleep(0.2)
    raise SystemExit(f"workers did not start within {timeout}s; logs in {log_dir}")


class ArrivalClock:
    """The sink's report, called as it stores each message: file name → arrival time (UTC)."""

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}

    def __call__(self, line: str) -> None:  # "mail <file name>: from … to …"
        self.times[line.split()[1].rstrip(":")] = datetime.now(UTC)


def arrivals(mail_dir: Path, clock: ArrivalClock) -> dict[str, datetime]:
    """Message-ID → arrival time, from the sink's files and the moments it stored them."""
    found = {}
    for path in mail_dir.glob("*.eml"):
        with path.open("rb") as handle:
            headers = BytesHeaderParser(policy=default_policy).parse(handle)
        found[str(headers["Message-ID"]).strip()] = clock.times[path.name]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=4, help="pool processes per worker (default %(default)s)")
    parser.add_argument("--pool", default="prefork", help="Celery pool: prefork or threads (default %(default)s)")
    parser.add_argument("--rate", type=float, default=0, help="queue N notices per second; 0 = one burst (default)")
    run(parser.parse_args())


def run(options) -> dict:
    """One run with `options` (workers, concurrency, pool, rate); prints it and returns its figures."""
    incidents, user = bench_desk()
    queue = f"bench-notices-{uuid.uuid4().hex[:8]}"
    app.conf.update(task_routes={**app.conf.task_routes, "cases.deliver_correspondence_task": {"queue": queue}})
    with tempfile.TemporaryDirectory(prefix="payhealth-bench-") as scratch:
        scratch = Path(scratch)
        port = free_port()
        clock = ArrivalClock()
        sink = mailsink_start(mail_dir=scratch / "mail", port=port, report=clock)
        workers = start_workers(options.workers, options.concurrency, options.pool, queue, port, scratch)
        try:
            wait_until_ready(scratch, options.workers)
            started = time.monotonic()
            drafts = []
            for incident in incidents:
                drafts += notice_compose(incident=incident, actor=user, kind="breakage", confirm_repeat=True).drafts
            print(f"composed {len(drafts)} notices to {PARTNERS} partners in {time.monotonic() - started:.1f}s")

            cpu_before = workers_cpu_seconds(workers)
            started = time.monotonic()
            if options.rate:
                for number, draft in enumerate(drafts):
                    notice_send(correspondence=draft, actor=user)
                    pause = started + (number + 1) / options.rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
            else:  # the bulk action, once per incident: its 200 notices in one transaction
                for incident in incidents:
                    batch = [draft for draft in drafts if draft.incident_id == incident.pk]
                    notices_send(correspondences=batch, actor=user)
            print(f"queued them in {time.monotonic() - started:.1f}s ({'burst' if not options.rate else options.rate})")

            ids = [draft.pk for draft in drafts]
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                pending = Correspondence.objects.filter(pk__in=ids).exclude(status=Correspondence.Status.SENT).count()
                if not pending:
                    break
                time.sleep(0.2)
            cpu = workers_cpu_seconds(workers) - cpu_before
            connection.close()
        finally:
            stop_workers(workers)
            sink.stop()

        rows = {row.message_id: row for row in Correspondence.objects.filter(pk__in=ids)}
        received = arrivals(scratch / "mail", clock)
        statuses = {}
        for row in rows.values():
            statuses[row.status] = statuses.get(row.status, 0) + 1
        latencies = [(received[mid] - row.queued_at).total_seconds() for mid, row in rows.items() if mid in received]
        if not latencies:
            raise SystemExit(f"nothing arrived; statuses {statuses}; worker logs in {scratch}")
        first_queued = min(row.queued_at for row in rows.values())
        window = (max(received[mid] for mid in rows if mid in received) - first_queued).total_seconds()
        arrival_times = sorted(received[mid] for mid in rows if mid in received)
        delivering = (arrival_times[-1] - arrival_times[0]).total_seconds() or 1e-9
        rate = len(latencies) / window
        duplicates = len(list((scratch / "mail").glob("*.eml"))) - len(received)

    broker = settings.CELERY_BROKER_URL.split("@")[-1]
    print()
    print(f"broker {broker}; {options.workers} workers × {options.concurrency} {options.pool}; {os.cpu_count()} CPUs")
    print(f"delivered {len(latencies)}/{len(rows)} (statuses {statuses}; duplicate Message-IDs {duplicates})")
    print(f"throughput: {rate:.0f} messages/s from first queued to last received ({window:.2f}s)")
    print(f"            {len(latencies) / delivering:.0f} messages/s from first to last received")
    print(f"worker CPU: {cpu:.1f} s, {cpu / len(rows) * 1000:.1f} ms a notice (the workers' processes, not PostgreSQL)")
    print(
        "latency queued → received: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    if not options.rate:
        print(f"target ≥ {TARGET_PER_SECOND} messages/s: {'met' if rate >= TARGET_PER_SECOND else 'NOT met'}")
    return {"per_second": rate, "delivered": len(latencies), "p95_ms": percentile(latencies, 0.95) * 1000}


if __name__ == "__main__":
    main()
