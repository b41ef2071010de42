"""Every report table as CSV: translated headers, durations in decimal hours, ISO 8601 instants.

Written for spreadsheets: the view prefixes a UTF-8 byte order mark so Excel reads accents
right; numbers use a point whatever the language, so the columns stay numeric.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models.incident import Status
from cases.sla.reports.extensions import scorecard_columns
from cases.sla.reports.filters import ReportFilter
from cases.sla.reports.selectors import (
    DIMENSIONS,
    sla_attainment,
    sla_breach_rows,
    sla_partner_scorecard,
    sla_time_to,
)

TABLES = ("attainment", "time_to", "breaches", "scorecard")


def hours(value: dt.timedelta | None) -> str:
    """A duration as decimal hours with two decimals ("1.25"); empty when there is none."""
    if value is None:
        return ""
    return f"{value.total_seconds() / 3600:.2f}"


def instant(value: dt.datetime | None) -> str:
    """An instant in ISO 8601 with the offset of the current (the viewer's) time zone."""
    if value is None:
        return ""
    return timezone.localtime(value).isoformat(timespec="seconds")


def _percent(value) -> str:
    return "" if value is None else f"{value:.1f}"


def _dimension_labels() -> dict[str, str]:
    return {"severity": _("Severity"), "partner": _("Partner"), "owner": _("Owner"), "month": _("Month")}


def attainment_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [_("Dimension"), _("Value"), _("Metric"), _("Clocks"), _("Met"), _("Breached"), _("Attainment (%)")]

    def rows():
        labels = _dimension_labels()
        for dimension in DIMENSIONS:
            for row in sla_attainment(user=user, filters=filters, dimension=dimension):
                value = row.key if dimension == "month" else row.label
                yield [
                    labels[dimension],
                    value,
                    row.metric_label,
                    str(row.clocks),
                    str(row.met),
                    str(row.breached),
                    _percent(row.attainment),
                ]

    return header, rows()


def time_to_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Metric"),
        _("Severity"),
        _("Clocks"),
        _("Wall time median (h)"),
        _("Wall time p90 (h)"),
        _("Business time median (h)"),
        _("Business time p90 (h)"),
    ]

    def rows():
        for row in sla_time_to(user=user, filters=filters):
            yield [
                row.metric_label,
                row.severity_label,
                str(row.clocks),
                hours(row.wall_p50),
                hours(row.wall_p90),
                hours(row.business_p50),
                hours(row.business_p90),
            ]

    return header, rows()


def breaches_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Incident"),
        _("Title"),
        _("Severity"),
        _("Owner"),
        _("Metric"),
        _("Clocks"),
        _("Partner"),
        _("Target (h)"),
        _("Breached at"),
        _("State"),
        _("Overdue, wall time (h)"),
        _("Overdue, business time (h)"),
        _("Status at breach"),
        _("Waiting on"),
        _("Last pause reason"),
        _("Reason"),
    ]

    def rows():
        statuses = dict(Status.choices)
        for row in sla_breach_rows(user=user, filters=filters):
            yield [
                row.incident_reference,
                row.incident_title,
                row.severity_label,
                row.owner,
                row.metric_label,
                row.family_label,
                row.partner,
                hours(row.target),
                instant(row.breached_at),
                row.state_label,
                hours(row.overdue_wall),
                hours(row.overdue_business),
                str(statuses.get(row.status_at_breach, row.status_at_breach)),
                "; ".join(row.waiting_on),
                row.pause_reason,
                row.reason,
            ]

    return header, rows()


def scorecard_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Partner"),
        _("Engagements"),
        _("Acknowledged"),
        _("Acknowledge median, business (h)"),
        _("Acknowledge p90, business (h)"),
        _("Acknowledge median, wall (h)"),
        _("Acknowledge p90, wall (h)"),
        _("Resolved"),
        _("Resolve median, business (h)"),
        _("Resolve p90, business (h)"),
        _("Resolve median, wall (h)"),
        _("Resolve p90, wall (h)"),
        _("Notices sent"),
        _("Follow-ups"),
        _("Met"),
        _("Breached"),
        _("Attainment (%)"),
        *[str(column.label) for column in scorecard_columns()],
    ]

    def rows():
        for row in sla_partner_scorecard(user=user, filters=filters):
            yield [
                row.partner,
                str(row.engagements),
                str(row.acknowledged),
                hours(row.acknowledge_p50),
                hours(row.acknowledge_p90),
                hours(row.acknowledge_wall_p50),
                hours(row.acknowledge_wall_p90),
                str(row.resolved),
                hours(row.resolve_p50),
                hours(row.resolve_p90),
                hours(row.resolve_wall_p50),
                hours(row.resolve_wall_p90),
                str(row.notices),
                str(row.follow_ups),
                str(row.met),
                str(row.breached),
                _percent(row.attainment),
                *row.extra_cells,
            ]

    return header, rows()


TABLE_BUILDERS: dict[str, Callable[..., tuple[list[str], Iterator[list[str]]]]] = {
    "attainment": attainment_table,
    "time_to": time_to_table,
    "breaches": breaches_table,
    "scorecard": scorecard_table,
}
