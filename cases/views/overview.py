"""The overview: the desk at a glance, every figure a link to the list it counts, and the last 12
weeks' trends as server-rendered SVG charts (each with a data table)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from cases.selectors import WeekTrend, incident_overview, incident_trends
from cases.sla.reports.charts import Series, bar_chart_svg


def queue_url(**params) -> str:
    """The queue (the home page) with these filters, as the queue itself writes them."""
    query = urlencode([(key, value) for key, value in params.items() if value])
    return f"{reverse('home')}?{query}" if query else reverse("home")


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 60


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 3600


def _figure(value: float) -> str:
    """2, 2.5, 1.25: up to two decimals, none when whole, in the viewer's number format."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return number_format(Decimal(text), decimal_pos=max(len(text.partition(".")[2]), 0))


def trend_charts(weeks: list[WeekTrend]) -> list[dict]:
    """The four charts of the overview, each an SVG with its title and description."""
    labels = [date_format(week.start, "M j") for week in weeks]
    span = {
        "first": date_format(weeks[0].start, "DATE_FORMAT"),
        "last": date_format(weeks[-1].end, "DATE_FORMAT"),
    }
    charts = [
        (
            "trend-volume",
            _("Incidents opened and resolved per week"),
            _("Incidents opened and incidents resolved in each week from %(first)s to %(last)s.") % span,
            [
                Series(_("Opened"), [week.opened for week in weeks]),
                Series(_("Resolved"), [week.resolved for week in weeks]),
            ],
            "",
            None,
        ),
        (
            "trend-mtta",
            _("Median time to acknowledge per week (minutes)"),
            _("Median minutes from opening to acknowledgement, per week of acknowledgement, %(first)s to %(last)s.")
            % span,
            [Series(_("MTTA"), [_minutes(week.mtta) for week in weeks])],
            _("min"),
            None,
        ),
        (
            "trend-mttr",
            _("Median time to resolve per week (hours)"),
            _("Median hours from opening to resolution, per week of resolution, %(first)s to %(last)s.") % span,
            [Series(_("MTTR"), [_hours(week.mttr) for week in weeks])],
            _("h"),
            None,
        ),
        (
            "trend-attainment",
            _("SLA attainment per week (%)"),
            _("Clocks met out of clocks met or breached, per week of the outcome, %(first)s to %(last)s.") % span,
            [Series(_("Attainment"), [None if week.attainment is None else float(week.attainment) for week in weeks])],
            "%",
            100,
        ),
    ]
    return [
        {
            "id": chart_id,
            "title": title,
            "svg": bar_chart_svg(
                chart_id=chart_id,
                title=title,
                description=description,
                categories=labels,
                series=series,
                unit=unit,
                max_value=top,
                value_format=_figure,
            ),
        }
        for chart_id, title, description, series, unit, top in charts
    ]


@login_required
@permission_required("cases.view_incident", raise_exception=True)
def overview(request):
    """The desk at a glance: open incidents by severity (each a link to its list), the most urgent
    open ones, and the trends of the last 12 weeks."""
    context = incident_overview(user=request.user)
    weeks = incident_trends(user=request.user)
    for week in weeks:
        week.opened_url = queue_url(status="all", created_from=week.start.isoformat(), created_to=week.end.isoformat())
    context.update(
        open_url=queue_url(status="open"),
        mine_url=queue_url(status="open", owner="me"),
        severity_tiles=[
            {"severity": severity, "count": count, "url": queue_url(status="open", severity=severity.value)}
            for severity, count in context["by_severity"]
        ],
        weeks=weeks,
        charts=trend_charts(weeks),
    )
    return render(request, "cases/home.html", context)
