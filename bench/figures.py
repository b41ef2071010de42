"""What every benchmark measures with: a percentile and a statement counter."""

from __future__ import annotations


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
