"""API figures at scale: the incident list (filtered) and detail, alert intake (new and
de-duplicated), and alert intake throughput with 8 concurrent clients, printed as tables.

Run against a database seeded for benchmarks (see bench/README.md):

    python manage.py seed_demo && python manage.py seed_demo --incidents 100000
    python bench/api.py [--requests 50] [--alerts 400] [--clients 8] [--workers 4] [--user analyst]

1. In process (django.test.Client, Bearer token): server time and query count of the list and
   detail endpoints, as bench/queue.py measures the HTML queue.
2. Over HTTP against gunicorn (started here on a free loopback port with `--workers` sync
   workers): one client in a loop for list, detail and alert intake (accepted for the worker,
   202; then with `?wait=true` an alert for a new segment opens an incident, a repeat of an open
   segment updates it), then `--clients` threads posting alerts as fast as they are answered
   (202: new segments, then a few repeated segments). bench/intake.py measures the worker too.

Each alert has its own Idempotency-Key, so nothing is answered from the replay store. Alerts
post for segments with BIN prefixes starting with 9 (fingerprints nobody else uses) from the
monitor "bench/api.py"; the incidents they open stay in the database. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")
# Measured, not throttled: the per-token budget would otherwise answer 429 within a second.
os.environ.setdefault("PAYHEALTH_API_THROTTLE_TOKEN", "10000000/min")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import api_token_create, api_token_revoke  # noqa: E402
from bench.figures import measure, percentile  # noqa: E402
from cases.models import Incident, Merchant  # noqa: E402
from partners.models import Partner  # noqa: E402

HOST = "127.0.0.1"
ALERTS = reverse("api:alert-intake")  # answered 202: a worker applies it (bench/intake.py measures both)
ALERTS_WAIT = f"{ALERTS}?wait=true"  # applied in the request: 201 opened, 200 updated
ALERTS_BATCH = reverse("api:alert-batch")  # several alerts a request, each answered on its own
INCIDENTS = reverse("api:incident-list")


def summary(samples: list[float]) -> str:
    return f"{statistics.median(samples):>10.1f}{percentile(samples, 0.95):>9.1f}{max(samples):>9.1f}"


# The data the requests name -------------------------------------------------------------------


def detail_reference() -> str:
    """An incident with merchants and partners (the bench/queue.py detail incident if it exists)."""
    bench = Incident.objects.filter(fingerprint="bench:detail-20-merchants-200-events").first()
    if bench is not None:
        return bench.reference
    incident = Incident.objects.filter(affected_merchants__isnull=False, engagements__isnull=False).order_by("-id")
    found = incident.first() or Incident.objects.order_by("-id").first()
    if found is None:
        raise SystemExit("No incidents: run `manage.py seed_demo` first.")
    return found.reference


def list_urls(partner: str, client: Client) -> list[tuple[str, str]]:
    urls = [
        ("list, first page (50)", f"{INCIDENTS}?page_size=50"),
        ("list, status+severity+partner", f"{INCIDENTS}?status=investigating&severity=sev1&partner={partner}"),
        ("list, search q=visa", f"{INCIDENTS}?q=visa"),
        ("list, network=visa, all statuses", f"{INCIDENTS}?network=visa&status=all"),
    ]
    # The 20th page of everything, reached by following the cursor (as a client walks the list).
    url = f"{INCIDENTS}?status=all&page_size=50"
    for _ in range(19):
        url = client.get(url).json()["next"] or url
    urls.append(("list, page 20 by cursor (all)", url.replace("http://testserver", "").replace("http://localhost", "")))
    return urls


class Segments:
    """Alert payloads: a fresh segment per new alert, a few fixed ones for repeats."""

    def __init__(self) -> None:
        self.merchants = list(Merchant.objects.order_by("id").values_list("account_id", flat=True)[:20])
        self.partners = list(Partner.objects.filter(active=True).order_by("id").values_list("code", flat=True)[:10])
        if not self.merchants or not self.partners:
            raise SystemExit("Need merchants and partners: run `manage.py seed_demo` first.")
        self.run = random.randrange(100, 999)
        self.counter = 0
        self.lock = threading.Lock()

    def _bin(self) -> str:
        with self.lock:
            self.counter += 1
            return f"9{self.run:03d}{self.counter:04d}"[:8]

    def payload(self, *, bin_prefix: str | None = None, index: int = 0) -> dict:
        now = timezone.now()
        return {
            "segment": {
                "merchant": self.merchants[index % len(self.merchants)],
                "partner": self.partners[index % len(self.partners)],
                "network": "visa",
                "country": "MX",
                "bin_prefix": bin_prefix or self._bin(),
            },
            "window": {"start": (now - timedelta(minutes=15)).isoformat(), "end": now.isoformat()},
            "baseline_approval_rate": 0.93,
            "observed_approval_rate": round(random.uniform(0.55, 0.8), 4),
            "attempts": random.randrange(5_000, 50_000),
            "decline_codes": [{"code": "05", "count": 1800}, {"code": "91", "count": 600}],
            "source": "bench/api.py",
        }

    def repeated(self, index: int) -> dict:
        slot = index % 8
        return self.payload(bin_prefix=f"9{self.run:03d}9{slot:03d}"[:8], index=slot)


# In process ------------------------------------------------------------------------------------


def in_process(plain: str, requests: int, urls: list[tuple[str, str]]) -> dict[str, dict]:
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {plain}")
    print(f"\nIn process (django.test.Client), {requests} requests each")
    print(f"{'endpoint':<38}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'queries':>9}")
    results = {}
    for label, url in urls:
        result = results[label] = measure(client, url, requests)
        print(f"{label:<38}{result['median']:>10.1f}{result['p95']:>9.1f}{result['max']:>9.1f}{result['queries']:>9}")
    return results


# Over HTTP against gunicorn --------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, plain: str, body: dict | None = None) -> tuple[int, float, bytes]:
    """One request on a fresh connection (gunicorn's sync workers close after each answer)."""
    headers = {"Authorization": f"Bearer {plain}", "Host": "localhost"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers |= {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    started = time.perf_counter()
    connection_ = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection_.request(method, path, body=data, headers=headers)
        response = connection_.getresponse()
        content = response.read()
    finally:
        connection_.close()
    return response.status, (time.perf_counter() - started) * 1000, content


def start_gunicorn(workers: int, *, timeout: float = 60) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = dict(os.environ)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "payhealth.wsgi", "--workers", str(workers), "--bind", f"{HOST}:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {process.stderr.read().decode()[-2000:]}")
        try:
            # A busy machine builds the schema slowly: wait for the answer rather than ask again.
            connection_ = http.client.HTTPConnection(HOST, port, timeout=max(2, timeout / 2))
            connection_.request("GET", "/api/v1/schema/", headers={"Host": "localhost"})
            if connection_.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, 9)  # the master and the workers it forked
    raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def sequential(port: int, plain: str, label: str, calls, expected: set[int]) -> None:
    samples, statuses = [], {}
    for method, path, body in calls:
        status, elapsed, content = request(port, method, path, plain, body)
        if status not in expected:
            raise SystemExit(f"{label}: {method} {path} answered {status}: {content[:300]!r}")
        statuses[status] = statuses.get(status, 0) + 1
        samples.append(elapsed)
    answers = ", ".join(f"{count}×{status}" for status, count in sorted(statuses.items()))
    print(f"{label:<38}{summary(samples)}  {answers}")


def post_all(
    port: int, plain: str, clients: int, total: int, make_body, path: str = ALERTS
) -> tuple[float, list[float], dict]:
    """`clients` threads post `total` bodies (`make_body(index)`: an alert, or a batch of them to
    `path`) between them: the seconds it took, each request's latency and how many answers of
    each status."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            status, elapsed, _content = request(port, "POST", path, plain, make_body(index))
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def concurrent(port: int, plain: str, label: str, clients: int, total: int, make_body, path: str = ALERTS) -> dict:
    seconds, latencies, statuses = post_all(port, plain, clients, total, make_body, path)
    answers = ", ".join(f"{count}×{status}" for status, count in sorted(statuses.items()))
    print(
        f"{label:<38}{total / seconds:>10.1f}{percentile(latencies, 0.5):>9.1f}"
        f"{percentile(latencies, 0.95):>9.1f}  {answers}"
    )
    return {"per_second": total / seconds, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="measured requests per endpoint (default 50)")
    parser.add_argument("--alerts", type=int, default=400, help="alerts per throughput run (default 400)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent alert clients (default 8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--user", default="analyst", help="whose token to use (default: the demo analyst)")
    options = parser.parse_args()

    user = get_user_model().objects.filter(username=options.user).first()
    if user is None:
        raise SystemExit(f"No user {options.user!r}: run `manage.py seed_demo` first.")
    token, plain = api_token_create(user=user, name=f"bench/api.py {uuid.uuid4().hex[:8]}")
    try:
        codes = set(Partner.objects.values_list("code", flat=True))
        partner = "prosa" if "prosa" in codes else min(codes, default="")
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {plain}")
        reference = detail_reference()
        urls = [*list_urls(partner, client), ("detail", reverse("api:incident-detail", args=[reference]))]
        print(f"{Incident.objects.count():,} incidents; token of {user.username!r}; detail = {reference}")
        in_process(plain, options.requests, urls)

        segments = Segments()
        process, port = start_gunicorn(options.workers)
        try:
            print(
                f"\nOver HTTP, gunicorn with {options.workers} sync workers, one client, "
                f"{options.requests} requests each"
            )
            print(f"{'endpoint':<38}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}  answers")
            for label, url in urls:
                for _ in range(5 * options.workers):  # every worker imports and connects first
                    request(port, "GET", url, plain)
                sequential(port, plain, label, [("GET", url, None)] * options.requests, {200})
            sequential(
                port,
                plain,
                "alert intake, accepted (202)",
                [("POST", ALERTS, segments.payload(index=n)) for n in range(options.requests)],
                {202},
            )
            sequential(
                port,
                plain,
                "alert intake ?wait=true, new segment",
                [("POST", ALERTS_WAIT, segments.payload(index=n)) for n in range(options.requests)],
                {201},
            )
            for index in range(8):  # open the repeated segments' incidents first
                request(port, "POST", ALERTS_WAIT, plain, segments.repeated(index))
            sequential(
                port,
                plain,
                "alert intake ?wait=true, de-duplicated",
                [("POST", ALERTS_WAIT, segments.repeated(n)) for n in range(options.requests)],
                {200},
            )

            print(f"\nAlert intake throughput: {options.clients} concurrent clients, {options.alerts} alerts each run")
            print(f"{'run':<38}{'alerts/s':>10}{'p50 ms':>9}{'p95 ms':>9}  answers")
            concurrent(
                port,
                plain,
                "new segments",
                options.clients,
                options.alerts,
                lambda index: segments.payload(index=index),
            )
            concurrent(port, plain, "repeats of 8 open segments", options.clients, options.alerts, segments.repeated)
        finally:
            stop(process)
    finally:
        api_token_revoke(token=token, actor=user)


if __name__ == "__main__":
    main()
