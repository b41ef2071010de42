"""Server-rendered SVG charts of approval rates: no JavaScript, no chart library.

Like the SLA reports' bar charts (`cases.sla.reports.charts`), each chart is an image with a
title and a description for screen readers (role="img", or "group" when its marks are links;
aria-labelledby), every mark carries a
<title> (the browser's tooltip), and the page puts a table with the same numbers next to it.
Every interpolated text goes through escape(); numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from cases.sla.reports.charts import PALETTE

WIDTH = 720
HEIGHT = 260
LEFT = 52
RIGHT = 12
TOP = 28
BOTTOM = 36
OBSERVED = "#1f6feb"
BAND = "#9ca3af"
SHADE = "#fde68a"
MARKER = "#b91c1c"
# Decline codes in stacked bars: the SLA palette, then more distinct hues; "other" is grey.
CODE_COLOURS = (*PALETTE, "#0891b2", "#be123c", "#4d7c0f", "#a16207")
OTHER_COLOUR = "#9ca3af"


@dataclass(frozen=True)
class Point:
    at: datetime
    rate: float | None  # 0–1; None without attempts
    low: float | None = None  # the expected band, 0–1
    high: float | None = None


@dataclass(frozen=True)
class Marker:
    at: datetime
    label: str
    url: str = ""


def _percent(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + " %"


def _open(
    chart_id: str, title: str, description: str, width: int, height: int, css: str = "chart", *, links: bool = False
) -> list[str]:
    """The chart's opening: an image, or a group when it holds links (an image's parts are not
    reachable, so links inside one would be lost to keyboards and screen readers)."""
    cid = escape(chart_id)
    role = "group" if links else "img"
    size = 'width="100%"' if css == "chart" else f'width="{width}" height="{height}"'
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" id="{cid}" viewBox="0 0 {width} {height}" '
        f'{size} role="{role}" aria-labelledby="{cid}-title {cid}-desc" font-family="sans-serif" font-size="11">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
    ]


TICK_STEPS = (0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25)


def rate_range(points: Sequence[Point]) -> tuple[float, float, int]:
    """The value axis (bottom, top, steps): four to six steps of a round size (¼, ½, 1, 2, 2.5,
    5, 10, 20 or 25 points) from just under the lowest rate or band edge to over the highest,
    never past 100 % (an axis from 0 would flatten every drop)."""
    values = [v for p in points for v in (p.rate, p.low, p.high) if v is not None]
    if not values:
        return 0.0, 1.0, 4
    low, high = min(values), max(values)
    for step in TICK_STEPS:
        for steps in (4, 5, 6):
            bottom = max(0.0, math.floor(low / step + 1e-9) * step)
            if bottom + steps * step > 1.0 + 1e-9:
                bottom = 1.0 - steps * step
            if bottom >= -1e-9 and bottom <= low + 1e-9 and bottom + steps * step >= high - 1e-9:
                return max(bottom, 0.0), bottom + steps * step, steps
    return 0.0, 1.0, 4


def rate_chart_svg(
    *,
    chart_id: str,
    title: str,
    description: str,
    points: Sequence[Point],
    start: datetime,
    end: datetime,
    shade: tuple[datetime, datetime] | None = None,
    markers: Sequence[Marker] = (),
    observed_label: str,
    band_label: str = "",
    shade_label: str = "",
    time_format: str = "d M H:i",  # a Django date format: month names in the active language
) -> SafeString:
    """The observed rate as a line over its expected band (a grey area), the impact window
    shaded, findings as marks on the time axis. Times are shown in the current time zone."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    base_y = TOP + plot_h
    bottom, top, steps = rate_range(points)
    span_s = max((end - start).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        return LEFT + plot_w * min(max((at - start).total_seconds() / span_s, 0.0), 1.0)

    def y_of(value: float) -> float:
        return base_y - plot_h * (min(max(value, bottom), top) - bottom) / (top - bottom)

    out = _open(chart_id, title, description, WIDTH, HEIGHT, links=any(marker.url for marker in markers))
    for step in range(steps + 1):
        value = bottom + (top - bottom) * step / steps
        y = y_of(value)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">{_percent(value)}</text>')
    if shade is not None:
        x1, x2 = x_of(shade[0]), x_of(shade[1])
        out.append(
            f'<rect class="chart-shade" x="{x1:.1f}" y="{TOP}" width="{max(x2 - x1, 1):.1f}" height="{plot_h}" '
            f'fill="{SHADE}" fill-opacity="0.6"><title>{escape(shade_label)}</title></rect>'
        )
    # The band: one polygon per run of points that have one.
    runs: list[list[Point]] = [[]]
    for point in points:
        if point.low is None or point.high is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(point)
    for run in runs:
        if not run:
            continue
        upper = [f"{x_of(p.at):.1f},{y_of(p.high):.1f}" for p in run]
        lower = [f"{x_of(p.at):.1f},{y_of(p.low):.1f}" for p in reversed(run)]
        out.append(
            f'<polygon class="chart-band" points="{" ".join(upper + lower)}" fill="{BAND}" fill-opacity="0.35">'
            f"<title>{escape(band_label)}</title></polygon>"
        )
    # The observed line, broken where a bucket has no attempts.
    segment: list[str] = []
    lines: list[list[str]] = [segment]
    for point in points:
        if point.rate is None:
            segment = []
            lines.append(segment)
            continue
        segment.append(f"{x_of(point.at):.1f},{y_of(point.rate):.1f}")
    for line in lines:
        if len(line) == 1:
            x, y = line[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2" fill="{OBSERVED}"/>')
        elif line:
            out.append(
                f'<polyline class="chart-observed" points="{" ".join(line)}" fill="none" stroke="{OBSERVED}" '
                f'stroke-width="1.5"><title>{escape(observed_label)}</title></polyline>'
            )
    for marker in markers:
        x = x_of(marker.at)
        mark = (
            f'<path class="chart-marker" d="M{x:.1f},{base_y + 2} l-5,9 h10 z" fill="{MARKER}">'
            f"<title>{escape(marker.label)}</title></path>"
        )
        if marker.url:
            mark = f'<a href="{escape(marker.url)}">{mark}</a>'
        out.append(mark)
    # Time axis: five labels.
    for step in range(5):
        at = start + (end - start) * step / 4
        x = LEFT + plot_w * step / 4
        anchor = "start" if step == 0 else "end" if step == 4 else "middle"
        label = date_format(timezone.localtime(at), time_format)
        out.append(f'<text x="{x:.1f}" y="{base_y + 24}" text-anchor="{anchor}" fill="#57606a">{escape(label)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base_y}" y2="{base_y}" stroke="#57606a"/>')
    # Legend.
    x = LEFT
    legend = [(OBSERVED, observed_label)]
    if band_label:
        legend.append((BAND, band_label))
    if shade is not None and shade_label:
        legend.append((SHADE, shade_label))
    for colour, label in legend:
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="18" fill="#24292f">{escape(label)}</text>')
        x += 28 + 6 * len(label)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text went through escape()


@dataclass(frozen=True)
class Stack:
    label: str
    parts: Sequence[tuple[str, float]]  # (name, share 0–1), bottom first


def stacked_bars_svg(*, chart_id: str, title: str, description: str, stacks: Sequence[Stack]) -> SafeString:
    """Horizontal 100 % bars, one per stack (e.g. the decline-code mix before and during), each
    part coloured by its name the same way in every bar, with a legend."""
    names: list[str] = []
    for stack in stacks:
        for name, _share in stack.parts:
            if name not in names:
                names.append(name)
    colours = {name: CODE_COLOURS[i % len(CODE_COLOURS)] for i, name in enumerate(names)}
    bar_h = 28
    label_w = 110
    height = TOP + len(stacks) * (bar_h + 12) + 8
    plot_w = WIDTH - label_w - RIGHT
    out = _open(chart_id, title, description, WIDTH, height)
    x = LEFT
    for name in names:
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colours[name]}"/>')
        out.append(f'<text x="{x + 16}" y="18" fill="#24292f">{escape(name)}</text>')
        x += 28 + 7 * len(name)
    for index, stack in enumerate(stacks):
        y = TOP + index * (bar_h + 12)
        out.append(
            f'<text x="{label_w - 8}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="end" fill="#24292f">'
            f"{escape(stack.label)}</text>"
        )
        left = float(label_w)
        for name, share in stack.parts:
            width = plot_w * max(share, 0.0)
            if width <= 0:
                continue
            tooltip = f"{stack.label} · {name}: {_percent(share)}"
            out.append(
                f'<rect x="{left:.1f}" y="{y}" width="{width:.1f}" height="{bar_h}" fill="{colours[name]}" '
                f'stroke="#ffffff"><title>{escape(tooltip)}</title></rect>'
            )
            if width > 34:
                out.append(
                    f'<text x="{left + width / 2:.1f}" y="{y + bar_h / 2 + 4:.1f}" text-anchor="middle" '
                    f'fill="#ffffff" font-size="10">{escape(_percent(share))}</text>'
                )
            left += width
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text went through escape()


def sparkline_svg(*, chart_id: str, title: str, values: Sequence[float | None], width: int = 120, height: int = 28):
    """A small line of rates for a table cell (its figures are in the row)."""
    present = [v for v in values if v is not None]
    out = _open(chart_id, title, title, width, height, css="sparkline")
    if present and len(values) > 1:
        low, high = min(present), max(present)
        span = max(high - low, 0.005)
        lines: list[list[str]] = [[]]
        for index, value in enumerate(values):
            if value is None:
                lines.append([])
                continue
            x = 2 + (width - 4) * index / (len(values) - 1)
            y = height - 2 - (height - 4) * (value - low) / span
            lines[-1].append(f"{x:.1f},{y:.1f}")
        for line in lines:
            if len(line) > 1:
                out.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{OBSERVED}" stroke-width="1.2"/>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text went through escape()
