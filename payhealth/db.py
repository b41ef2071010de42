"""PostgreSQL expressions Django does not ship, for any app's selectors."""

from __future__ import annotations

from django.db.models import Aggregate, DurationField


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile, `percentile_cont(f) WITHIN GROUP (ORDER BY x)`.

    Linear interpolation between the two nearest values: of n sorted values the result is at
    position f × (n − 1) counted from 0. Works on intervals (the default output) as well as numbers;
    with `filter=` it gets a FILTER (WHERE …) clause like any Django aggregate. The median is 0.5.
    """

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= float(fraction) <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        extra.setdefault("output_field", DurationField())
        super().__init__(expression, fraction=repr(float(fraction)), **extra)
