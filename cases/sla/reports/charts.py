"""Server-rendered SVG bar charts: no JavaScript, no chart library, readable without colour.

The chart is an image with a title and a description for screen readers (role="img",
aria-labelledby); every bar carries a <title> (the browser's tooltip) and its value written above
it, and every category its label underneath, so the figures can be read without hovering. The
tables next to each chart hold the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#1f6feb", "#d97706", "#15803d", "#9333ea")  # blue, amber, green, purple
WIDTH = 720
HEIGHT = 280
MARGIN_LEFT = 52
MARGIN_RIGHT = 12
MARGIN_TOP = 36  # room for the legend
MARGIN_BOTTOM = 44  # room for the category labels


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]  # one per category; None = no data (no bar)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least `value` (axis top); 1 for nothing."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-9:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart_svg(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    max_value: float | None = None,
    value_format: Callable[[float], str] = _number,
) -> SafeString:
    """An inline SVG grouped bar chart: one group per category, one bar per series."""
    if any(len(s.values) != len(categories) for s in series):
        raise ValueError("Every series needs one value per category.")
    present = [v for s in series for v in s.values if v is not None]
    top = max_value if max_value is not None else nice_ceiling(max(present, default=0))
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    base_y = MARGIN_TOP + plot_h
    suffix = f" {unit}" if unit else ""

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" font-family="sans-serif" font-size="11">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]
    # Grid lines and the value axis: 0, ¼, ½, ¾ and the top.
    for step in range(5):
        value = top * step / 4
        y = base_y - plot_h * step / 4
        out.append(
            f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">'
            f"{escape(value_format(value))}</text>"
        )
    # Legend.
    x = MARGIN_LEFT
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="18" fill="#24292f">{escape(item.name)}</text>')
        x += 28 + 7 * len(item.name)
    # Bars.
    if categories:
        group_w = plot_w / len(categories)
        bar_w = group_w * 0.8 / max(len(series), 1)
        for c_index, category in enumerate(categories):
            group_x = MARGIN_LEFT + group_w * c_index + group_w * 0.1
            for s_index, item in enumerate(series):
                value = item.values[c_index]
                bar_x = group_x + bar_w * s_index
                label = escape(value_format(value) + suffix) if value is not None else "—"
                tooltip = f"{escape(category)} · {escape(item.name)}: {label}"
                if value is None:
                    out.append(
                        f'<text x="{bar_x + bar_w / 2:.1f}" y="{base_y - 4:.1f}" text-anchor="middle" '
                        f'fill="#57606a"><title>{tooltip}</title>—</text>'
                    )
                    continue
                height = plot_h * min(max(value, 0) / top, 1) if top else 0
                out.append(
                    f'<rect x="{bar_x:.1f}" y="{base_y - height:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                    f'height="{height:.1f}" fill="{PALETTE[s_index % len(PALETTE)]}"><title>{tooltip}</title></rect>'
                )
                out.append(
                    f'<text x="{bar_x + bar_w / 2 - 1:.1f}" y="{base_y - height - 3:.1f}" text-anchor="middle" '
                    f'font-size="10" fill="#24292f">{escape(value_format(value))}</text>'
                )
            out.append(
                f'<text x="{MARGIN_LEFT + group_w * (c_index + 0.5):.1f}" y="{base_y + 16}" '
                f'text-anchor="middle" fill="#24292f">{escape(category)}</text>'
            )
    out.append(f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{base_y}" y2="{base_y}" stroke="#57606a"/>')
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text went through escape()
