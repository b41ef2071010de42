"""Concurrent writers and the overview's counters: how long a resolve waits while batches write.

    python bench/overview_writers.py [--clicks 200] [--pause-ms 20] [--batches 3] [--batch-size 20] [--hold-ms 200]

`--batches` threads each run transactions like an alert worker's batch: `--batch-size` single-row
updates of open incidents (severity moved one step, in random order, which the triggers count
under the old and new severity and the incident's opening hour), then the transaction stays open
`--hold-ms` milliseconds (the rest of a batch's work) and is rolled back. Meanwhile one thread
"clicks" `--clicks` times, `--pause-ms` apart: one transaction resolving one open incident (counted in the current
hour), rolled back. Each thread updates its own incidents, so only the counters' triggers can
make one wait for another.

Printed: the clicks' latency (median, p95, max) and how many PostgreSQL aborted as deadlocked,
the batches run and the batches aborted as deadlocked. Everything is rolled back, so the
database is left as it was. Run it against a copy of a benchmark database (`DATABASE_URL`);
timings need a quiet machine, the waits do not.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# bench/queue.py would shadow the standard library's queue, which psycopg imports.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]

import psycopg  # noqa: E402
from psycopg import errors  # noqa: E402


def _open_incidents(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM cases_incident WHERE status IN "
            "('new', 'triaging', 'investigating', 'waiting_on_partner', 'mitigated') ORDER BY id"
        ).fetchall()
    return [row[0] for row in rows]


def _batches(url: str, ids: list[int], size: int, hold: float, stop: threading.Event, tally: dict) -> None:
    rng = random.Random(ids[0])
    with psycopg.connect(url) as conn:
        while not stop.is_set():
            try:
                with conn.transaction(force_rollback=True):
                    for incident in rng.sample(ids, size):
                        conn.execute(
                            "UPDATE cases_incident SET severity = CASE severity WHEN 'sev1' THEN 'sev2' "
                            "WHEN 'sev2' THEN 'sev3' WHEN 'sev3' THEN 'sev4' ELSE 'sev1' END WHERE id = %s",
                            [incident],
                        )
                    conn.execute("SELECT pg_sleep(%s)", [hold])
                tally["batches"] += 1
            except errors.DeadlockDetected:
                tally["deadlocks"] += 1


def _clicks(url: str, ids: list[int], count: int, pause: float) -> tuple[list[float], int]:
    took, failed = [], 0
    with psycopg.connect(url) as conn:
        for incident in random.Random(7).sample(ids, count):
            time.sleep(pause)  # a person between two clicks
            start = time.perf_counter()
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(
                        "UPDATE cases_incident SET status = 'resolved', resolved_at = now() WHERE id = %s", [incident]
                    )
            except errors.DeadlockDetected:
                failed += 1  # the person's error page
            took.append((time.perf_counter() - start) * 1000)
    return took, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--pause-ms", type=int, default=20)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--hold-ms", type=int, default=200)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]

    ids = _open_incidents(url)
    shares = [ids[index :: args.batches + 1] for index in range(args.batches + 1)]
    stop = threading.Event()
    tally = {"batches": 0, "deadlocks": 0}  # += under the GIL: a figure, not an exact count
    threads = [
        threading.Thread(target=_batches, args=(url, share, args.batch_size, args.hold_ms / 1000, stop, tally))
        for share in shares[1:]
    ]
    for thread in threads:
        thread.start()
    try:
        took, failed = _clicks(url, shares[0], args.clicks, args.pause_ms / 1000)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    took.sort()
    p95 = took[max(0, round(0.95 * len(took)) - 1)]
    print(
        f"clicks {len(took)} ({failed} aborted by a deadlock): median {statistics.median(took):.1f} ms, "
        f"p95 {p95:.1f} ms, max {took[-1]:.1f} ms; "
        f"batches {tally['batches']} ({args.batch_size} updates, {args.hold_ms} ms held), "
        f"deadlocks {tally['deadlocks']}"
    )


if __name__ == "__main__":
    main()
