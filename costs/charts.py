"""The effective-cost chart: billed bps against expected bps over months or days, as server-rendered
SVG built like the payment-data charts (`monitoring.charts.svg`): an image with a title and a
description, every point with its <title>, the figures in a table next to it on the page."""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from costs.effective import SeriesPoint
from monitoring.charts.svg import BOTTOM, HEIGHT, LEFT, OBSERVED, RIGHT, TOP, WIDTH, _open

EXPECTED = "#15803d"
STEPS = (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500)


def bps_range(values: Sequence[float]) -> tuple[float, float, int]:
    """An axis from just under the lowest value to over the highest in 4–6 round steps."""
    if not values:
        return 0.0, 10.0, 5
    low, high = min(values), max(values)
    if high - low < 0.5:
        low, high = low - 1, high + 1
    for step in STEPS:
        bottom = math.floor(low / step) * step
        steps = max(math.ceil((high - bottom) / step - 1e-9), 1)
        if steps <= 6:
            return bottom, bottom + max(steps, 4) * step, max(steps, 4)
    step = STEPS[-1]
    bottom = math.floor(low / step) * step
    return bottom, bottom + 6 * step, 6


def _bps(value: float) -> str:
    return f"{value:.2f}"


def bps_chart_svg(*, chart_id: str, title: str, description: str, points: Sequence[SeriesPoint], by: str) -> SafeString:
    """Two lines, billed (blue) and expected (green) bps, one point per month or day; a bucket
    without priced billing breaks both lines."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base_y = TOP + plot_h
    values = [float(v) for p in points for v in (p.billed_bps, p.expected_bps) if v is not None]
    bottom, top, steps = bps_range(values)
    count = max(len(points), 1)

    def x_of(index: int) -> float:
        return LEFT + (plot_w * (index + 0.5) / count)

    def y_of(value: float) -> float:
        return base_y - plot_h * (min(max(value, bottom), top) - bottom) / (top - bottom)

    out = _open(chart_id, title, description, WIDTH, HEIGHT)
    for step in range(steps + 1):
        value = bottom + (top - bottom) * step / steps
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{_bps(value)}</text>')
    label_format = "M Y" if by == "month" else "d M"
    labels = [date_format(point.at, label_format) for point in points]
    for name, colour, css, attribute in (
        (_("Billed bps"), OBSERVED, "chart-billed", "billed_bps"),
        (_("Expected bps"), EXPECTED, "chart-expected", "expected_bps"),
    ):
        lines: list[list[str]] = [[]]
        for index, point in enumerate(points):
            value = getattr(point, attribute)
            if value is None:
                lines.append([])
                continue
            x, y = x_of(index), y_of(float(value))
            lines[-1].append(f"{x:.1f},{y:.1f}")
            tip = f"{labels[index]} · {name}: {_bps(float(value))}"
            out.append(
                f'<circle class="chart-point {css}" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        for line in lines:
            if len(line) > 1:
                out.append(
                    f'<polyline class="{css}" points="{" ".join(line)}" fill="none" stroke="{colour}" '
                    f'stroke-width="1.5"><title>{escape(name)}</title></polyline>'
                )
    every = max(1, math.ceil(count / 12))
    for index, label in enumerate(labels):
        if index % every:
            continue
        out.append(
            f'<text x="{x_of(index):.1f}" y="{base_y + 18}" text-anchor="middle" fill="#57606a">{escape(label)}</text>'
        )
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base_y}" y2="{base_y}" stroke="#57606a"/>')
    x = LEFT
    for colour, label in ((OBSERVED, _("Billed bps")), (EXPECTED, _("Expected bps"))):
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="18" fill="#24292f">{escape(label)}</text>')
        x += 28 + 6 * len(label)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text went through escape()


def series_charts(series_list, *, chart_id: str, by: str) -> list[dict]:
    """Each currency's series as a chart with its table rows, for a template."""
    charts = []
    for index, series in enumerate(series_list):
        cohort = ", ".join(f"{key} {value}" for key, value in sorted(series.cohort.items())) or _("all cohorts")
        if by == "month":
            title = _("%(partner)s: billed and expected bps by month, %(currency)s (%(cohort)s)")
        else:
            title = _("%(partner)s: billed and expected bps by day, %(currency)s (%(cohort)s)")
        title %= {"partner": series.partner, "currency": series.currency, "cohort": cohort}
        description = _("The effective cost of the priced billing against what the rate cards give.")
        charts.append(
            {
                "title": title,
                "currency": series.currency,
                "svg": bps_chart_svg(
                    chart_id=f"{chart_id}-{index}", title=title, description=description, points=series.points, by=by
                ),
                "points": series.points,
            }
        )
    return charts
