"""The bulk seed's CPU per 1,000 incidents: one batch of bulk incidents written in one process,
rolled back after each run, so every run writes the same incidents. Printed, never asserted.

    export DATABASE_URL=postgresql://…/payhealth
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_demo                   # users, partners, the demo desk
    .venv/bin/python manage.py seed_demo --incidents 5000  # so the tables and indexes are not empty
    .venv/bin/python bench/seed.py [--incidents 5000] [--runs 3] [--profile 30]

Each run is `seed_bulk_incidents` of `--incidents` incidents in one batch, at a fixed instant,
inside a transaction: the first pass (numbering by opening), the build, the COPY writes and the
replay of the clocks. The deferred foreign keys are checked before the rollback (`SET
CONSTRAINTS ALL IMMEDIATE`), so the backend's figure holds what the commit would check. Printed
per run and as the median: the CPU seconds per 1,000 incidents of this process
(`time.process_time()`) and of its PostgreSQL backend (user + system from `/proc/<pid>/stat`,
when the database runs on this machine), and the wall time. `--profile N` runs one more batch
under cProfile and prints its N most expensive functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime
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

from django.db import connection, transaction  # noqa: E402

from demo.bulk import seed_bulk_incidents  # noqa: E402
from demo.desk import seed_desk  # noqa: E402

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of the PostgreSQL backend `pid`, when it runs on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_batch(desk, count: int) -> None:
    """`count` bulk incidents in one batch, written and rolled back."""
    with transaction.atomic():
        seed_bulk_incidents(desk, count, now=NOW, batch_size=count, jobs=1)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # what the commit would check
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile one more batch, print N rows")
    parser.add_argument("--sort", default="tottime", help="the profile's order (tottime, cumulative)")
    args = parser.parse_args()

    with transaction.atomic():
        desk = seed_desk()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    per_thousand = args.incidents / 1000
    python, database = [], []
    for run in range(1, args.runs + 1):
        started, started_cpu, started_backend = time.perf_counter(), time.process_time(), _backend_cpu_s(backend)
        one_batch(desk, args.incidents)
        python.append((time.process_time() - started_cpu) / per_thousand)
        ended_backend = _backend_cpu_s(backend)
        line = f"run {run}: Python {python[-1]:.3f} s"
        if started_backend is not None and ended_backend is not None:
            database.append((ended_backend - started_backend) / per_thousand)
            line += f", PostgreSQL {database[-1]:.3f} s"
        print(f"{line} CPU per 1,000 incidents; wall {time.perf_counter() - started:.1f} s", flush=True)
    summary = f"median of {args.runs}, {args.incidents:,} incidents a run: Python {statistics.median(python):.3f} s"
    if database:
        summary += f", PostgreSQL {statistics.median(database):.3f} s"
    print(f"{summary} CPU per 1,000 incidents")
    if args.profile:
        profile = cProfile.Profile(time.process_time)  # CPU, not waits on the server
        profile.runcall(one_batch, desk, args.incidents)
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.profile)


if __name__ == "__main__":
    main()
