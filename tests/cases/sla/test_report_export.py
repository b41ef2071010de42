"""The breach CSV as a one-query stream: its query count does not grow with the rows, its content
is the page's breach list in both languages, spreadsheets never run its cells, and hostile filters
get a 400. The exact columns on the hand-computed desk are in test_reports.py."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import SlaClock
from cases.sla.reports import ReportFilter, sla_breach_rows
from cases.sla.reports.export import breach_export_sql, hours, instant
from tests.cases.sla.report_data import breach_event, build_report_desk, h, local
from tests.factories import IncidentFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

AUTUMN_QUERY = {"start": "2026-10-01", "end": "2026-11-30"}
AUTUMN = ReportFilter(start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 30))
BREACHES_CSV = reverse("cases:sla_report_csv", args=["breaches"])


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def breached_clocks(count: int, *, title: str = "Approval rate drop") -> None:
    """`count` breached clocks in October, each on its own incident with its breach event."""
    for n in range(count):
        started = local(10, 1 + n % 28, 9, n % 60)
        clock = SlaClockFactory(
            incident=IncidentFactory(title=f"{title} {n}", severity="sev2"),
            state="breached",
            started_at=started,
            stopped_at=started + h(3),
            breached_at=started + h(1),
            target=h(1),
            warn_after=h(0, 45),
            consumed=h(2),
        )
        breach_event(clock, started + h(1), status="investigating", pause_reason=f"Reason {n}")


def export_queries(client) -> tuple[list[list[str]], list[str]]:
    with CaptureQueriesContext(connection) as captured:
        rows = csv_rows(client.get(BREACHES_CSV, AUTUMN_QUERY))
    return rows, [query["sql"] for query in captured.captured_queries]


def test_breach_csv_is_one_query_whatever_the_rows(client, lead):
    """Given 5 then 50 breached clocks, the export reads them with the same single query."""
    client.force_login(lead)
    breached_clocks(5)
    five_rows, five = export_queries(client)
    breached_clocks(45, title="Visa declines")

    fifty_rows, fifty = export_queries(client)

    assert (len(five_rows), len(fifty_rows)) == (1 + 5, 1 + 50)
    clock_queries = [sql for sql in fifty if "cases_slaclock" in sql]
    assert len(clock_queries) == 1
    assert "LEFT JOIN LATERAL" in clock_queries[0]
    # Read through a server-side cursor inside a transaction: streamed, not copied first (WITH HOLD).
    assert clock_queries[0].startswith("DECLARE ")
    assert "WITH HOLD" not in clock_queries[0]
    # Besides it, only the fixed lookups of any page: session, user, and the viewer's profile,
    # groups and permissions read together.
    assert len(five) == len(fifty) == 1 + 3


def _page_rows(language: str) -> list[list[str]]:
    """The breach list as the page's selector gives it, in the CSV's columns."""
    with translation.override(language), timezone.override("America/Mexico_City"):
        return [
            [
                row.incident_reference,
                row.incident_title,
                row.severity_label,
                row.owner,
                row.metric_label,
                row.family_label,
                row.partner,
                hours(row.target),
                instant(row.breached_at),
                row.state_label,
                hours(row.overdue_wall),
                hours(row.overdue_business),
                _status(row),
                "; ".join(row.waiting_on),
                row.pause_reason,
                row.reason,
            ]
            for row in sla_breach_rows(user=_lead(), filters=AUTUMN)
        ]


def _status(row) -> str:
    from cases.models.incident import Status

    return str(dict(Status.choices).get(row.status_at_breach, row.status_at_breach))


def _lead():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="lucia")


@pytest.mark.parametrize("language", ["en", "es"])
def test_breach_csv_rows_are_the_pages_breach_list(client, lead, language):
    """Every cell equals the page's breach list (labels, reasons, hours, instants) in each language."""
    client.force_login(lead)
    build_report_desk()

    rows = csv_rows(client.get(BREACHES_CSV, AUTUMN_QUERY, headers={"Accept-Language": language}))

    expected = _page_rows(language)
    assert len(expected) == 6  # U1, A2, PA22, PA32, R3 (running past target), A4 (found at stop)
    assert rows[1:] == expected


def test_breach_csv_in_spanish(client, lead):
    client.force_login(lead)
    desk = build_report_desk()
    i2 = desk["incidents"][1].reference

    rows = csv_rows(
        client.get(BREACHES_CSV, {"start": "2026-10-01", "end": "2026-10-31"}, headers={"Accept-Language": "es"})
    )

    assert rows[1] == [
        i2, "Visa declines", "SEV1 – crítica", "Bruno Baez", "Acuse de recibo", "Socio", "Visa MX", "2.00",
        "2026-10-20T11:00:00-06:00", "Incumplido", "1.00", "1.00", "Esperando al socio", "Visa MX", "",
        "Incidente esperando al socio al incumplirse. En espera de Visa MX.",
    ]  # fmt: skip


def test_breach_csv_cells_never_run_as_formulas(client, lead):
    """Text a person typed that a spreadsheet would evaluate is written with a leading apostrophe."""
    client.force_login(lead)
    breached_clocks(1, title='=HYPERLINK("http://evil.test")')
    clock = SlaClock.objects.get()
    clock.events.update(data={"status": "investigating", "waiting_on": ["@Acme"], "pause_reason": "-1+1"})

    rows = csv_rows(client.get(BREACHES_CSV, AUTUMN_QUERY))

    assert rows[1][1] == '\'=HYPERLINK("http://evil.test") 0'
    assert rows[1][13:15] == ["'@Acme", "'-1+1"]
    assert rows[1][7] == "1.00"  # numbers are numbers


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-12-01", "end": "2026-01-01"},  # backwards
        {"start": "2020-01-01", "end": "2026-01-01"},  # over 3 years
        {"start": "9999-12-30", "end": "9999-12-31"},  # no next day to end the range on
        {"start": "not-a-date", "end": "2026-01-01"},
        {"start": "2026-01-01", "end": "2026-13-45"},
        {"start": "2026-01-01", "partner": "99999999999999999999999"},
        {"start": "2026-01-01", "partner": "x'; DROP TABLE cases_slaclock;--"},
        {"start": "2026-01-01", "severity": "sev9"},
        {"start": "2026-01-01", "family": "everything"},
    ],
)
def test_hostile_filters_get_a_400(client, lead, query):
    client.force_login(lead)

    response = client.get(BREACHES_CSV, query)

    assert response.status_code == 400
    assert SlaClock.objects.count() == 0


def test_the_first_days_of_the_calendar_are_a_valid_empty_range(client, lead):
    client.force_login(lead)

    response = client.get(BREACHES_CSV, {"start": "0001-01-01", "end": "0001-01-02"})

    assert response.status_code == 200
    assert len(csv_rows(response)) == 1  # the header


def test_the_export_walks_its_index_instead_of_sorting(lead):
    """The ORDER BY matches slaclock_breach_order_idx: with it, the plan needs no Sort node."""
    sql, params = breach_export_sql(filters=AUTUMN, now=timezone.now(), zone="America/Mexico_City")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(line for (line,) in cursor.fetchall())

    assert "slaclock_breach_order_idx" in plan
    sort_keys = [line for line in plan.splitlines() if "Sort Key" in line]
    assert [key for key in sort_keys if "COALESCE" in key] == []  # (the lateral's top-1 of a clock's events may sort)


@pytest.mark.parametrize("path", ["/sla/reports/", "/api/v1/reports/sla/breaches/"])
def test_an_end_date_with_no_next_day_is_a_field_error_on_the_page_and_the_api(client, lead, path):
    client.force_login(lead)

    response = client.get(path, {"start": "9999-12-30", "end": "9999-12-31"})

    if path.startswith("/api/"):
        assert response.status_code == 400
        assert response.json()["error"]["fields"]["end"] == ["Choose an end date before the year 9999."]
    else:
        assert response.status_code == 200  # the form again, with its message
        assert "Choose an end date before the year 9999." in response.content.decode()
