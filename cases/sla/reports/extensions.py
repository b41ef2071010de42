"""Columns other apps add to the partner scorecard, without `cases` importing them.

An app registers a `ScorecardColumn` in its `AppConfig.ready()`; the scorecard (page, CSV and API)
asks each registered column for the text of the partners it lists, in one call per column. The
layers forbid `cases` to read another app's tables: the column's own app computes its figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cases.sla.reports.filters import ReportFilter


@dataclass(frozen=True)
class ScorecardColumn:
    """`key` names the column in the API, `label` heads it (lazy translation); `values(filters,
    partner_ids)` answers {partner id: text}, a partner it leaves out reads as a dash."""

    key: str
    label: str
    values: Callable[[ReportFilter, list[int]], dict[int, str]]


SCORECARD_COLUMNS: dict[str, ScorecardColumn] = {}


def register_scorecard_column(column: ScorecardColumn) -> None:
    """Add (or replace, by key) a column of the partner scorecard."""
    SCORECARD_COLUMNS[column.key] = column


def scorecard_columns() -> list[ScorecardColumn]:
    return list(SCORECARD_COLUMNS.values())


def scorecard_extra(filters: ReportFilter, partner_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{partner id: {column key: text}} for every registered column."""
    partner_ids = list(partner_ids)
    extra: dict[int, dict[str, str]] = {pk: {} for pk in partner_ids}
    if not partner_ids:
        return extra
    for column in scorecard_columns():
        values = column.values(filters, partner_ids)
        for pk in partner_ids:
            extra[pk][column.key] = values.get(pk, "—")
    return extra
