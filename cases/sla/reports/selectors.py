"""The SLA report queries. The figures are sums and percentiles over the day rollups
(`cases.models.SlaRollup`, kept by `cases.sla.rollups`), one query each after a fold of the range's
pending days; with a partner filter they are aggregates over the clocks. The breach list is read
from the clocks, one page along an index. Python only reshapes the handful of result rows. See the
package docstring for the row fields.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from cases.models import (
    CaseEvent,
    Correspondence,
    PartnerEngagement,
    SlaClock,
    SlaClockEvent,
    SlaRollup,
    SlaRollupTimes,
)
from cases.models.incident import Severity, Status
from cases.sla.reports.extensions import scorecard_columns, scorecard_extra
from cases.sla.reports.filters import ReportFilter
from cases.sla.rollups import TIME_BUCKETS, ZERO_BUCKET, interval_sql, sla_rollup_fold, whole_months
from partners.models import NoticeTemplate, Partner
from payhealth.db import Percentile
from payhealth.i18n import desk_zone

PERMISSION = "cases.view_sla_reports"
DIMENSIONS = ("severity", "partner", "owner", "month")
METRICS = tuple(SlaClock.Metric.values)
TIME_TO_METRICS = (SlaClock.Metric.ACKNOWLEDGE.value, SlaClock.Metric.RESOLVE.value)
BREACHES_PER_PAGE = 50

# A clock counts for attainment once it has an outcome: stopped met, stopped breached, or still
# running (or paused) past its target. Running clocks within target and cancelled clocks that
# never breached have no outcome yet and are left out.
BREACHED = Q(breached_at__isnull=False) | Q(state=SlaClock.State.BREACHED)
MET = Q(state=SlaClock.State.MET, breached_at__isnull=True)
STOPPED_WITH_OUTCOME = Q(state__in=[SlaClock.State.MET, SlaClock.State.BREACHED], stopped_at__isnull=False)


WALL_TIME = F("stopped_at") - F("started_at")


def reports_allowed(user) -> bool:
    return user.has_perm(PERMISSION)


def clocks_in_range(filters: ReportFilter, *, family: bool = True) -> QuerySet[SlaClock]:
    """Clocks first started in the range, narrowed by severity, partner and (if `family`) family.

    A partner filter keeps that partner's clocks and our clocks on incidents engaging it.
    Severity is the incident's current one.
    """
    start, end = filters.bounds()
    clocks = SlaClock.objects.filter(started_at__gte=start, started_at__lt=end)
    if filters.severity:
        clocks = clocks.filter(incident__severity=filters.severity)
    if family and filters.family:
        clocks = clocks.filter(family=filters.family)
    if filters.partner:
        engaged = PartnerEngagement.objects.filter(incident_id=OuterRef("incident_id"), partner_id=filters.partner)
        clocks = clocks.filter(
            Q(engagement__partner_id=filters.partner) | Q(Exists(engaged), family=SlaClock.Family.OURS)
        )
    return clocks


def rollups_in_range(filters: ReportFilter, *, family: bool = True) -> QuerySet[SlaRollup]:
    """The rollups of the range (month rows for its whole months, day rows for the rest), narrowed
    by severity and (if `family`) family, after folding the range's pending days and re-summing its
    stale whole months (one statement when there are none).

    The rollups answer every filter but a partner's: "our clocks on incidents engaging it" is not
    a rollup dimension, so a partner filter reads the clocks (`clocks_in_range`), a few of them.
    """
    sla_rollup_fold(first=filters.start, last=filters.end, months=whole_months(filters.start, filters.end))
    rows = SlaRollup.objects.filter(rollup_span_condition(filters.start, filters.end))
    if filters.severity:
        rows = rows.filter(severity=filters.severity)
    if family and filters.family:
        rows = rows.filter(family=filters.family)
    return rows


def rollup_span_condition(start: dt.date, end: dt.date) -> Q:
    """The rollup rows covering start..end once: the month rows of the months wholly inside it, the
    day rows of the days before and after them (all day rows when no month is whole)."""
    months = whole_months(start, end)
    if months is None:
        return Q(span=SlaRollup.Span.DAY, day__gte=start, day__lte=end)
    first_whole, after_whole = months
    return (
        Q(span=SlaRollup.Span.MONTH, day__gte=first_whole, day__lt=after_whole)
        | Q(span=SlaRollup.Span.DAY, day__gte=start, day__lt=first_whole)
        | Q(span=SlaRollup.Span.DAY, day__gte=after_whole, day__lte=end)
    )


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _person(first: str | None, last: str | None, username: str | None) -> str:
    full = f"{first or ''} {last or ''}".strip()
    return full or username or ""


# Attainment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttainmentRow:
    dimension: str  # severity | partner | owner | month
    key: str  # sev1…; a partner or user id; "2026-10"; "" for none (our clocks, no owner)
    label: str
    metric: str
    metric_label: str
    met: int
    breached: int

    @property
    def clocks(self) -> int:
        return self.met + self.breached

    @property
    def attainment(self) -> Decimal | None:
        """Met ÷ (met + breached) in percent, one decimal; None without any outcome."""
        return _percent(self.met, self.clocks)


def sla_attainment(*, user, filters: ReportFilter, dimension: str) -> list[AttainmentRow]:
    """Met and breached clocks per metric and per value of one dimension, in one grouped query."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}; one of {DIMENSIONS}.")
    if not reports_allowed(user):
        return []
    grouped = (
        _attainment_from_clocks(filters, dimension) if filters.partner else _attainment_from_rollups(filters, dimension)
    )
    return _attainment_rows(dimension, grouped)


def sla_attainment_all(*, user, filters: ReportFilter) -> dict[str, list[AttainmentRow]]:
    """`sla_attainment` of every dimension: {dimension: rows}, the same rows, read from the rollups
    in one statement (grouping sets over the range's rows, read once), or from the clocks with a
    partner filter (one query per dimension)."""
    if not reports_allowed(user):
        return {dimension: [] for dimension in DIMENSIONS}
    if filters.partner:
        grouped = {dimension: _attainment_from_clocks(filters, dimension) for dimension in DIMENSIONS}
    else:
        grouped = _attainment_groups_from_rollups(filters, DIMENSIONS)
    return {dimension: _attainment_rows(dimension, grouped[dimension]) for dimension in DIMENSIONS}


def _attainment_rows(dimension: str, grouped: list[dict]) -> list[AttainmentRow]:
    """The attainment groups of one dimension (under the clock queries' names) as rows with labels."""
    metric_labels = dict(SlaClock.Metric.choices)
    severity_labels = dict(Severity.choices)
    rows = []
    for group in grouped:
        if dimension == "severity":
            key = group["incident__severity"]
            label = str(severity_labels.get(key, key))
        elif dimension == "partner":
            key = str(group["engagement__partner_id"] or "")
            label = group["engagement__partner__name"] or _("Our clocks")
        elif dimension == "owner":
            key = str(group["incident__owner_id"] or "")
            label = _person(
                group["incident__owner__first_name"],
                group["incident__owner__last_name"],
                group["incident__owner__username"],
            ) or _("Unassigned")
        else:
            month = group["month"]
            if isinstance(month, dt.datetime):
                month = timezone.localtime(month, desk_zone()).date()
            key = month.strftime("%Y-%m")
            label = formats.date_format(month, "YEAR_MONTH_FORMAT")
        rows.append(
            AttainmentRow(
                dimension=dimension,
                key=key,
                label=label,
                metric=group["metric"],
                metric_label=str(metric_labels.get(group["metric"], group["metric"])),
                met=group["met"],
                breached=group["breached"],
            )
        )
    return rows


METRIC_ORDER = Case(*[When(metric=m, then=Value(i)) for i, m in enumerate(METRICS)], output_field=IntegerField())


def _attainment_from_clocks(filters: ReportFilter, dimension: str) -> list[dict]:
    """The attainment groups read from the clocks (a partner filter: see `rollups_answer`)."""
    clocks = clocks_in_range(filters).filter(MET | BREACHED)
    columns = {
        "severity": ["incident__severity"],
        "partner": ["engagement__partner_id", "engagement__partner__name"],
        "owner": [
            "incident__owner_id",
            "incident__owner__first_name",
            "incident__owner__last_name",
            "incident__owner__username",
        ],
        "month": ["month"],
    }[dimension]
    if dimension == "month":
        clocks = clocks.annotate(month=TruncMonth("started_at", tzinfo=desk_zone()))
    order = {
        "severity": ["incident__severity"],
        "partner": [F("engagement__partner__name").asc(nulls_first=True), "engagement__partner_id"],
        "owner": [
            F("incident__owner__first_name").asc(nulls_last=True),
            "incident__owner__last_name",
            "incident__owner__username",
            "incident__owner_id",
        ],
        "month": ["month"],
    }[dimension]
    return list(
        clocks.values("metric", *columns)
        .annotate(met=Count("pk", filter=MET), breached=Count("pk", filter=BREACHED))
        .order_by(*order, METRIC_ORDER)
    )


# The attainment groups of several dimensions summed from the range's rollups, read once: one
# grouping set per dimension, each with the metric. A column a set does not group by is NULL in its
# rows, so one ORDER BY sorts every set as the per-dimension queries do (the set first).
ATTAINMENT_SQL = """
    SELECT {dimension}, r.metric, {columns}, sum(r.met), sum(r.breached)
    FROM ({rows}) AS r
    LEFT JOIN {partner} p ON p.id = r.partner_id
    LEFT JOIN {user} u ON u.id = r.owner_id
    GROUP BY GROUPING SETS ({sets})
    HAVING sum(r.met) > 0 OR sum(r.breached) > 0
    ORDER BY 1, 3, 5 NULLS FIRST, 4, 7 NULLS LAST, 8, 9, 6, 10, array_position(%s::text[], r.metric::text)
"""
# Each dimension's columns, in the statement's order (3 to 10).
ATTAINMENT_COLUMNS = {
    "severity": ("r.severity",),
    "partner": ("r.partner_id", "p.name"),
    "owner": ("r.owner_id", "u.first_name", "u.last_name", "u.username"),
    "month": ("date_trunc('month', r.day)::date",),
}


def _attainment_sql(dimensions, rows: str) -> str:
    """ATTAINMENT_SQL over the rows `rows` for these dimensions: the others' columns NULL, the first
    column the dimension's number (in DIMENSIONS), told by which columns its set groups by."""
    columns = [
        column if dimension in dimensions else "NULL"
        for dimension, names in ATTAINMENT_COLUMNS.items()
        for column in names
    ]
    which = " ".join(
        f"WHEN GROUPING({ATTAINMENT_COLUMNS[dimension][0]}) = 0 THEN {DIMENSIONS.index(dimension)}"
        for dimension in dimensions
    )
    return ATTAINMENT_SQL.format(
        dimension=f"CASE {which} END",
        columns=", ".join(columns),
        rows=rows,
        partner=Partner._meta.db_table,
        user=get_user_model()._meta.db_table,
        sets=", ".join(f"(r.metric, {', '.join(ATTAINMENT_COLUMNS[dimension])})" for dimension in dimensions),
    )


def _attainment_from_rollups(filters: ReportFilter, dimension: str) -> list[dict]:
    """The attainment groups of one dimension summed from the rollups (one query over a few rows a day)."""
    return _attainment_groups_from_rollups(filters, (dimension,))[dimension]


def _attainment_groups_from_rollups(filters: ReportFilter, dimensions) -> dict[str, list[dict]]:
    """{dimension: groups} summed from the rollups in one statement, under the clock queries' names."""
    rows = rollups_in_range(filters)
    columns = ("metric", "severity", "partner_id", "owner_id", "day", "met", "breached")
    sql, params = rows.values(*columns).query.sql_with_params()
    statement = _attainment_sql(dimensions, sql)
    grouped: dict[str, list[dict]] = {dimension: [] for dimension in dimensions}
    with connection.cursor() as cursor:
        cursor.execute(statement, (*params, list(METRICS)))
        for (
            number,
            metric,
            severity,
            partner_id,
            partner,
            owner_id,
            first,
            last,
            username,
            month,
            met,
            breached,
        ) in cursor.fetchall():
            group = {"metric": metric, "met": int(met), "breached": int(breached)}
            dimension = DIMENSIONS[number]
            if dimension == "severity":
                group["incident__severity"] = severity
            elif dimension == "partner":
                group.update(engagement__partner_id=partner_id, engagement__partner__name=partner)
            elif dimension == "owner":
                group.update(
                    incident__owner_id=owner_id,
                    incident__owner__first_name=first,
                    incident__owner__last_name=last,
                    incident__owner__username=username,
                )
            else:
                group["month"] = month
            grouped[dimension].append(group)
    return grouped


@dataclass
class AttainmentLine:
    """One value of a dimension with its row per metric (a row of the page's pivot table)."""

    key: str
    label: str
    cells: dict[str, AttainmentRow] = field(default_factory=dict)

    def cell_list(self, metrics=METRICS) -> list[AttainmentRow | None]:
        return [self.cells.get(metric) for metric in metrics]


def attainment_pivot(rows: list[AttainmentRow]) -> list[AttainmentLine]:
    """Rows regrouped per dimension value, in the query's order, for a value × metric table."""
    lines: dict[str, AttainmentLine] = {}
    for row in rows:
        line = lines.setdefault(row.key, AttainmentLine(key=row.key, label=row.label))
        line.cells[row.metric] = row
    return list(lines.values())


# Time to acknowledge and to resolve ---------------------------------------------------------


@dataclass(frozen=True)
class TimeToRow:
    metric: str  # acknowledge | resolve
    metric_label: str
    severity: str  # "" for all severities together
    severity_label: str
    clocks: int
    wall_p50: dt.timedelta | None
    wall_p90: dt.timedelta | None
    business_p50: dt.timedelta | None
    business_p90: dt.timedelta | None


def sla_time_to(*, user, filters: ReportFilter) -> list[TimeToRow]:
    """Median and p90 of our acknowledge and resolve times, overall and per severity.

    Our clocks only (the partners' are on the scorecard), stopped met or breached. Wall time is
    stopped_at − started_at (a reopened incident's resolve clock spans the reopening); business
    time is the clock's consumed time. One query: every figure is an aggregate with a FILTER.
    """
    if not reports_allowed(user):
        return []
    severities = ["", *Severity.values]
    values = _time_to_from_clocks(filters, severities) if filters.partner else _time_to_from_rollups(filters)
    metric_labels = dict(SlaClock.Metric.choices)
    severity_labels = dict(Severity.choices)
    rows = []
    for metric in TIME_TO_METRICS:
        for severity in severities:
            name = f"{metric}_{severity or 'all'}"
            if severity and not values.get(f"{name}_n"):
                continue
            rows.append(
                TimeToRow(
                    metric=metric,
                    metric_label=str(metric_labels[metric]),
                    severity=severity,
                    severity_label=str(severity_labels[severity]) if severity else _("All severities"),
                    clocks=values.get(f"{name}_n") or 0,
                    wall_p50=values.get(f"{name}_wall_p50"),
                    wall_p90=values.get(f"{name}_wall_p90"),
                    business_p50=values.get(f"{name}_business_p50"),
                    business_p90=values.get(f"{name}_business_p90"),
                )
            )
    return rows


def _time_to_from_clocks(filters: ReportFilter, severities: list[str]) -> dict:
    clocks = clocks_in_range(filters, family=False).filter(
        STOPPED_WITH_OUTCOME, family=SlaClock.Family.OURS, metric__in=TIME_TO_METRICS
    )
    figures = {}
    for metric in TIME_TO_METRICS:
        for severity in severities:
            when = Q(metric=metric, incident__severity=severity) if severity else Q(metric=metric)
            name = f"{metric}_{severity or 'all'}"
            figures[f"{name}_n"] = Count("pk", filter=when)
            figures[f"{name}_wall_p50"] = Percentile(WALL_TIME, 0.5, filter=when)
            figures[f"{name}_wall_p90"] = Percentile(WALL_TIME, 0.9, filter=when)
            figures[f"{name}_business_p50"] = Percentile("consumed", 0.5, filter=when)
            figures[f"{name}_business_p90"] = Percentile("consumed", 0.9, filter=when)
    return clocks.aggregate(**figures)


# Exact percentiles over the durations' rows (`SlaRollupTimes`) without sorting every duration.
# {rows} are the rows; {groups} the groups (g1, g2: text) each row counts in. Per group and kind
# (1 wall, 2 business), the rows' bucket ends summed (one sum per bucket, {wall_sums} and
# {business_sums}: no unnesting) give n, the last one ({last}), and for each fraction p the ranks
# lo = ⌊p(n − 1)⌋ and hi = ⌈p(n − 1)⌉ (from 0) lie in the first buckets whose sums exceed them
# (one past the number of sums up to the rank: `width_bucket`, a binary search of the sums); only
# the values of buckets blo..bhi of each row are read and sorted, `base` of the group's values
# lying below them; when both lie in the bucket holding only zero ({zero}), one value of it is read
# (any: they all compare equal, as ties do in percentile_cont's sort). Each group's targets are
# gathered in one row (`targets`), so the slices join the rows to a few dozen groups by hash rather
# than sorting every row (its arrays and ends) to merge them, and a row's array is read (detoasted)
# only for the targets whose buckets hold some of its values. The values are microseconds
# (`cases.sla.rollups.MICROSECONDS_SQL`); the two neighbours are turned back into the intervals the
# clocks hold (`interval_sql`) and interpolated as percentile_cont does (lo + (hi − lo) ×
# (p(n − 1) − ⌊p(n − 1)⌋), the same interval operations on the same intervals), so the figure is
# the same to the microsecond.
PERCENTILES_SQL = """
    WITH d AS MATERIALIZED (
        SELECT g.g1, g.g2, t.wall, t.business, t.wall_ends, t.business_ends
        FROM ({rows}) AS t CROSS JOIN LATERAL (VALUES {groups}) AS g(g1, g2)
    ),
    sums AS (
        SELECT d.g1, d.g2, ARRAY[{wall_sums}] AS wall, ARRAY[{business_sums}] AS business
        FROM d GROUP BY d.g1, d.g2
    ),
    ranks AS (
        SELECT s.g1, s.g2, x.kind, x.ends, x.ends[{last}] AS n, f.p,
               floor(f.p * (x.ends[{last}] - 1)::float8)::bigint AS lo,
               ceil(f.p * (x.ends[{last}] - 1)::float8)::bigint AS hi,
               f.p * (x.ends[{last}] - 1)::float8 - floor(f.p * (x.ends[{last}] - 1)::float8) AS frac
        FROM sums s CROSS JOIN LATERAL (VALUES (1, s.wall), (2, s.business)) AS x(kind, ends)
        CROSS JOIN (VALUES (0.5::float8), (0.9::float8)) AS f(p)
        WHERE x.ends[{last}] > 0
    ),
    located AS (
        SELECT row_number() OVER () AS target, r.g1, r.g2, r.kind, r.n, r.p, r.lo, r.hi, r.frac, b.blo, b.bhi,
               coalesce(r.ends[b.blo - 1], 0) AS base, b.blo = {zero} AND b.bhi = {zero} AS zero
        FROM ranks r CROSS JOIN LATERAL (
            SELECT width_bucket(r.lo, r.ends) + 1 AS blo, width_bucket(r.hi, r.ends) + 1 AS bhi
        ) AS b
    ),
    targets AS (
        SELECT l.g1, l.g2, array_agg(l.target) AS target, array_agg(l.kind) AS kind, array_agg(l.blo) AS blo,
               array_agg(l.bhi) AS bhi, array_agg(l.zero) AS zero
        FROM located l GROUP BY l.g1, l.g2
    ),
    slices AS (
        SELECT u.target, array_agg(u.v ORDER BY u.v) AS v
        FROM (
            SELECT x.target, unnest(
                (CASE WHEN x.kind = 1 THEN d.wall ELSE d.business END)
                [z.first:CASE WHEN x.zero THEN least(z.first, z.last) ELSE z.last END]
            ) AS v
            FROM d JOIN targets t ON t.g1 = d.g1 AND t.g2 = d.g2
            CROSS JOIN LATERAL unnest(t.target, t.kind, t.blo, t.bhi, t.zero) AS x(target, kind, blo, bhi, zero)
            CROSS JOIN LATERAL (
                SELECT coalesce(e.ends[x.blo - 1], 0) + 1 AS first, e.ends[x.bhi] AS last
                FROM (SELECT CASE WHEN x.kind = 1 THEN d.wall_ends ELSE d.business_ends END AS ends) AS e
            ) AS z
            WHERE z.first <= z.last
        ) AS u
        GROUP BY u.target
    )
    SELECT l.g1, l.g2, l.kind, l.p, l.n,
           CASE WHEN l.zero THEN interval '0'
                WHEN l.hi = l.lo THEN v.lo
                ELSE v.lo + (v.hi - v.lo) * l.frac END
    FROM located l JOIN slices s ON s.target = l.target
    CROSS JOIN LATERAL (
        SELECT {lo} AS lo, {hi} AS hi
    ) AS v
"""
KINDS = {1: "wall", 2: "business"}


def _bucket_sums(family: str) -> dict[str, str]:
    """The sums of each bucket end over a group's rows, as SQL (one per bound, and all values), and
    the index of the last one (the group's number of values)."""
    ends = range(1, len(TIME_BUCKETS[family]) + 2)
    sums = {f"{kind}_sums": ", ".join(f"sum(d.{kind}_ends[{j}])" for j in ends) for kind in ("wall", "business")}
    neighbours = {
        "lo": interval_sql("s.v[l.lo - l.base + 1]"),
        "hi": interval_sql("s.v[l.hi - l.base + 1]"),
    }
    return {"last": str(len(TIME_BUCKETS[family]) + 1), "zero": str(ZERO_BUCKET), **sums, **neighbours}


def time_percentiles(rows: QuerySet, groups: str, *, family: str) -> dict[tuple, tuple[int, dt.timedelta]]:
    """{(g1, g2, wall | business, 50 | 90): (n, percentile)} over the `SlaRollupTimes` rows `rows`
    of clocks of the family `family` (one query; their buckets are the family's), each row counted
    in the groups `groups`, SQL rows of (g1, g2) over its columns as t.column, text: exactly
    percentile_cont over every duration of each group, reading only the bucket of each rank."""
    columns = ["metric", "severity", "partner_id", "wall", "business", "wall_ends", "business_ends"]
    sql, params = rows.filter(family=family).values(*columns).query.sql_with_params()
    figures = {}
    with connection.cursor() as cursor:
        cursor.execute(PERCENTILES_SQL.format(rows=sql, groups=groups, **_bucket_sums(family)), params)
        for g1, g2, kind, p, n, value in cursor.fetchall():
            figures[(g1, g2, KINDS[kind], round(p * 100))] = (n, value)
    return figures


def times_in_range(filters: ReportFilter) -> QuerySet[SlaRollupTimes]:
    """The durations' rows of the range (month rows for its whole months, day rows for the rest),
    narrowed by severity; call after `rollups_in_range`, which folds the range first."""
    rows = SlaRollupTimes.objects.filter(rollup_span_condition(filters.start, filters.end))
    if filters.severity:
        rows = rows.filter(severity=filters.severity)
    return rows


def _time_to_from_rollups(filters: ReportFilter) -> dict:
    rollups_in_range(filters, family=False)  # the fold
    rows = times_in_range(filters).filter(metric__in=TIME_TO_METRICS)
    values = {}
    # Each row counts for its metric overall (severity "") and for its metric and severity.
    groups = "(t.metric::text, ''::text), (t.metric::text, t.severity::text)"
    for (metric, severity, kind, p), (n, value) in time_percentiles(rows, groups, family=SlaClock.Family.OURS).items():
        name = f"{metric}_{severity or 'all'}"
        values[f"{name}_n"] = n
        values[f"{name}_{kind}_p{p}"] = value
    return values


# Breaches ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreachRow:
    clock_id: int
    incident_reference: str
    incident_title: str
    severity: str
    severity_label: str
    owner: str  # the owner's name, "" when unassigned
    metric: str
    metric_label: str
    family: str
    family_label: str
    partner: str  # "" for our clocks
    target: dt.timedelta
    breached_at: dt.datetime | None
    state: str
    state_label: str
    overdue_wall: dt.timedelta | None  # breach → stop (or now, while it runs)
    overdue_business: dt.timedelta | None  # consumed − target at stop; None while running
    status_at_breach: str  # the incident status recorded with the breach, "" if none
    waiting_on: tuple[str, ...]
    pause_reason: str
    reason: str  # the facts above as one translated sentence


@dataclass(frozen=True)
class BreachPage:
    rows: list[BreachRow]
    page: Page  # number, paginator.count, has_next… for the pager

    @property
    def total(self) -> int:
        return self.page.paginator.count


def breach_reason_text(*, status: str, waiting_on, pause_reason: str, recorded: bool) -> str:
    """The breach's facts as one sentence in the active language (facts are stored, not prose)."""
    if not recorded:
        return _("Over target when the clock stopped.")
    parts = []
    if status:
        label = dict(Status.choices).get(status, status)
        parts.append(_("Incident %(status)s at breach.") % {"status": str(label).lower()})
    if waiting_on:
        parts.append(_("Waiting on %(partners)s.") % {"partners": ", ".join(waiting_on)})
    if pause_reason:
        parts.append(_("Last pause: “%(reason)s”.") % {"reason": pause_reason})
    return " ".join(parts)


def breach_queryset(*, user, filters: ReportFilter, now: dt.datetime | None = None) -> QuerySet:
    """Breached clocks in range (stopped breached, or running/paused past target), newest first, as values."""
    if not reports_allowed(user):
        return SlaClock.objects.none().values()
    now = now or timezone.now()
    breach_events = SlaClockEvent.objects.filter(clock_id=OuterRef("pk"), kind=SlaClockEvent.Kind.BREACH).order_by(
        "-at", "-id"
    )
    return (
        clocks_in_range(filters)
        .filter(BREACHED)
        .annotate(
            breach_data=Subquery(breach_events.values("data")[:1]),
            # The sweep stamps breached_at with its event's instant; a clock found over target only
            # when it stopped has neither, and breached at its stop. (No subquery in the sort key:
            # it would run for every breached clock, not only for the page.)
            breach_at=Coalesce("breached_at", "stopped_at", output_field=DateTimeField()),
        )
        .annotate(
            overdue_wall=Coalesce(F("stopped_at"), Value(now, output_field=DateTimeField())) - F("breach_at"),
            overdue_business=Case(
                When(stopped_at__isnull=False, then=F("consumed") - F("target")), output_field=DurationField()
            ),
        )
        .values(
            "pk",
            "incident__reference",
            "incident__title",
            "incident__severity",
            "incident__owner__first_name",
            "incident__owner__last_name",
            "incident__owner__username",
            "metric",
            "family",
            "engagement__partner__name",
            "target",
            "breach_at",
            "state",
            "overdue_wall",
            "overdue_business",
            "breach_data",
        )
        .order_by(F("breach_at").desc(nulls_last=True), "-pk")
    )


def breach_row(values: dict) -> BreachRow:
    """A row of `breach_queryset` as a BreachRow, with its labels in the active language."""
    data = values["breach_data"]
    facts = data if isinstance(data, dict) else {}
    waiting = tuple(str(name) for name in (facts.get("waiting_on") or []))
    status = str(facts.get("status") or "")
    pause_reason = str(facts.get("pause_reason") or "")
    overdue_business = values["overdue_business"]
    if overdue_business is not None and overdue_business < dt.timedelta(0):
        overdue_business = dt.timedelta(0)
    return BreachRow(
        clock_id=values["pk"],
        incident_reference=values["incident__reference"],
        incident_title=values["incident__title"],
        severity=values["incident__severity"],
        severity_label=str(dict(Severity.choices).get(values["incident__severity"], "")),
        owner=_person(
            values["incident__owner__first_name"],
            values["incident__owner__last_name"],
            values["incident__owner__username"],
        ),
        metric=values["metric"],
        metric_label=str(dict(SlaClock.Metric.choices).get(values["metric"], values["metric"])),
        family=values["family"],
        family_label=str(dict(SlaClock.Family.choices).get(values["family"], values["family"])),
        partner=values["engagement__partner__name"] or "",
        target=values["target"],
        breached_at=values["breach_at"],
        state=values["state"],
        state_label=str(dict(SlaClock.State.choices).get(values["state"], values["state"])),
        overdue_wall=values["overdue_wall"],
        overdue_business=overdue_business,
        status_at_breach=status,
        waiting_on=waiting,
        pause_reason=pause_reason,
        reason=breach_reason_text(
            status=status, waiting_on=waiting, pause_reason=pause_reason, recorded=isinstance(data, dict)
        ),
    )


class _CountedPaginator(Paginator):
    """A paginator told its count (summed from the rollups) instead of counting the rows."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


def breach_count(filters: ReportFilter) -> int:
    """How many clocks of the range breached: summed from the rollups (their `breached` is this
    list's rule), or, with a partner filter, counted over the clocks alone (no join for the rows)."""
    if filters.partner:
        return clocks_in_range(filters).filter(BREACHED).order_by().count()
    return rollups_in_range(filters).aggregate(n=Coalesce(Sum("breached"), 0))["n"]


def sla_breaches(
    *,
    user,
    filters: ReportFilter,
    page: int | str | None = 1,
    per_page: int | None = None,
    now=None,
    count: int | None = None,
) -> BreachPage:
    """One page of the breach list, BREACHES_PER_PAGE rows by default: the count from the rollups
    (or `count`, when the caller summed the range's breaches already: the report's attainment
    figures hold them), the page read along the `slaclock_breach_order_idx` index (latest breach
    first), never sorting every breach of the range to show one page."""
    rows = breach_queryset(user=user, filters=filters, now=now)
    if not reports_allowed(user):
        count = 0
    elif count is None:
        count = breach_count(filters)
    paged = _CountedPaginator(rows, per_page or BREACHES_PER_PAGE, count=count).get_page(page)
    return BreachPage(rows=[breach_row(values) for values in paged.object_list], page=paged)


def sla_breach_rows(*, user, filters: ReportFilter, now=None):
    """Every breach in range, streamed from a server-side cursor (for the CSV export)."""
    for values in breach_queryset(user=user, filters=filters, now=now).iterator(chunk_size=2000):
        yield breach_row(values)


# Partner scorecard -------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorecardRow:
    partner_id: int
    partner: str
    engagements: int  # engagements whose partner clocks started in range (notified in range)
    acknowledged: int  # partner acknowledge clocks stopped met or breached
    acknowledge_p50: dt.timedelta | None  # business time, partner's calendar
    acknowledge_p90: dt.timedelta | None
    acknowledge_wall_p50: dt.timedelta | None
    acknowledge_wall_p90: dt.timedelta | None
    resolved: int
    resolve_p50: dt.timedelta | None
    resolve_p90: dt.timedelta | None
    resolve_wall_p50: dt.timedelta | None
    resolve_wall_p90: dt.timedelta | None
    notices: int  # outbound notices sent to the partner in range (every kind)
    follow_ups: int  # of which follow-ups: each one a chase the partner made necessary
    met: int
    breached: int
    extra: dict = field(default_factory=dict)  # columns other apps register (`reports.extensions`), by key

    @property
    def attainment(self) -> Decimal | None:
        return _percent(self.met, self.met + self.breached)

    @property
    def extra_cells(self) -> list[str]:
        """The registered columns' texts, in the order of their headings."""
        return [self.extra.get(column.key, "—") for column in scorecard_columns()]


class GroupedSubquery(Subquery):
    """A scalar subquery over the grouped columns of a GROUP BY query, kept out of the GROUP BY.

    Django groups by every non-aggregate annotation, and PostgreSQL would then run the subquery
    once per input row before grouping; referencing only grouped columns, it can run per group.
    """

    def get_group_by_cols(self):
        return []


def _sent_in_range(filters: ReportFilter, **conditions):
    """Outbound notices sent in the report's range (and severity), narrowed by `conditions`."""
    start, end = filters.bounds()
    sent = Correspondence.objects.filter(
        direction=Correspondence.Direction.OUTBOUND,
        status=Correspondence.Status.SENT,
        sent_at__gte=start,
        sent_at__lt=end,
        **conditions,
    )
    if filters.severity:
        sent = sent.filter(incident__severity=filters.severity)
    return sent


def _sent_to_partner(filters: ReportFilter, **extra) -> GroupedSubquery:
    """How many outbound notices were sent in range to the outer row's partner (a scalar subquery)."""
    sent = _sent_in_range(filters, engagement__partner_id=OuterRef("engagement__partner_id"), **extra)
    # COUNT as a plain function: no GROUP BY inside, so the subquery always returns one row (0 too).
    counted = sent.order_by().values(n=Func(F("pk"), function="COUNT", output_field=IntegerField()))
    return GroupedSubquery(counted, output_field=IntegerField())


def sla_partner_scorecard(*, user, filters: ReportFilter) -> list[ScorecardRow]:
    """Per partner notified in range: their acknowledge and resolve times, notices, follow-ups,
    breaches and attainment. One grouped query over partner clocks; the notice counts are
    scalar subqueries per partner. The family filter does not apply (these are partner clocks)."""
    if not reports_allowed(user):
        return []
    groups = _scorecard_from_clocks(filters) if filters.partner else _scorecard_from_rollups(filters)
    extra = scorecard_extra(filters, [group["engagement__partner_id"] for group in groups])
    return [
        ScorecardRow(
            partner_id=(partner_id := group.pop("engagement__partner_id")),
            partner=group.pop("engagement__partner__name"),
            extra=extra[partner_id],
            **group,
        )
        for group in groups
    ]


def _scorecard_from_clocks(filters: ReportFilter) -> list[dict]:
    clocks = clocks_in_range(filters, family=False).filter(family=SlaClock.Family.PARTNER)
    ack = Q(STOPPED_WITH_OUTCOME, metric=SlaClock.Metric.ACKNOWLEDGE)
    resolve = Q(STOPPED_WITH_OUTCOME, metric=SlaClock.Metric.RESOLVE)
    grouped = (
        clocks.values("engagement__partner_id", "engagement__partner__name")
        .annotate(
            engagements=Count("engagement_id", distinct=True),
            acknowledged=Count("pk", filter=ack),
            acknowledge_p50=Percentile("consumed", 0.5, filter=ack),
            acknowledge_p90=Percentile("consumed", 0.9, filter=ack),
            acknowledge_wall_p50=Percentile(WALL_TIME, 0.5, filter=ack),
            acknowledge_wall_p90=Percentile(WALL_TIME, 0.9, filter=ack),
            resolved=Count("pk", filter=resolve),
            resolve_p50=Percentile("consumed", 0.5, filter=resolve),
            resolve_p90=Percentile("consumed", 0.9, filter=resolve),
            resolve_wall_p50=Percentile(WALL_TIME, 0.5, filter=resolve),
            resolve_wall_p90=Percentile(WALL_TIME, 0.9, filter=resolve),
            met=Count("pk", filter=MET),
            breached=Count("pk", filter=BREACHED),
            notices=_sent_to_partner(filters),
            follow_ups=_sent_to_partner(filters, kind=NoticeTemplate.Kind.FOLLOW_UP),
        )
        .order_by("engagement__partner__name", "engagement__partner_id")
    )
    return list(grouped)


# Per partner: the counts summed over its rollups (the percentiles and their counts come from the
# durations' rows, `time_percentiles`).
SCORECARD_SQL = """
    SELECT p.id, p.name, sum(r.engagements), sum(r.met), sum(r.breached)
    FROM ({rows}) AS r JOIN {partner} p ON p.id = r.partner_id
    GROUP BY p.id, p.name
    ORDER BY p.name, p.id
"""
# (field, metric, kind): the scorecard's durations.
SCORECARD_TIMES = (
    ("acknowledge_p", "acknowledge", "business"),
    ("acknowledge_wall_p", "acknowledge", "wall"),
    ("resolve_p", "resolve", "business"),
    ("resolve_wall_p", "resolve", "wall"),
)


def _scorecard_from_rollups(filters: ReportFilter) -> list[dict]:
    """The scorecard's groups from the rollups (one query), their percentiles from the durations'
    rows (one query) and the notices sent in range (one query)."""
    rows = rollups_in_range(filters, family=False).filter(family=SlaClock.Family.PARTNER)
    sql, params = rows.values("partner_id", "engagements", "met", "breached").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(SCORECARD_SQL.format(rows=sql, partner=Partner._meta.db_table), params)
        sums = cursor.fetchall()
    times = times_in_range(filters).filter(metric__in=TIME_TO_METRICS)
    figures = time_percentiles(times, "(t.partner_id::text, t.metric::text)", family=SlaClock.Family.PARTNER)
    sent = _sent_counts(filters, [partner_id for partner_id, *_rest in sums])
    groups = []
    for partner_id, name, engagements, met, breached in sums:
        group = {"engagement__partner_id": partner_id, "engagement__partner__name": name}
        group["engagements"], group["met"], group["breached"] = int(engagements), int(met), int(breached)
        for metric, counted in (("acknowledge", "acknowledged"), ("resolve", "resolved")):
            group[counted] = figures.get((str(partner_id), metric, "wall", 50), (0, None))[0]
        for prefix, metric, kind in SCORECARD_TIMES:
            for p in (50, 90):
                group[f"{prefix}{p}"] = figures.get((str(partner_id), metric, kind, p), (0, None))[1]
        group["notices"], group["follow_ups"] = sent.get(partner_id, (0, 0))
        groups.append(group)
    return groups


def _sent_counts(filters: ReportFilter, partner_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(notices, follow-ups) sent in range to each partner, in one grouped query."""
    if not partner_ids:
        return {}
    sent = _sent_in_range(filters, engagement__partner_id__in=partner_ids)
    counted = (
        sent.values("engagement__partner_id")
        .annotate(n=Count("pk"), f=Count("pk", filter=Q(kind=NoticeTemplate.Kind.FOLLOW_UP)))
        .order_by()
    )
    return {row["engagement__partner_id"]: (row["n"], row["f"]) for row in counted}


def report_data_version() -> str:
    """A fingerprint that changes whenever a report figure may: the newest clock, clock event,
    timeline row and message. Every clock state change writes a clock event and every incident
    change a timeline row, so cached figures keyed on it are never stale
    beyond their cache lifetime. Four index lookups in one statement."""
    tables = [model._meta.db_table for model in (SlaClock, SlaClockEvent, CaseEvent, Correspondence)]
    sql = "SELECT " + ", ".join(f'(SELECT max(id) FROM "{table}")' for table in tables)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return "-".join(str(value or 0) for value in cursor.fetchone())
