"""What every benchmark measures with: a percentile, a statement counter, and a page timed in process."""

from __future__ import annotations

import statistics
import time


def percentile(samples: list[float], share: float) -> float:
    """The nearest-rank value at `share` (0.95 for p95) of `samples`."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class QueryCounter:
    """Counts statements sent to the database (works with DEBUG off, unlike connection.queries).

    Install with `connection.execute_wrapper(counter)`.
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(client, url: str, requests: int, warmup: int = 3) -> dict:
    """Server time of `url` through a django.test.Client: median, p95 and max in ms, the median
    CPU time of the process in ms (`cpu`: what the server's Python spends, which other work on a
    shared machine disturbs less than wall time), and the statements one request sends. A page
    that does not answer 200 stops the benchmark."""
    from django.db import connection  # the calling script sets Django up first

    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: {response.content[:300]!r}")
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        client.get(url)
    samples, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return {
        "median": statistics.median(samples),
        "cpu": statistics.median(cpu),
        "p95": percentile(samples, 0.95),
        "max": max(samples),
        "queries": queries.count,
    }
