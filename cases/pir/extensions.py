"""What apps above `cases` add to the post-incident report, without `cases` importing them.

The monitoring app registers, from its `AppConfig.ready()`, a provider of the incident's
approval-rate charts (server-rendered SVG). A provider reads only; an incident without payment data
gets no chart, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cases.models import Incident


@dataclass(frozen=True)
class ReportChart:
    """One chart of the report: its heading and its SVG markup (already escaped, safe to embed)."""

    title: str
    svg: str


ChartProvider = Callable[[Incident], list[ReportChart]]
_chart_providers: dict[str, ChartProvider] = {}


def register_chart_provider(name: str, provider: ChartProvider) -> None:
    """Add (or replace, by name: `ready()` may run twice in tests) a chart provider."""
    _chart_providers[name] = provider


def report_charts(incident: Incident) -> list[ReportChart]:
    """Every provider's charts for the incident, in the active language."""
    charts: list[ReportChart] = []
    for provider in _chart_providers.values():
        charts.extend(provider(incident))
    return charts
