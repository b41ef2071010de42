"""Formatting for the SLA report page: durations read as days, hours and minutes."""

from __future__ import annotations

import datetime as dt

from django import template

from cases.sla.durations import format_duration

register = template.Library()


@register.filter
def report_duration(value: dt.timedelta | None) -> str:
    """The desk's compact duration ("45 min", "5 h 30 min", "2 d 4 h"); a dash when there is nothing."""
    return "—" if value is None else format_duration(value)


@register.filter
def report_percent(value) -> str:
    """An attainment percentage with one decimal, or a dash without outcomes."""
    if value is None:
        return "—"
    return f"{value:.1f}%"
