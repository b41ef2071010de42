"""The SLA reports' rollups (`SlaRollup`): kept up to date, rebuilt on demand, checked against the clocks.

How they stay right. Every path that writes a clock or what a rollup is grouped by calls
`sla_rollup_mark` in its own transaction: the live hooks (`ClockLedger.save`), a severity or owner
change (the timeline listener in `cases.sla.clocks`) and the demo seed; the sweep runs its
statement (`mark_sql`) as a part of its own single statement. It
records the desk days of the incident's clocks in `SlaRollupPending`, one upsert. The pending days
are folded, each re-computed whole from its clocks (a day is a few thousand clocks on a busy desk),
by `sla_rollup_fold`: every minute from beat, and by each report read for the days of its range
first, so a report never shows a figure older than the clocks it is read after. Re-computing a
whole day rather than adding deltas is what makes late events safe: a re-opened clock, a severity
or owner change, a breach found at the stop, all re-compute the day they belong to.

Durations (`SlaRollupTimes`): the acknowledge and resolve durations of the day and month rows
again, without the owner, in whole microseconds, each array sorted with its counts per bucket of
its clock family (`TIME_BUCKETS`);
written by the same statements' callers right after the rows they come from, so they are always
the same values.

Month rows sum a month's day rows. A fold marks the months of the days it re-computed stale
(`SlaRollupStaleMonth`), or re-sums them at once when they are whole months of the report range
it folds for; a report re-sums the stale whole months of its range before reading them.

Concurrency: the mark is an upsert that locks the day's pending row until the writer commits; the
fold deletes the pending rows it takes (`FOR UPDATE`, in day order), so it waits for a writer
holding one and reads that writer's committed clocks, and a writer marking a day being folded
waits for the fold to commit and marks it again.

Snapshotted: a rollup groups by the incident's severity and owner and the engagement's partner as
they are when its day is folded, the day in the desk's zone (PAYHEALTH_TIME_ZONE: changing it
needs `manage.py rebuild_sla_rollups`). Deleting an incident or engagement outright (the admin)
does not mark its days: run the rebuild after such a clean-up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from cases.models import (
    Incident,
    PartnerEngagement,
    SlaClock,
    SlaRollup,
    SlaRollupPending,
    SlaRollupStaleMonth,
    SlaRollupTimes,
)
from payhealth.i18n import desk_zone


def mark_sql(clocks: str) -> str:
    """The statement marking the desk days of the clocks `clocks` (a condition on `c`) pending,
    for a statement of its own or a CTE of another's (the sweep's); takes %(zone)s."""
    return f"""
    INSERT INTO {SlaRollupPending._meta.db_table} (day)
    SELECT DISTINCT (c.started_at AT TIME ZONE %(zone)s)::date FROM {SlaClock._meta.db_table} c
    WHERE {clocks}
    ORDER BY 1
    ON CONFLICT (day) DO UPDATE SET day = EXCLUDED.day
    """


# The pending days of first..last and the stale months of [mfirst, mafter), taken (deleted, their
# rows locked in order) in one statement.
TAKE_SQL = """
    WITH days AS (
        DELETE FROM {pending} WHERE day IN (
            SELECT day FROM {pending} WHERE day >= %(first)s AND day <= %(last)s
            ORDER BY day FOR UPDATE {skip}
        )
        RETURNING day
    ), months AS (
        DELETE FROM {stale} WHERE month IN (
            SELECT month FROM {stale} WHERE month >= %(mfirst)s AND month < %(mafter)s
            ORDER BY month FOR UPDATE {skip}
        )
        RETURNING month
    )
    SELECT 'day', day FROM days UNION ALL SELECT 'month', month FROM months
"""
STALE_SQL = "INSERT INTO {stale} (month) SELECT unnest(%s::date[]) ORDER BY 1 ON CONFLICT (month) DO NOTHING"

# The clocks of the chosen days grouped as a rollup. The outcome rules are the reports' (see
# `cases.sla.reports`): met = stopped met and never breached; breached = breached at any point;
# the durations are those of clocks stopped met or breached. Each span of desk days is an instant
# range the (metric, started_at) index answers (one range scan per span).
COMPUTE_SQL = """
    INSERT INTO {rollup} (span, day, family, metric, severity, partner_id, owner_id,
                          clocks, engagements, met, breached, wall, business)
    SELECT 'day', (c.started_at AT TIME ZONE %(zone)s)::date, c.family, c.metric, i.severity, e.partner_id, i.owner_id,
           count(*),
           count(*) FILTER (WHERE c.engagement_id IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM {clock} o WHERE o.incident_id = c.incident_id AND o.engagement_id = c.engagement_id
               AND (o.started_at, o.id) < (c.started_at, c.id))),
           count(*) FILTER (WHERE c.state = 'met' AND c.breached_at IS NULL),
           count(*) FILTER (WHERE c.breached_at IS NOT NULL OR c.state = 'breached'),
           coalesce(array_agg(c.stopped_at - c.started_at ORDER BY c.id) FILTER (WHERE {stopped}), '{{}}'),
           coalesce(array_agg(c.consumed ORDER BY c.id) FILTER (WHERE {stopped}), '{{}}')
    FROM unnest(%(los)s::timestamptz[], %(his)s::timestamptz[]) AS span(lo, hi)
    JOIN {clock} c ON c.metric = ANY(%(metrics)s) AND c.started_at >= span.lo AND c.started_at < span.hi
    JOIN {incident} i ON i.id = c.incident_id
    LEFT JOIN {engagement} e ON e.id = c.engagement_id
    GROUP BY 2, 3, 4, 5, 6, 7
"""
STOPPED = "c.state IN ('met', 'breached') AND c.stopped_at IS NOT NULL"

# The month rows of the chosen months summed from their day rows in one pass. They keep counts
# only: the durations' month rows (`TIMES_SQL`, from the durations' day rows) hold the month's
# durations, and every report reading month rows for their counts reads narrow rows.
MONTHS_SQL = """
    INSERT INTO {rollup} (span, day, family, metric, severity, partner_id, owner_id,
                          clocks, engagements, met, breached, wall, business)
    SELECT 'month', date_trunc('month', r.day)::date, r.family, r.metric, r.severity, r.partner_id, r.owner_id,
           sum(r.clocks), sum(r.engagements), sum(r.met), sum(r.breached), '{{}}', '{{}}'
    FROM {rollup} r
    WHERE r.span = 'day' AND r.day >= %(first)s AND r.day < %(after)s
      AND date_trunc('month', r.day)::date = ANY(%(months)s::date[])
    GROUP BY 2, 3, 4, 5, 6, 7
"""


def _bounds(steps: int) -> tuple[dt.timedelta, ...]:
    """−1 µs and zero, then one second × 2^(j/steps) (j from 0) to the microsecond, up to 2^24.75
    seconds (about 326 days)."""
    last = 99 * steps // 4
    return (dt.timedelta(microseconds=-1), dt.timedelta(0)) + tuple(
        dt.timedelta(microseconds=round(1e6 * 2 ** (j / steps))) for j in range(last + 1)
    )


# The durations' buckets, one set per clock family: bucket j (from 1) holds the values above bound
# j − 1 and up to bound j, the last one everything above. The second holds only zero (intervals
# count whole microseconds): a percentile falling there needs no sort (`ZERO_BUCKET`). Finer
# buckets mean fewer values sorted per percentile, for more sums per row: our clocks' rows are few
# (one per day, metric and severity) and hold many values each, so their buckets are 2^(1/16)
# wide; the partners' rows are many (per partner too) and hold fewer, so theirs are 2^(1/8)
# (measured at a million incidents: docs/performance.md). Changing them needs
# `manage.py rebuild_sla_rollups` (the ends are counts per bound).
TIME_BUCKETS = {SlaClock.Family.OURS.value: _bounds(16), SlaClock.Family.PARTNER.value: _bounds(8)}
MICROSECOND = dt.timedelta(microseconds=1)
ZERO_BUCKET = 2
TIME_METRICS = (SlaClock.Metric.ACKNOWLEDGE.value, SlaClock.Metric.RESOLVE.value)

# The durations' rows keep whole microseconds (bigint: 8 bytes, compared as integers) where the
# clocks and the rollups keep intervals (16 bytes, compared field by field): unnesting and sorting
# the values of a percentile's bucket cost about a third as much. A clock's duration is an interval
# of days and time (no months): a timestamp difference, or a `timedelta` written by psycopg; its
# epoch is exact in microseconds.
MICROSECONDS_SQL = "round(extract(epoch FROM {value}) * 1000000)::bigint"


def interval_sql(microseconds: str) -> str:
    """The interval of a number of microseconds as PostgreSQL writes a timestamp difference (days,
    then the time left, both with the sign of the whole): the same interval the clocks' durations
    are, so arithmetic on it rounds as it does on theirs (`percentile_cont`). For a statement with
    parameters (its `%` doubled)."""
    days, rest = f"({microseconds}) / 86400000000", f"({microseconds}) %% 86400000000"
    return f"({days} * interval '1 day' + {rest} * interval '1 microsecond')"


def ends_sql(values: str, family: str) -> str:
    """The bucket ends of a sorted bigint[] `values` (microseconds) of clocks of the family
    `family`: element j the count of values up to bound j of the family's buckets (a binary search
    each, `width_bucket` over the sorted array), the last one all of them; takes %(ours)s and
    %(partner)s, the bounds in microseconds (`_times_params`)."""
    bounds = f"CASE WHEN {family} = 'ours' THEN %(ours)s::bigint[] ELSE %(partner)s::bigint[] END"
    return (
        f"(ARRAY(SELECT width_bucket(b.bound, {values}) FROM unnest({bounds}) "
        f"WITH ORDINALITY AS b(bound, j) ORDER BY b.j) || cardinality({values}))"
    )


# The durations of the chosen rows, summed over owners (day rows from the rollups' day rows, their
# intervals turned into microseconds; month rows from the durations' day rows), each array sorted on
# its own, with its bucket ends.
TIMES_SQL = """
    INSERT INTO {times} (span, day, family, metric, severity, partner_id, wall, business, wall_ends, business_ends)
    SELECT s.span, s.day, s.family, s.metric, s.severity, s.partner_id, s.wall, s.business,
           {wall_ends}, {business_ends}
    FROM (
        SELECT '{span}' AS span, {day} AS day, r.family, r.metric, r.severity, r.partner_id,
               array_agg({wall} ORDER BY {wall}) AS wall, array_agg({business} ORDER BY {business}) AS business
        FROM {source} r CROSS JOIN LATERAL unnest(r.wall, r.business) AS u(wall, business)
        WHERE r.span = 'day' AND r.metric = ANY(%(time_metrics)s) AND {where}
        GROUP BY 1, 2, 3, 4, 5, 6
    ) AS s
"""


def _times_sql(*, span: str, source: str, where: str) -> str:
    tables = _tables()
    convert = MICROSECONDS_SQL if source == "rollup" else "{value}"
    return TIMES_SQL.format(
        times=tables["times"],
        span=span,
        source=tables[source],
        day="r.day" if span == "day" else "date_trunc('month', r.day)::date",
        where=where,
        wall=convert.format(value="u.wall"),
        business=convert.format(value="u.business"),
        wall_ends=ends_sql("s.wall", "s.family"),
        business_ends=ends_sql("s.business", "s.family"),
    )


def _times_params(**params) -> dict:
    bounds = {family: [bound // MICROSECOND for bound in TIME_BUCKETS[family]] for family in TIME_BUCKETS}
    return {"time_metrics": list(TIME_METRICS), **bounds, **params}


# Month re-sums of the same month take turns (a transaction-scoped lock per month, in month
# order), so the second one starts after the first committed and reads its day rows.
MONTH_LOCK_SQL = "SELECT pg_advisory_xact_lock(%(lock)s, m) FROM unnest(%(keys)s::int[]) AS m ORDER BY m"
MONTH_LOCK = 0x534C41  # the first key of the months' advisory locks


def _tables() -> dict[str, str]:
    return {
        "pending": SlaRollupPending._meta.db_table,
        "stale": SlaRollupStaleMonth._meta.db_table,
        "rollup": SlaRollup._meta.db_table,
        "times": SlaRollupTimes._meta.db_table,
        "clock": SlaClock._meta.db_table,
        "incident": Incident._meta.db_table,
        "engagement": PartnerEngagement._meta.db_table,
        "stopped": STOPPED,
    }


def rollup_zone() -> str:
    """The desk zone's name, as PostgreSQL takes it for a desk day."""
    return settings.PAYHEALTH_TIME_ZONE


def _span(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first instant, first instant after] of desk days first..last (a DST day is 23 or 25 hours)."""
    zone = desk_zone()
    return (
        dt.datetime.combine(first, dt.time.min, tzinfo=zone),
        dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
    )


def sla_rollup_mark(*, incident_ids: Iterable[int]) -> None:
    """Mark the desk days of these incidents' clocks for re-computation (one statement).

    Call it in the transaction that changed the clocks, or the incident's severity or owner."""
    ids = sorted({int(pk) for pk in incident_ids if pk is not None})
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(mark_sql("c.incident_id = ANY(%(incidents)s)"), {"zone": rollup_zone(), "incidents": ids})


def _recompute(cursor, *, first: dt.date, last: dt.date, days: list[dt.date] | None) -> None:
    """Replace the day rows of `days` (None: every day from first to last) by their clocks', and
    their durations' day rows (4 statements)."""
    tables = _tables()
    if days is None:
        chosen, params = "r.day >= %(first)s AND r.day <= %(last)s", {"first": first, "last": last}
        spans = [_span(first, last)]
    else:
        chosen, params = "r.day = ANY(%(days)s::date[])", {"days": days}
        spans = [_span(day, day) for day in days]
    for table in ("rollup", "times"):
        cursor.execute(f"DELETE FROM {tables[table]} r WHERE r.span = 'day' AND {chosen}", params)
    cursor.execute(
        COMPUTE_SQL.format(**tables),
        {
            "zone": rollup_zone(),
            "metrics": list(SlaClock.Metric.values),
            "los": [lo for lo, _hi in spans],
            "his": [hi for _lo, hi in spans],
        },
    )
    cursor.execute(_times_sql(span="day", source="rollup", where=chosen), _times_params(**params))


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    """The first day of the month after `month` (a month's first day)."""
    return (month + dt.timedelta(days=32)).replace(day=1)


def _months_between(first: dt.date, last: dt.date) -> set[dt.date]:
    """The first days of every month from first's to last's (first..last a span of whole days)."""
    months, month = set(), _month(first)
    while month <= last:
        months.add(month)
        month = next_month(month)
    return months


def _resum_months(cursor, months: list[dt.date]) -> None:
    """Replace the month rows of `months` by the sums of their day rows, and the durations' month
    rows by their day rows merged (5 statements)."""
    tables = _tables()
    cursor.execute(MONTH_LOCK_SQL, {"lock": MONTH_LOCK, "keys": [m.year * 12 + m.month for m in months]})
    params = {"first": months[0], "after": next_month(months[-1]), "months": months}
    for table in ("rollup", "times"):
        cursor.execute(f"DELETE FROM {tables[table]} WHERE span = 'month' AND day = ANY(%s)", [months])
    cursor.execute(MONTHS_SQL.format(**tables), params)
    chosen = "r.day >= %(first)s AND r.day < %(after)s AND date_trunc('month', r.day)::date = ANY(%(months)s::date[])"
    cursor.execute(_times_sql(span="month", source="times", where=chosen), _times_params(**params))


def whole_months(first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
    """[first day of the first month, first day after the last month] of the months wholly inside
    the desk days first..last; None when there is none."""
    start = first if first.day == 1 else next_month(first)
    after = _month(last + dt.timedelta(days=1))
    return (start, after) if start < after else None


def _take(cursor, *, first, last, months, wait: bool) -> tuple[list[dt.date], list[dt.date]]:
    mfirst, mafter = months or (dt.date.max, dt.date.max)
    params = {"first": first, "last": last, "mfirst": mfirst, "mafter": mafter}
    cursor.execute(TAKE_SQL.format(skip="" if wait else "SKIP LOCKED", **_tables()), params)
    taken = cursor.fetchall()
    return sorted(day for kind, day in taken if kind == "day"), sorted(day for kind, day in taken if kind == "month")


def sla_rollup_fold(
    *,
    first: dt.date | None = None,
    last: dt.date | None = None,
    wait: bool = True,
    months: tuple[dt.date, dt.date] | None = None,
) -> int:
    """Re-compute the pending days between first and last (default: all); returns how many.

    Their months' rows are then stale: re-summed at once for the months in `months` ([first day,
    first day after), a report's whole months, `whole_months`), marked stale otherwise; the stale
    months in `months` are re-summed too. One statement when nothing is pending or stale, at most
    eleven otherwise, whatever the number of days; in the caller's transaction if there is one (no
    savepoint: a report reads right after). With `wait=False` (beat) a day a writer or another
    fold holds is left for the next run; a report waits for it, so it reads the writer's committed
    clocks."""
    first = first or dt.date.min
    last = last or dt.date.max
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        days, stale = _take(cursor, first=first, last=last, months=months, wait=wait)
        if days:
            _recompute(cursor, first=days[0], last=days[-1], days=days)
        touched = {_month(day) for day in days}
        now = {month for month in touched if months and months[0] <= month < months[1]} | set(stale)
        if touched - now:
            cursor.execute(STALE_SQL.format(**_tables()), [sorted(touched - now)])
        if now:
            _resum_months(cursor, sorted(now))
    return len(days)


def sla_rollup_span(*, first: dt.date | None = None, last: dt.date | None = None) -> tuple:
    """(first, last) with a missing end replaced by the first or last desk day that has clocks;
    (None, None) when there are no clocks and an end is missing."""
    if first is not None and last is not None:
        return first, last
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (min(started_at) AT TIME ZONE %s)::date, (max(started_at) AT TIME ZONE %s)::date "
            f"FROM {SlaClock._meta.db_table}",
            [rollup_zone(), rollup_zone()],
        )
        low, high = cursor.fetchone()
    if low is None:
        return None, None
    return first or low, last or high


@transaction.atomic
def sla_rollup_rebuild(*, first: dt.date | None = None, last: dt.date | None = None) -> int:
    """Re-compute every day from first to last (default: every day that has clocks) from the clocks
    alone, and the month rows of their months; returns the number of rollup rows of the range (its
    day rows and the month rows of its months)."""
    if first is None and last is None:
        SlaRollup.objects.all().delete()  # also the days whose clocks are gone
        SlaRollupTimes.objects.all().delete()
        SlaRollupStaleMonth.objects.all().delete()
    first, last = sla_rollup_span(first=first, last=last)
    if first is None:
        SlaRollupPending.objects.all().delete()
        SlaRollupStaleMonth.objects.all().delete()
        return 0
    if first > last:
        return 0
    with connection.cursor() as cursor:
        # Taking the pending days of the range first keeps a concurrent writer's mark waiting.
        months = (_month(first), next_month(last))
        _take(cursor, first=first, last=last, months=months, wait=True)
        _recompute(cursor, first=first, last=last, days=None)
        _resum_months(cursor, sorted(_months_between(first, last)))
    return _rows_of(first, last).count()


def _rows_of(first: dt.date, last: dt.date, model=SlaRollup):
    """The day rows of first..last and the month rows of their months."""
    return model.objects.filter(
        Q(span=SlaRollup.Span.DAY, day__gte=first, day__lte=last)
        | Q(span=SlaRollup.Span.MONTH, day__gte=_month(first), day__lte=last)
    )


def sla_rollup_differences(*, first: dt.date, last: dt.date) -> list[tuple]:
    """The rollup and duration rows of the range (its day rows and the month rows of its months, but
    for stale months, due a re-sum before any report reads them) that differ from a re-computation from the
    clocks (empty: equal).

    Re-computes inside a savepoint rolled back afterwards, so nothing is changed."""
    fields = ["span", "day", "family", "metric", "severity", "partner_id", "owner_id", "clocks", "engagements", "met"]
    fields += ["breached", "wall", "business"]

    times = ["span", "day", "family", "metric", "severity", "partner_id", "wall", "business", "wall_ends"]
    times += ["business_ends"]
    stale = SlaRollupStaleMonth.objects.values("month")

    def rows():
        return {
            (model.__name__, *(tuple(value) if isinstance(value, list) else value for value in row))
            for model, names in ((SlaRollup, fields), (SlaRollupTimes, times))
            for row in _rows_of(first, last, model)
            .exclude(span=SlaRollup.Span.MONTH, day__in=stale)
            .values_list(*names)
        }

    stored = rows()
    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            _recompute(cursor, first=first, last=last, days=None)
            _resum_months(cursor, sorted(_months_between(first, last)))
        recomputed = rows()
        transaction.savepoint_rollback(sid)
    return sorted(stored ^ recomputed, key=repr)
