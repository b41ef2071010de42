"""The SLA report's figures in few statements: every attainment dimension read from the rollups at
once equals each dimension read alone and read from the clocks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.sla.reports import ReportFilter, selectors, sla_attainment, sla_attainment_all
from cases.sla.rollups import sla_rollup_fold, whole_months
from tests.cases.sla.test_rollups import AUTUMN, SPRING, YEAR_2022, varied_desk

pytestmark = pytest.mark.django_db

FILTERS = [
    YEAR_2022,
    ReportFilter(start=dt.date(2022, 4, 1), end=dt.date(2022, 10, 29)),  # April whole, October's days
    ReportFilter(start=SPRING, end=AUTUMN, severity="sev3"),
    ReportFilter(start=dt.date(2022, 1, 1), end=dt.date(2022, 12, 31), family="partner"),
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f.query().values()))
def test_every_dimension_at_once_equals_each_alone_and_the_clocks(filters, lead, monkeypatch):
    varied_desk()

    together = sla_attainment_all(user=lead, filters=filters)

    assert list(together) == list(selectors.DIMENSIONS)
    assert all(together.values())
    assert together == {
        dimension: sla_attainment(user=lead, filters=filters, dimension=dimension) for dimension in selectors.DIMENSIONS
    }
    with monkeypatch.context() as patched:
        patched.setattr(
            selectors,
            "_attainment_groups_from_rollups",
            lambda f, dimensions: {d: selectors._attainment_from_clocks(f, d) for d in dimensions},
        )
        assert sla_attainment_all(user=lead, filters=filters) == together


def test_every_dimension_is_one_statement_after_the_fold(lead, analyst):
    varied_desk()
    sla_rollup_fold(months=whole_months(YEAR_2022.start, YEAR_2022.end))
    sla_attainment_all(user=lead, filters=YEAR_2022)  # warm up: the lead's permissions

    with CaptureQueriesContext(connection) as captured:
        together = sla_attainment_all(user=lead, filters=YEAR_2022)

    assert len(captured) == 2  # the fold's statement (nothing pending) and the grouping sets
    assert sum(row.clocks for row in together["month"]) == sum(row.clocks for row in together["severity"]) > 0
    assert sla_attainment_all(user=analyst, filters=YEAR_2022) == {d: [] for d in selectors.DIMENSIONS}
