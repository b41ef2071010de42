"""SLA reports for leads: every figure is a SQL aggregate over the day rollups of the clocks
(`SlaRollup`, kept by `cases.sla.rollups`; docs/performance.md), or over the `SlaClock` rows
themselves with a partner filter, with the same rules and the same figures.

Each selector takes the user (nothing unless they hold `cases.view_sla_reports`) and a
`ReportFilter` (build it with `SlaReportForm(request.GET).report_filter()` or directly):

    ReportFilter(start: date, end: date, severity: str = "", partner: int | None = None, family: str = "")
        Whole days of the desk's zone (settings.PAYHEALTH_TIME_ZONE), both ends included, on
        the clock's `started_at`; severity = the incident's current severity; partner = that
        partner's clocks plus our clocks on incidents engaging it; family = ours | partner.

    sla_attainment(*, user, filters, dimension) -> list[AttainmentRow]   (one grouped query)
        dimension in DIMENSIONS = ("severity", "partner", "owner", "month"; months in the desk's zone).
        AttainmentRow: dimension, key ("sev1" | partner id | user id | "2026-10"; "" = none),
        label, metric, metric_label, met, breached; properties clocks (= met + breached) and
        attainment (Decimal percent, 1 decimal; None without outcomes).
        Outcome rules: met = stopped met; breached = stopped breached, or running/paused with
        breached_at set (also a cancelled clock that had breached); running within target and
        cancelled-unbreached clocks are left out. The recurring update clock counts once, by
        its current cycle.
    sla_attainment_all(*, user, filters) -> {dimension: list[AttainmentRow]}
        The same rows for every dimension, from the rollups in one statement (grouping sets).
    attainment_pivot(rows) -> list[AttainmentLine(key, label, cells: {metric: AttainmentRow})]

    sla_time_to(*, user, filters) -> list[TimeToRow]                        (one aggregate query)
        Our acknowledge and resolve clocks stopped met or breached; the family filter does not
        apply. A row for all severities (severity "") then one per severity that has clocks.
        TimeToRow: metric, metric_label, severity, severity_label, clocks, wall_p50, wall_p90,
        business_p50, business_p90 (timedelta | None; wall = stopped_at − started_at,
        business = consumed; percentile_cont, i.e. linear interpolation).

    sla_breaches(*, user, filters, page=1, per_page=50, now=None) -> BreachPage(rows, page)
    sla_breach_rows(*, user, filters, now=None) -> Iterator[BreachRow]   (all rows, streamed)
        Breached clocks in range, latest breach first. BreachRow: clock_id, incident_reference,
        incident_title, severity, severity_label, owner, metric, metric_label, family,
        family_label, partner, target, breached_at, state, state_label, overdue_wall (breach →
        stop or now), overdue_business (consumed − target at stop; None while running),
        status_at_breach, waiting_on, pause_reason (facts of the breach SlaClockEvent's data),
        reason (those facts as a translated sentence).

    sla_partner_scorecard(*, user, filters) -> list[ScorecardRow]          (one grouped query)
        Partners with partner clocks started in range (i.e. first notified in range); the
        family filter does not apply. ScorecardRow: partner_id, partner, engagements,
        acknowledged, acknowledge_p50/_p90 (business), acknowledge_wall_p50/_p90, resolved,
        resolve_p50/_p90, resolve_wall_p50/_p90, notices (outbound notices sent to the partner
        in range, by sent_at), follow_ups (of which kind follow_up), met, breached; property
        attainment.

`bar_chart_svg` draws the page's charts; `cases.sla.reports.export` turns each table into CSV rows.
"""

from cases.sla.reports.charts import Series, bar_chart_svg
from cases.sla.reports.filters import ReportFilter, SlaReportForm
from cases.sla.reports.selectors import (
    DIMENSIONS,
    METRICS,
    AttainmentLine,
    AttainmentRow,
    BreachPage,
    BreachRow,
    ScorecardRow,
    TimeToRow,
    attainment_pivot,
    breach_reason_text,
    sla_attainment,
    sla_attainment_all,
    sla_breach_rows,
    sla_breaches,
    sla_partner_scorecard,
    sla_time_to,
)

__all__ = [
    "DIMENSIONS",
    "METRICS",
    "AttainmentLine",
    "AttainmentRow",
    "BreachPage",
    "BreachRow",
    "ReportFilter",
    "ScorecardRow",
    "Series",
    "SlaReportForm",
    "TimeToRow",
    "attainment_pivot",
    "bar_chart_svg",
    "breach_reason_text",
    "sla_attainment",
    "sla_attainment_all",
    "sla_breach_rows",
    "sla_breaches",
    "sla_partner_scorecard",
    "sla_time_to",
]
