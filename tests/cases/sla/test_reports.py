"""SLA reports: exact figures on a hand-computed desk (tests/cases/sla/report_data.py), filters,
the page, the CSV exports and the SVG charts."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import SlaClock
from cases.sla.reports import (
    ReportFilter,
    Series,
    SlaReportForm,
    attainment_pivot,
    bar_chart_svg,
    sla_attainment,
    sla_breaches,
    sla_partner_scorecard,
    sla_time_to,
)
from cases.sla.reports.charts import nice_ceiling
from cases.sla.reports.selectors import breach_count
from cases.sla.views.reports import report_context
from partners.models import Partner
from payhealth.db import Percentile
from tests.cases.sla.report_data import build_report_desk, h, local
from tests.factories import IncidentFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

AUTUMN = ReportFilter(start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 30))
OCTOBER = ReportFilter(start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31))
NOW = local(11, 24, 12)


@pytest.fixture
def desk(db):
    return build_report_desk()


def table(rows) -> list[tuple]:
    return [(r.label, r.metric, r.met, r.breached, r.attainment) for r in rows]


# Attainment --------------------------------------------------------------------------------


def test_attainment_by_severity(desk, lead):
    rows = sla_attainment(user=lead, filters=AUTUMN, dimension="severity")

    # sev1 acknowledge: A1 ✓ A2 ✗ PA11 ✓ PA22 ✗; first notice F1 ✓; update U1 ✗; resolve R1 ✓ PR11 ✓
    # (R2 paused and PR22 cancelled have no outcome). sev3 acknowledge: A3 ✓ A4 ✗ PA31 ✓ PA32 ✗
    # (running past target); first notice F3 ✓; resolve R3 ✗ (running past target) R4 ✓.
    assert table(rows) == [
        ("SEV1 – critical", "acknowledge", 2, 2, Decimal("50.0")),
        ("SEV1 – critical", "first_notice", 1, 0, Decimal("100.0")),
        ("SEV1 – critical", "update", 0, 1, Decimal("0.0")),
        ("SEV1 – critical", "resolve", 2, 0, Decimal("100.0")),
        ("SEV3 – moderate", "acknowledge", 2, 2, Decimal("50.0")),
        ("SEV3 – moderate", "first_notice", 1, 0, Decimal("100.0")),
        ("SEV3 – moderate", "resolve", 1, 1, Decimal("50.0")),
    ]
    assert [r.key for r in rows][:1] == ["sev1"]
    assert rows[0].clocks == 4


def test_attainment_by_partner_puts_our_clocks_first(desk, lead):
    rows = sla_attainment(user=lead, filters=AUTUMN, dimension="partner")

    # Ours: acknowledge A1 ✓ A2 ✗ A3 ✓ A4 ✗; resolve R1 ✓ R3 ✗ R4 ✓ = 2/3 = 66.7 %.
    # Prosa: PA11 ✓ PA31 ✓; PR11 ✓. Visa MX: PA22 ✗ PA32 ✗ (no resolve outcome).
    assert table(rows) == [
        ("Our clocks", "acknowledge", 2, 2, Decimal("50.0")),
        ("Our clocks", "first_notice", 2, 0, Decimal("100.0")),
        ("Our clocks", "update", 0, 1, Decimal("0.0")),
        ("Our clocks", "resolve", 2, 1, Decimal("66.7")),
        ("Prosa", "acknowledge", 2, 0, Decimal("100.0")),
        ("Prosa", "resolve", 1, 0, Decimal("100.0")),
        ("Visa MX", "acknowledge", 0, 2, Decimal("0.0")),
    ]
    assert rows[0].key == "" and rows[4].key == str(desk["prosa"].pk)


def test_attainment_by_owner(desk, lead):
    rows = sla_attainment(user=lead, filters=AUTUMN, dimension="owner")

    # Ana (I1, I3): acknowledge A1 A3 PA11 PA31 ✓, PA32 ✗ = 80 %; resolve R1 PR11 ✓ R3 ✗.
    # Bruno (I2, I4): acknowledge A2 A4 PA22 ✗; resolve R4 ✓.
    assert table(rows) == [
        ("Ana Alvarez", "acknowledge", 4, 1, Decimal("80.0")),
        ("Ana Alvarez", "first_notice", 2, 0, Decimal("100.0")),
        ("Ana Alvarez", "update", 0, 1, Decimal("0.0")),
        ("Ana Alvarez", "resolve", 2, 1, Decimal("66.7")),
        ("Bruno Baez", "acknowledge", 0, 3, Decimal("0.0")),
        ("Bruno Baez", "resolve", 1, 0, Decimal("100.0")),
    ]


def test_attainment_by_month_in_the_desk_zone(desk, lead):
    rows = sla_attainment(user=lead, filters=AUTUMN, dimension="month")

    assert [(r.key, r.metric, r.met, r.breached) for r in rows] == [
        ("2026-10", "acknowledge", 2, 2),
        ("2026-10", "first_notice", 1, 0),
        ("2026-10", "update", 0, 1),
        ("2026-10", "resolve", 2, 0),
        ("2026-11", "acknowledge", 2, 2),
        ("2026-11", "first_notice", 1, 0),
        ("2026-11", "resolve", 1, 1),
    ]
    assert rows[0].label == "October 2026"
    lines = attainment_pivot(rows)
    assert [line.key for line in lines] == ["2026-10", "2026-11"]
    assert [cell and cell.attainment for cell in lines[1].cell_list()] == [
        Decimal("50.0"),
        Decimal("100.0"),
        None,
        Decimal("50.0"),
    ]


def test_attainment_filters_by_severity_partner_and_family(desk, lead):
    sev1 = sla_attainment(
        user=lead, filters=ReportFilter(**{**AUTUMN.__dict__, "severity": "sev1"}), dimension="severity"
    )
    prosa = sla_attainment(
        user=lead, filters=ReportFilter(**{**AUTUMN.__dict__, "partner": desk["prosa"].pk}), dimension="partner"
    )
    partners = sla_attainment(
        user=lead, filters=ReportFilter(**{**AUTUMN.__dict__, "family": "partner"}), dimension="partner"
    )

    assert {r.key for r in sev1} == {"sev1"}
    # Prosa: its own clocks, plus ours on I1 and I3 (which engage it): acknowledge A1 ✓ A3 ✓,
    # first notice F1 ✓ F3 ✓, update U1 ✗, resolve R1 ✓ R3 ✗.
    assert table(prosa) == [
        ("Our clocks", "acknowledge", 2, 0, Decimal("100.0")),
        ("Our clocks", "first_notice", 2, 0, Decimal("100.0")),
        ("Our clocks", "update", 0, 1, Decimal("0.0")),
        ("Our clocks", "resolve", 1, 1, Decimal("50.0")),
        ("Prosa", "acknowledge", 2, 0, Decimal("100.0")),
        ("Prosa", "resolve", 1, 0, Decimal("100.0")),
    ]
    assert [r.label for r in partners] == ["Prosa", "Prosa", "Visa MX"]


def test_reports_are_empty_for_someone_without_the_permission(desk, analyst):
    assert sla_attainment(user=analyst, filters=AUTUMN, dimension="severity") == []
    assert sla_time_to(user=analyst, filters=AUTUMN) == []
    assert sla_partner_scorecard(user=analyst, filters=AUTUMN) == []
    assert sla_breaches(user=analyst, filters=AUTUMN).total == 0


def test_unknown_dimension_is_refused(lead):
    with pytest.raises(ValueError):
        sla_attainment(user=lead, filters=AUTUMN, dimension="weekday")


# Date range edges --------------------------------------------------------------------------


def test_range_edges_are_whole_days_in_the_desk_zone(lead):
    """23:59 on 30 September in Mexico City is already 1 October in UTC, and stays out;
    23:30 on 30 November is 1 December in UTC, and counts in November."""
    for started in (local(9, 30, 23, 59), local(10, 1, 0, 0), local(11, 30, 23, 30), local(12, 1, 0, 0)):
        SlaClockFactory(
            incident=IncidentFactory(severity="sev1"),
            started_at=started,
            state="met",
            stopped_at=started + h(0, 5),
            consumed=h(0, 5),
            due_at=None,
            warn_due_at=None,
        )

    rows = sla_attainment(user=lead, filters=AUTUMN, dimension="month")

    assert [(r.key, r.met) for r in rows] == [("2026-10", 1), ("2026-11", 1)]
    assert AUTUMN.bounds() == (local(10, 1), local(12, 1))


def test_a_new_years_eve_clock_counts_in_december(lead):
    started = local(12, 31, 23, 30)
    SlaClockFactory(
        incident=IncidentFactory(severity="sev1"),
        started_at=started,
        state="met",
        stopped_at=started + h(0, 5),
        consumed=h(0, 5),
        due_at=None,
        warn_due_at=None,
    )

    december = sla_attainment(
        user=lead, filters=ReportFilter(start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 31)), dimension="month"
    )
    january = sla_attainment(
        user=lead, filters=ReportFilter(start=dt.date(2027, 1, 1), end=dt.date(2027, 1, 31)), dimension="month"
    )

    assert [(r.key, r.met) for r in december] == [("2026-12", 1)]
    assert january == []


# Time to acknowledge and resolve -----------------------------------------------------------


def test_time_to_acknowledge_and_resolve(desk, lead):
    rows = sla_time_to(user=lead, filters=AUTUMN)

    # Acknowledge, our stopped clocks A1 A2 A3 A4: wall 10m, 40m, 18h, 21h; business 10m, 40m, 3h, 6h.
    # percentile_cont: position f × (n − 1). p50 of 4 = halfway between the 2nd and 3rd:
    # wall (40m + 18h) / 2 = 9h20m; p90 at 2.7 = 18h + 0.7 × 3h = 20h06m.
    # Business: (40m + 3h) / 2 = 1h50m; 3h + 0.7 × 3h = 5h06m.
    # sev1 (10m, 40m): p50 25m, p90 10m + 0.9 × 30m = 37m. sev3 wall (18h, 21h): 19h30m, 20h42m;
    # business (3h, 6h): 4h30m, 5h42m.
    # Resolve R1 (3h / 3h) and R4 (48h wall / 17h business); R3 still runs, R2 is paused.
    # Wall p50 25h30m, p90 3h + 0.9 × 45h = 43h30m; business p50 10h, p90 3h + 0.9 × 14h = 15h36m.
    assert [(r.metric, r.severity, r.clocks, r.wall_p50, r.wall_p90, r.business_p50, r.business_p90) for r in rows] == [
        ("acknowledge", "", 4, h(9, 20), h(20, 6), h(1, 50), h(5, 6)),
        ("acknowledge", "sev1", 2, h(0, 25), h(0, 37), h(0, 25), h(0, 37)),
        ("acknowledge", "sev3", 2, h(19, 30), h(20, 42), h(4, 30), h(5, 42)),
        ("resolve", "", 2, h(25, 30), h(43, 30), h(10), h(15, 36)),
        ("resolve", "sev1", 1, h(3), h(3), h(3), h(3)),
        ("resolve", "sev3", 1, h(48), h(48), h(17), h(17)),
    ]
    assert rows[0].severity_label == "All severities"


def test_percentile_aggregate_interpolates_like_postgresql(lead):
    for minutes in (10, 20, 30, 40, 100):
        SlaClockFactory(incident=IncidentFactory(), consumed=h(0, minutes), state="met", due_at=None)

    figures = SlaClock.objects.aggregate(p50=Percentile("consumed", 0.5), p90=Percentile("consumed", 0.9))

    # 5 values: p50 is the 3rd (30m); p90 at position 3.6: 40m + 0.6 × 60m = 76m.
    assert figures == {"p50": h(0, 30), "p90": h(0, 76)}
    with pytest.raises(ValueError):
        Percentile("consumed", 1.5)


# Breaches ----------------------------------------------------------------------------------


def test_breach_list_with_reasons(desk, lead):
    result = sla_breaches(user=lead, filters=AUTUMN, now=NOW)

    assert result.total == 6
    assert [
        (r.incident_title, r.metric, r.partner, r.breached_at, r.overdue_wall, r.overdue_business, r.reason)
        for r in result.rows
    ] == [
        # A4 breached at stop (no sweep record): the stop is the breach instant.
        ("Cost rate up", "acknowledge", "", local(11, 11, 14), h(0), h(2), "Over target when the clock stopped."),
        (
            "Debit approval drop",
            "resolve",
            "",
            local(11, 10, 16),
            NOW - local(11, 10, 16),  # still running: overdue until now
            None,
            "Incident waiting on partner at breach. Waiting on Prosa, Visa MX. "
            "Last pause: “Waiting for Prosa logs”.",
        ),
        ("Debit approval drop", "acknowledge", "Visa MX", local(11, 5, 16), NOW - local(11, 5, 16), None,
         "Incident investigating at breach."),
        ("Visa declines", "acknowledge", "Visa MX", local(10, 20, 11), h(1), h(1),
         "Incident waiting on partner at breach. Waiting on Visa MX."),
        ("Visa declines", "acknowledge", "", local(10, 20, 8, 15), h(0, 25), h(0, 25), "Incident new at breach."),
        ("Switch outage", "update", "", local(10, 5, 10, 50), h(2, 10), h(2, 10), "Incident investigating at breach."),
    ]  # fmt: skip
    r3 = result.rows[1]
    assert (r3.severity, r3.owner, r3.family, r3.target, r3.state) == ("sev3", "Ana Alvarez", "ours", h(45), "running")
    assert (r3.status_at_breach, r3.waiting_on, r3.pause_reason) == (
        "waiting_on_partner",
        ("Prosa", "Visa MX"),
        "Waiting for Prosa logs",
    )
    assert r3.incident_reference == desk["incidents"][2].reference


def test_breach_list_is_paginated(desk, lead):
    second = sla_breaches(user=lead, filters=AUTUMN, page=2, per_page=4, now=NOW)

    assert second.total == 6
    assert [r.incident_title for r in second.rows] == ["Visa declines", "Switch outage"]
    assert second.page.number == 2 and not second.page.has_next()


# Partner scorecard -------------------------------------------------------------------------


def test_partner_scorecard(desk, lead):
    rows = sla_partner_scorecard(user=lead, filters=AUTUMN)

    # Prosa: engagements I1, I3; acknowledge PA11 (1h business, 1h wall), PA31 (3h business, 18h wall):
    # business p50 2h, p90 1h + 0.9 × 2h = 2h48m; wall p50 9h30m, p90 1h + 0.9 × 17h = 16h18m.
    # Resolve PR11 4h. Notices sent in range: 4 (2 follow-ups); the September one and the draft don't count.
    # Visa MX: engagements I2, I3; acknowledge PA22 3h; no resolve; notices 2, no follow-up;
    # breaches PA22 and PA32 (running past target).
    assert [
        (
            r.partner,
            r.engagements,
            r.acknowledged,
            r.acknowledge_p50,
            r.acknowledge_p90,
            r.acknowledge_wall_p50,
            r.acknowledge_wall_p90,
            r.resolved,
            r.resolve_p50,
            r.resolve_wall_p90,
            r.notices,
            r.follow_ups,
            r.met,
            r.breached,
            r.attainment,
        )
        for r in rows
    ] == [
        ("Prosa", 2, 2, h(2), h(2, 48), h(9, 30), h(16, 18), 1, h(4), h(4), 4, 2, 3, 0, Decimal("100.0")),
        ("Visa MX", 2, 1, h(3), h(3), h(3), h(3), 0, None, None, 2, 0, 0, 2, Decimal("0.0")),
    ]


def test_scorecard_counts_notices_in_range_only(desk, lead):
    rows = sla_partner_scorecard(user=lead, filters=OCTOBER)

    # October: Prosa's I1 notices (breakage + follow-up), Visa's I2 breakage.
    assert [(r.partner, r.engagements, r.notices, r.follow_ups) for r in rows] == [
        ("Prosa", 1, 2, 1),
        ("Visa MX", 1, 1, 0),
    ]


# Filter form -------------------------------------------------------------------------------


def test_form_defaults_to_the_last_90_days():
    form = SlaReportForm(None, now=local(11, 24, 12))

    assert form.report_filter() == ReportFilter(start=dt.date(2026, 8, 27), end=dt.date(2026, 11, 24))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start": "2026-11-02", "end": "2026-11-01"}, "start", "The start date is after the end date."),
        ({"start": "2022-01-01", "end": "2026-11-01"}, "end", "Choose a range of at most 3 years."),
        ({"start": "yesterday", "end": "2026-11-01"}, "start", "Enter a valid date."),
        ({"severity": "sev9"}, "severity", "Select a valid choice. sev9 is not one of the available choices."),
    ],
)
def test_form_errors(db, data, field, message):
    form = SlaReportForm(data, now=local(11, 24, 12))

    assert form.report_filter() is None
    assert form.errors[field] == [message]


def test_form_accepts_three_years_and_fills_a_missing_start(db):
    three_years = SlaReportForm({"start": "2023-11-02", "end": "2026-11-01"}).report_filter()
    no_start = SlaReportForm({"end": "2026-11-01", "severity": "sev2"}).report_filter()

    assert three_years.start == dt.date(2023, 11, 2)
    assert (no_start.start, no_start.end, no_start.severity) == (dt.date(2026, 8, 4), dt.date(2026, 11, 1), "sev2")


# Charts ------------------------------------------------------------------------------------


def test_bar_chart_is_accessible_svg_with_labels_and_tooltips():
    svg = bar_chart_svg(
        chart_id="c1",
        title="Attainment <by> month",
        description="Share met",
        categories=["October 2026", "November 2026"],
        series=[Series("Acknowledge", [50.0, 75.5]), Series("Resolve", [100.0, None])],
        unit="%",
        max_value=100,
    )

    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="c1"')
    assert 'role="img" aria-labelledby="c1-title c1-desc"' in svg
    assert '<title id="c1-title">Attainment &lt;by&gt; month</title>' in svg
    assert svg.count("<rect") == 3 + 2  # three bars, two legend keys
    assert "<title>October 2026 · Acknowledge: 50 %</title>" in svg
    assert "<title>November 2026 · Acknowledge: 75.5 %</title>" in svg
    assert "<title>November 2026 · Resolve: —</title>" in svg
    assert ">November 2026</text>" in svg and ">75.5</text>" in svg
    # A bar's height is its share of the axis top: 50 % of the 200-pixel plot.
    assert 'height="100.0" fill="#1f6feb"' in svg


def test_bar_chart_refuses_ragged_series_and_scales_its_axis():
    with pytest.raises(ValueError):
        bar_chart_svg(chart_id="c", title="t", description="d", categories=["a"], series=[Series("s", [1, 2])])
    assert [nice_ceiling(v) for v in (0, 0.7, 3, 21.5, 43.5, 101)] == [1.0, 1.0, 5, 25.0, 50, 200]


# Page --------------------------------------------------------------------------------------

REPORT = reverse("cases:sla_report")
AUTUMN_QUERY = {"start": "2026-10-01", "end": "2026-11-30"}


def test_page_shows_the_figures_to_a_lead(client, desk, lead):
    client.force_login(lead)

    response = client.get(REPORT, AUTUMN_QUERY)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>SLA reports</h1>" in html
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="chart-attainment-month"' in html
    assert 'id="chart-attainment-severity"' in html and 'id="chart-resolve"' in html
    assert "<title>October 2026 · Acknowledge: 50 %</title>" in html
    assert "<strong>66.7%</strong>" in html  # our resolve attainment, by partner
    assert "Over target when the clock stopped." in html
    assert "6 breached clocks" in html
    assert "9 h 20 min" in html and "20 h 06 min" in html  # acknowledge wall p50 / p90
    assert 'href="/sla/reports/breaches.csv?start=2026-10-01&amp;end=2026-11-30"' in html or (
        "breaches.csv?start=2026-10-01&amp;end=2026-11-30" in html
    )
    assert 'aria-current="page">SLA reports</a>' in html


def test_page_is_for_leads_only(client, desk, analyst, partner_manager):
    for user in (analyst, partner_manager):
        client.force_login(user)
        assert client.get(REPORT).status_code == 403
        assert client.get(reverse("cases:sla_report_csv", args=["breaches"])).status_code == 403


def test_nav_link_only_for_leads(client, analyst, lead):
    client.force_login(analyst)
    assert "SLA reports" not in client.get(reverse("cases:incident_list")).content.decode()
    client.force_login(lead)
    assert "SLA reports" in client.get(reverse("cases:incident_list")).content.decode()


def test_page_shows_form_errors_instead_of_figures(client, desk, lead):
    client.force_login(lead)

    response = client.get(REPORT, {"start": "2026-11-30", "end": "2026-10-01"})

    html = response.content.decode()
    assert response.status_code == 200
    assert '<span class="errorlist" id="start-errors">The start date is after the end date.</span>' in html
    assert "Correct the filters above to see the report." in html
    assert "chart-attainment-month" not in html


def test_htmx_filter_gets_the_report_part_alone(client, desk, lead):
    client.force_login(lead)

    response = client.get(
        REPORT, {**AUTUMN_QUERY, "severity": "sev3"}, headers={"HX-Request": "true", "HX-Target": "report"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="report">')
    assert "<html" not in html
    assert "SEV3 – moderate" in html and '<th scope="row">SEV1 – critical</th>' not in html


def test_breach_pages_link_without_javascript(client, desk, lead, monkeypatch):
    client.force_login(lead)
    monkeypatch.setattr("cases.sla.reports.selectors.BREACHES_PER_PAGE", 4)

    html = client.get(REPORT, {**AUTUMN_QUERY, "page": "2"}).content.decode()

    assert "Page 2 of 2" in html
    assert 'rel="prev" href="?start=2026-10-01&amp;end=2026-11-30&amp;page=1#breaches"' in html


@pytest.mark.parametrize(
    "narrowed", [{}, {"severity": "sev1"}, {"family": "partner"}, {"family": "ours", "severity": "sev1"}, "prosa"]
)
def test_the_pages_breach_total_is_the_attainments_breached_clocks(desk, lead, narrowed):
    """The page takes the breach list's total from its attainment figures (cached with them) instead
    of summing the rollups again; both count the same clocks, with any filter."""
    if narrowed == "prosa":
        narrowed = {"partner": Partner.objects.get(code="prosa-report").pk}
    filters = dataclasses.replace(AUTUMN, **narrowed)
    cache.clear()
    report_context(user=lead, filters=filters, page=1)  # the figures computed and cached
    with CaptureQueriesContext(connection) as queries:
        context = report_context(user=lead, filters=filters, page=1)
    assert context["breaches"].total == breach_count(filters) > 0
    assert not any('AS "n"' in query["sql"] and "cases_slarollup" in query["sql"] for query in queries)


def test_page_query_count_does_not_grow_with_the_data(client, desk, lead, django_assert_max_num_queries):
    client.force_login(lead)
    client.get(REPORT, AUTUMN_QUERY)  # warm up (session, content types)
    for day in range(1, 29):
        started = local(10, day, 9)
        SlaClockFactory(
            incident=IncidentFactory(severity="sev2", owner=lead),
            started_at=started,
            state="breached" if day % 3 else "met",
            stopped_at=started + h(1),
            consumed=h(1),
            target=h(0, 30),
            breached_at=started + h(0, 30) if day % 3 else None,
            due_at=None,
            warn_due_at=None,
        )

    # 32: every figure reads the rollups after one statement folding its range's pending days (the
    # first fold re-computes the 28 new days and re-sums October: ten statements, whatever their
    # number); the scorecard reads its sums and its percentiles in two and counts the notices in
    # one more; its registered columns add one query each (costs: billing accuracy).
    with django_assert_max_num_queries(32):
        response = client.get(REPORT, AUTUMN_QUERY)

    assert response.status_code == 200
    html = response.content.decode()
    assert "25 breached clocks" in html  # 6 + 19 of the 28 new ones
    assert '<th scope="row">SEV2 – major</th>' in html  # the cached figures were recomputed


def test_page_figures_are_cached_until_the_data_changes(client, desk, lead, django_assert_num_queries):
    client.force_login(lead)
    client.get(REPORT, AUTUMN_QUERY)

    # session, user, the viewer (profile, groups and permissions in one), data version, partner
    # choices and the breach page (its count is the cached attainment's breached clocks); uncached,
    # the attainment, time-to and the scorecard come on top, after a fold of the range.
    with django_assert_num_queries(6):
        cached = client.get(REPORT, AUTUMN_QUERY).content.decode()
    SlaClockFactory(
        incident=IncidentFactory(severity="sev4"),
        started_at=local(10, 9, 9),
        state="met",
        stopped_at=local(10, 9, 10),
        consumed=h(1),
        target=h(8),
        due_at=None,
        warn_due_at=None,
    )
    fresh = client.get(REPORT, AUTUMN_QUERY).content.decode()

    assert '<th scope="row">SEV4 – minor</th>' not in cached
    assert '<th scope="row">SEV4 – minor</th>' in fresh


# CSV ---------------------------------------------------------------------------------------


def csv_rows(response) -> tuple[str, list[list[str]]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return text, list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_time_to_csv(client, desk, lead):
    client.force_login(lead)

    response = client.get(reverse("cases:sla_report_csv", args=["time_to"]), AUTUMN_QUERY)

    text, rows = csv_rows(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="sla-time-to-2026-10-01-2026-11-30.csv"'
    assert text.startswith("\ufeffMetric,Severity,Clocks,")
    assert text.endswith("\r\n")
    assert rows == [
        ["Metric", "Severity", "Clocks", "Wall time median (h)", "Wall time p90 (h)",
         "Business time median (h)", "Business time p90 (h)"],
        ["Acknowledge", "All severities", "4", "9.33", "20.10", "1.83", "5.10"],
        ["Acknowledge", "SEV1 – critical", "2", "0.42", "0.62", "0.42", "0.62"],
        ["Acknowledge", "SEV3 – moderate", "2", "19.50", "20.70", "4.50", "5.70"],
        ["Resolve", "All severities", "2", "25.50", "43.50", "10.00", "15.60"],
        ["Resolve", "SEV1 – critical", "1", "3.00", "3.00", "3.00", "3.00"],
        ["Resolve", "SEV3 – moderate", "1", "48.00", "48.00", "17.00", "17.00"],
    ]  # fmt: skip


BREACH_HEADER = [
    "Incident", "Title", "Severity", "Owner", "Metric", "Clocks", "Partner", "Target (h)", "Breached at", "State",
    "Overdue, wall time (h)", "Overdue, business time (h)", "Status at breach", "Waiting on", "Last pause reason",
    "Reason",
]  # fmt: skip


def test_breaches_csv(client, desk, lead):
    client.force_login(lead)
    i1, i2 = (incident.reference for incident in desk["incidents"][:2])

    response = client.get(
        reverse("cases:sla_report_csv", args=["breaches"]), {"start": "2026-10-01", "end": "2026-10-31"}
    )

    _, rows = csv_rows(response)
    assert rows == [
        BREACH_HEADER,
        [i2, "Visa declines", "SEV1 – critical", "Bruno Baez", "Acknowledge", "Partner", "Visa MX", "2.00",
         "2026-10-20T11:00:00-06:00", "Breached", "1.00", "1.00", "Waiting on partner", "Visa MX", "",
         "Incident waiting on partner at breach. Waiting on Visa MX."],
        [i2, "Visa declines", "SEV1 – critical", "Bruno Baez", "Acknowledge", "Ours", "", "0.25",
         "2026-10-20T08:15:00-06:00", "Breached", "0.42", "0.42", "New", "", "", "Incident new at breach."],
        [i1, "Switch outage", "SEV1 – critical", "Ana Alvarez", "Update cadence", "Ours", "", "0.50",
         "2026-10-05T10:50:00-06:00", "Breached", "2.17", "2.17", "Investigating", "", "",
         "Incident investigating at breach."],
    ]  # fmt: skip


def test_attainment_and_scorecard_csv(client, desk, lead):
    client.force_login(lead)
    october = {"start": "2026-10-01", "end": "2026-10-31", "severity": "sev1"}

    _, attainment = csv_rows(client.get(reverse("cases:sla_report_csv", args=["attainment"]), october))
    _, scorecard = csv_rows(client.get(reverse("cases:sla_report_csv", args=["scorecard"]), october))

    assert attainment[0] == ["Dimension", "Value", "Metric", "Clocks", "Met", "Breached", "Attainment (%)"]
    assert attainment[1:5] == [
        ["Severity", "SEV1 – critical", "Acknowledge", "4", "2", "2", "50.0"],
        ["Severity", "SEV1 – critical", "First partner notice", "1", "1", "0", "100.0"],
        ["Severity", "SEV1 – critical", "Update cadence", "1", "0", "1", "0.0"],
        ["Severity", "SEV1 – critical", "Resolve", "2", "2", "0", "100.0"],
    ]
    assert ["Month", "2026-10", "Acknowledge", "4", "2", "2", "50.0"] in attainment
    assert ["Owner", "Bruno Baez", "Acknowledge", "2", "0", "2", "0.0"] in attainment
    assert len(attainment) == 1 + 4 + 6 + 6 + 4  # header, severity, partner (ours, Prosa×2, Visa), owners, month
    assert scorecard == [
        ["Partner", "Engagements", "Acknowledged", "Acknowledge median, business (h)", "Acknowledge p90, business (h)",
         "Acknowledge median, wall (h)", "Acknowledge p90, wall (h)", "Resolved", "Resolve median, business (h)",
         "Resolve p90, business (h)", "Resolve median, wall (h)", "Resolve p90, wall (h)", "Notices sent",
         "Follow-ups", "Met", "Breached", "Attainment (%)", "Billing accuracy"],
        ["Prosa", "1", "1", "1.00", "1.00", "1.00", "1.00", "1", "4.00", "4.00", "4.00", "4.00", "2", "1", "2", "0",
         "100.0", "—"],
        ["Visa MX", "1", "1", "3.00", "3.00", "3.00", "3.00", "0", "", "", "", "", "1", "0", "0", "1", "0.0", "—"],
    ]  # fmt: skip


def test_breaches_csv_headers_spanish(client, desk, lead):
    """Needs the compiled Spanish catalogue (the msgids are in the helper's translation file)."""
    client.force_login(lead)

    response = client.get(
        reverse("cases:sla_report_csv", args=["breaches"]),
        {"start": "2026-10-01", "end": "2026-10-31"},
        headers={"Accept-Language": "es"},
    )

    _, rows = csv_rows(response)
    assert rows[0] == [
        "Incidente", "Título", "Severidad", "Responsable", "Métrica", "Relojes", "Socio", "Objetivo (h)",
        "Incumplido el", "Estado", "Vencido, tiempo real (h)", "Vencido, tiempo hábil (h)", "Estado al incumplir",
        "En espera de", "Último motivo de pausa", "Motivo",
    ]  # fmt: skip
    assert rows[2][-1] == "Incidente nuevo al incumplirse."


def test_csv_refuses_unknown_tables_and_wrong_filters(client, lead):
    client.force_login(lead)

    assert client.get("/sla/reports/secrets.csv").status_code == 404
    assert (
        client.get(
            reverse("cases:sla_report_csv", args=["breaches"]), {"start": "2026-12-01", "end": "2026-01-01"}
        ).status_code
        == 400
    )


def test_durations_read_as_days_hours_and_minutes():
    from cases.templatetags.sla_reports import report_duration, report_percent

    assert [report_duration(v) for v in (None, h(0, 45), h(3), h(5, 30), h(52), h(0, 0))] == [
        "—",
        "45 min",
        "3 h",
        "5 h 30 min",
        "2 d 4 h",
        "< 1 min",
    ]
    assert (report_percent(None), report_percent(Decimal("66.7"))) == ("—", "66.7%")
