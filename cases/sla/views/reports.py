"""SLA reports for leads: attainment, times to acknowledge and resolve, breaches, partner scorecards.

One page with a filter form (htmx swaps the form and results together and pushes the URL; the
form and every link also work as plain GETs) and a CSV export of each table with the same
filters. The figures come from `cases.sla.reports`; this module only arranges them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required, permission_required
from django.core.cache import cache
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases.models import SlaClock
from cases.sla.reports import (
    METRICS,
    ReportFilter,
    Series,
    SlaReportForm,
    attainment_pivot,
    bar_chart_svg,
    sla_attainment_all,
    sla_breaches,
    sla_partner_scorecard,
    sla_time_to,
)
from cases.sla.reports.export import TABLE_BUILDERS
from cases.sla.reports.extensions import scorecard_columns
from cases.sla.reports.selectors import report_data_version

PERMISSION = "cases.view_sla_reports"
REPORT_PAGE = "cases/sla_report.html"
REPORT_CACHE_SECONDS = 300


def _hours(value) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 1)


def _attainment_chart(chart_id: str, title: str, description: str, lines) -> str:
    metric_labels = dict(SlaClock.Metric.choices)
    used = [metric for metric in METRICS if any(metric in line.cells for line in lines)]
    series = [
        Series(
            str(metric_labels[metric]),
            [float(line.cells[metric].attainment) if metric in line.cells else None for line in lines],
        )
        for metric in used
    ]
    return bar_chart_svg(
        chart_id=chart_id,
        title=title,
        description=description,
        categories=[line.label for line in lines],
        series=series,
        unit="%",
        max_value=100,
    )


def report_context(*, user, filters: ReportFilter, page) -> dict:
    """Every table and chart of the page for one filter (a fixed number of queries).

    The aggregates scan every clock of the range (a year of a busy desk: ~600,000), so they are
    cached for REPORT_CACHE_SECONDS under the data's fingerprint (`report_data_version`, which
    moves with every clock event, timeline row and message) and the language of the labels.
    Every lead sees the same figures; the breach page is always read live.
    """
    key = (
        "sla-report:"
        + hashlib.sha256(
            f"{report_data_version()}|{translation.get_language()}|{urlencode(filters.query())}".encode()
        ).hexdigest()
    )
    figures = cache.get(key)
    query = urlencode(filters.query())
    if figures is None:
        figures = _report_figures(user=user, filters=filters)
        # Their sections written once (the same for every lead, in this language): a year's tables
        # were two thirds of the page's CPU on every view.
        shown = {**figures, "query": query, "scorecard_columns": scorecard_columns()}
        figures["sections"] = {
            "top": render_to_string(f"{REPORT_PAGE}#figures_top", shown),
            "scorecard": render_to_string(f"{REPORT_PAGE}#figures_scorecard", shown),
        }
        cache.set(key, figures, REPORT_CACHE_SECONDS)
    return {
        **figures,
        # The breaches of the range are the attainment's breached clocks (the same rows and rule).
        "breaches": sla_breaches(user=user, filters=filters, page=page, count=figures.get("breach_total")),
        "query": query,
    }


def _report_figures(*, user, filters: ReportFilter) -> dict:
    grouped = sla_attainment_all(user=user, filters=filters)
    attainment = {dimension: attainment_pivot(rows) for dimension, rows in grouped.items()}
    time_to = sla_time_to(user=user, filters=filters)
    resolve_by_severity = [row for row in time_to if row.metric == "resolve" and row.severity]
    charts = {
        "month": _attainment_chart(
            "chart-attainment-month",
            _("Attainment by month"),
            _("Share of clocks met, per month and metric, in percent."),
            attainment["month"],
        ),
        "severity": _attainment_chart(
            "chart-attainment-severity",
            _("Attainment by severity"),
            _("Share of clocks met, per severity and metric, in percent."),
            attainment["severity"],
        ),
        "resolve": bar_chart_svg(
            chart_id="chart-resolve",
            title=_("Time to resolve by severity"),
            description=_("Median and 90th percentile of our time to resolve, in business hours."),
            categories=[row.severity_label for row in resolve_by_severity],
            series=[
                Series(_("Median"), [_hours(row.business_p50) for row in resolve_by_severity]),
                Series(_("90th percentile"), [_hours(row.business_p90) for row in resolve_by_severity]),
            ],
            unit="h",
        ),
    }
    return {
        "attainment": attainment,
        "attainment_sections": [
            ("severity", _("By severity"), attainment["severity"]),
            ("partner", _("By partner"), attainment["partner"]),
            ("owner", _("By owner"), attainment["owner"]),
            ("month", _("By month"), attainment["month"]),
        ],
        "metric_labels": [str(label) for value, label in SlaClock.Metric.choices],
        "time_to": time_to,
        "has_resolve_chart": bool(resolve_by_severity),
        "scorecard": sla_partner_scorecard(user=user, filters=filters),
        "charts": charts,
        # Every breached clock of the range is in exactly one severity's rows.
        "breach_total": sum(row.breached for row in grouped["severity"]),
    }


@login_required
@permission_required(PERMISSION, raise_exception=True)
def sla_report(request):
    """The report page; an htmx request aimed at #report gets the form and results alone."""
    form = SlaReportForm(request.GET or None)
    filters = form.report_filter()
    context = {"form": form, "filters": filters}
    if filters is not None:
        context.update(report_context(user=request.user, filters=filters, page=request.GET.get("page")))
    partial = request.htmx and request.htmx.target == "report"
    return render(request, f"{REPORT_PAGE}#report" if partial else REPORT_PAGE, context)


CSV_CHUNK_CHARS = 64 * 1024  # text sent per chunk of a streamed CSV (not a chunk per row)
CSV_BATCH_ROWS = 250  # rows handed to the CSV writer at once (writerows: one call, not one per row)


def _stream(*, language: str, zone, build, user, filters: ReportFilter):
    """The CSV lines, generated while the response streams, in the viewer's language and zone.

    The header goes out at once; then rows are written CSV_BATCH_ROWS at a time into a buffer
    sent once it holds CSV_CHUNK_CHARS, so a year of breaches is a few hundred writes to the
    client instead of one per row.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    with translation.override(language), timezone.override(zone):
        header, rows = build(user=user, filters=filters)
        buffer.write("\ufeff")  # the BOM: Excel then reads UTF-8
        writer.writerow(header)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        while batch := list(itertools.islice(rows, CSV_BATCH_ROWS)):
            writer.writerows(batch)
            if buffer.tell() >= CSV_CHUNK_CHARS:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()


@login_required
@permission_required(PERMISSION, raise_exception=True)
def sla_report_csv(request, table: str):
    """One report table as CSV, with the page's filters."""
    build = TABLE_BUILDERS.get(table)
    if build is None:
        raise Http404
    filters = SlaReportForm(request.GET or None).report_filter()
    if filters is None:
        return HttpResponseBadRequest(_("The report filters are not valid; correct them on the report page."))
    response = StreamingHttpResponse(
        _stream(
            language=translation.get_language(),
            zone=timezone.get_current_timezone(),
            build=build,
            user=request.user,
            filters=filters,
        ),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"sla-{table.replace('_', '-')}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("sla/reports/", sla_report, name="sla_report"),
    path("sla/reports/<str:table>.csv", sla_report_csv, name="sla_report_csv"),
]
