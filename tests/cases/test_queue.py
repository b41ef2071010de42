"""The incident queue: filters, search, sorting, paging, htmx fragments, permissions, query counts."""

import datetime as dt
import re
import zoneinfo

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import Incident
from cases.queue import incident_queue
from cases.search import refresh_search
from cases.selectors import incident_owner_choices, incident_owner_list
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English; a request in another language must not leak into the next test."""
    with translation.override("en"):
        yield


URL = "/incidents/"
MEXICO_CITY = zoneinfo.ZoneInfo("America/Mexico_City")


def references(user, query: str = "") -> list[str]:
    """The references the queue lists for `query`, in the queue's order."""
    page = incident_queue(user=user, params=QueryDict(query))
    assert page.filterset.is_valid(), page.filterset.errors
    return [incident.reference for incident in page.incidents]


def set_created(incident, moment: dt.datetime) -> None:
    Incident.objects.filter(pk=incident.pk).update(created_at=moment, updated_at=moment)


def row_references(response) -> list[str]:
    return re.findall(r'<tr id="incident-\d+">.*?>(PH-\d{4}-\d{6})</a>', response.content.decode(), re.S)


@pytest.fixture
def desk(analyst, lead):
    """Five incidents covering each filter, oldest first."""
    prosa, visa = PartnerFactory(code="prosa", name="Prosa"), PartnerFactory(code="visa", name="Visa")
    shop, airline = (
        MerchantFactory(account_id="acct_SHOP000001", name="Tienda Norte"),
        MerchantFactory(account_id="acct_AIR0000001", name="Aerolínea Sol"),
    )
    new = IncidentFactory(
        title="Caída de aprobación en débito",
        severity="sev1",
        status="new",
        category="auth_rate",
        owner=analyst,
        card_networks=["visa", "mastercard"],
    )
    investigating = IncidentFactory(
        title="Timeouts on the switch",
        severity="sev2",
        status="investigating",
        category="latency",
        owner=lead,
        card_networks=["carnet"],
    )
    waiting = IncidentFactory(
        title="Cost rate increase on cross-border", severity="sev1", status="waiting_on_partner", category="cost_rate"
    )
    resolved = IncidentFactory(title="Fraud spike resolved", severity="sev3", status="resolved", category="fraud_spike")
    closed = IncidentFactory(title="Old outage", severity="sev4", status="closed", category="outage", owner=analyst)
    # Two partners and two merchants on one incident: filters must never list it twice.
    for partner in (prosa, visa):
        PartnerEngagementFactory(incident=new, partner=partner)
    PartnerEngagementFactory(incident=waiting, partner=prosa)
    for merchant in (shop, airline):
        AffectedMerchantFactory(incident=new, merchant=merchant)
    AffectedMerchantFactory(incident=closed, merchant=shop)
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    for days, incident in enumerate((closed, resolved, waiting, investigating, new)):
        set_created(incident, start + dt.timedelta(days=days))
    refresh_search(incident_ids=[i.pk for i in (new, investigating, waiting, resolved, closed)])
    return {
        "new": new.reference,
        "investigating": investigating.reference,
        "waiting": waiting.reference,
        "resolved": resolved.reference,
        "closed": closed.reference,
    }


# --- Filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["new", "investigating", "waiting"]),  # open incidents by default, newest first
        ("status=open", ["new", "investigating", "waiting"]),
        ("status=all", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("status=closed", ["closed"]),
        ("status=open&status=closed", ["new", "investigating", "waiting", "closed"]),
        ("status=investigating&status=waiting_on_partner", ["investigating", "waiting"]),
        ("severity=sev1", ["new", "waiting"]),
        ("status=all&severity=sev3&severity=sev4", ["resolved", "closed"]),
        ("category=latency", ["investigating"]),
        ("status=all&category=outage&category=fraud_spike", ["resolved", "closed"]),
        ("partner=prosa", ["new", "waiting"]),
        ("partner=visa", ["new"]),
        ("status=all&merchant=acct_SHOP000001", ["new", "closed"]),
        ("merchant=acct_AIR0000001", ["new"]),
        ("owner=none", ["waiting"]),
        ("status=all&owner=me", ["new", "closed"]),
        ("network=visa", ["new"]),
        ("network=carnet&network=mastercard", ["new", "investigating"]),
        ("network=amex", []),
        ("severity=sev1&partner=prosa&owner=none", ["waiting"]),
        ("status=all&severity=sev1&network=visa&merchant=acct_SHOP000001&partner=visa", ["new"]),
    ],
)
def test_each_filter_narrows_and_they_combine(analyst, desk, query, expected):
    assert references(analyst, query) == [desk[name] for name in expected]


def test_the_owner_filter_offers_exactly_who_may_own_incidents(analyst, lead, outsider, django_assert_num_queries):
    """The filter's people come from a query compiled once: the same users, in the same order, as
    `incident_owner_choices` (a role, a direct permission or superuser; active only)."""
    direct = UserFactory(first_name="Zoe")
    direct.user_permissions.add(Permission.objects.get(codename="change_incident", content_type__app_label="cases"))
    UserFactory(is_superuser=True, first_name="Ana")
    UserFactory(is_superuser=True, is_active=False, first_name="Bea")
    with django_assert_num_queries(1):
        listed = incident_owner_list(user=analyst)
    expected = list(incident_owner_choices(user=analyst))
    assert [(u.pk, u.username, u.first_name, u.last_name) for u in listed] == [
        (u.pk, u.username, u.first_name, u.last_name) for u in expected
    ]
    assert {analyst.pk, lead.pk, direct.pk} <= {u.pk for u in listed} and outsider.pk not in {u.pk for u in listed}
    assert "Bea" not in {u.first_name for u in listed} and "Ana" in {u.first_name for u in listed}


def test_owner_filter_takes_a_user_id(analyst, lead, desk):
    assert references(analyst, f"owner={lead.pk}") == [desk["investigating"]]


@pytest.mark.parametrize(
    ("query", "from_counters"),
    [
        ("", True),
        ("status=open", True),
        ("severity=sev1", True),
        ("severity=sev1&severity=sev2", True),
        ("owner=me", True),
        ("owner=none", True),
        ("owner=LEAD", True),
        ("severity=sev1&owner=none", True),
        ("status=open&status=closed", False),
        ("status=investigating", False),
        ("status=all", False),
        ("category=latency", False),
        ("network=visa", False),
        ("created_from=2026-03-03", False),
        ("severity=sev1&partner=prosa", False),
    ],
)
def test_the_open_queue_is_counted_from_the_counters_and_agrees_with_its_rows(
    analyst, lead, desk, query, from_counters
):
    """The queue as it opens (open incidents, at most by severity and owner) takes its count from
    the open-incident counters instead of counting the rows; every other filter counts the rows.
    Both give the number of incidents listed."""
    query = query.replace("LEAD", str(lead.pk))
    IncidentFactory(severity="sev2", status="new", owner=None)  # one more open, unassigned
    with CaptureQueriesContext(connection) as queries:
        page = incident_queue(user=analyst, params=QueryDict(query))
    listed = incident_queue(user=analyst, params=QueryDict(f"{query}&per_page=100" if query else "per_page=100"))
    assert page.count == len(listed.incidents) == listed.count
    counted_rows = any(
        'SELECT COUNT(*) AS "__count" FROM "cases_incident"' in q["sql"] or " OVER ()" in q["sql"] for q in queries
    )
    assert counted_rows is not from_counters


def test_dates_are_days_in_the_viewers_time_zone(analyst, desk):
    # 2026-03-06 03:30 UTC is still 5 March (21:30) in Mexico City.
    late = Incident.objects.get(reference=desk["new"])
    set_created(late, dt.datetime(2026, 3, 6, 3, 30, tzinfo=dt.UTC))
    with timezone.override(MEXICO_CITY):
        assert desk["new"] in references(analyst, "created_from=2026-03-05&created_to=2026-03-05")
        assert desk["new"] not in references(analyst, "created_from=2026-03-06")
    with timezone.override(dt.UTC):
        assert desk["new"] not in references(analyst, "created_to=2026-03-05")
        assert references(analyst, "created_from=2026-03-06") == [desk["new"]]
    with timezone.override(MEXICO_CITY):
        assert references(analyst, "status=all&created_from=2026-03-02&created_to=2026-03-03") == [
            desk["waiting"],
            desk["resolved"],
        ]


def test_full_text_search_from_the_queue(client, analyst, desk):
    client.force_login(analyst)
    response = client.get(URL, {"q": "aprobaciones débito"})
    assert row_references(response) == [desk["new"]]
    # Partner names are part of the search document too.
    assert references(analyst, "q=prosa") == [desk["new"], desk["waiting"]]
    assert references(analyst, f"q={desk['closed']}&status=all") == [desk["closed"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("partner=nobody", "Partner"),
        ("merchant=acct_UNKNOWN000", "Merchant"),
        ("owner=banana", "Owner"),
        ("status=bogus", "Status"),
        ("severity=sev9", "Severity"),
        ("network=paypal", "Card network"),
        ("created_from=2026-02-30", "Opened from"),
        ("created_from=2026-03-05&created_to=2026-03-01", "Opened until"),
    ],
)
def test_invalid_filter_is_a_visible_form_error_not_a_500(client, analyst, desk, query, field):
    client.force_login(analyst)
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters are not valid" in html
    assert f"<li>{field}: " in html
    assert row_references(response) == []


# --- Sorting and paging -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("-created", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("created", ["closed", "resolved", "waiting", "investigating", "new"]),
        ("reference", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("-reference", ["closed", "resolved", "waiting", "investigating", "new"]),
        ("severity", ["new", "waiting", "investigating", "resolved", "closed"]),
        ("status", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("-status", ["closed", "resolved", "waiting", "investigating", "new"]),
        ("bogus", ["new", "investigating", "waiting", "resolved", "closed"]),
        ("--created", ["new", "investigating", "waiting", "resolved", "closed"]),
    ],
)
def test_sorting_uses_a_whitelist(analyst, desk, sort, expected):
    assert references(analyst, f"status=all&sort={sort}") == [desk[name] for name in expected]


def test_open_incidents_sorted_by_status_are_read_from_their_index_not_sorted(analyst, monkeypatch):
    """Sorted by status, a page of the open incidents is the entries of
    `incident_open_status_rank_idx` after its offset, whatever the number of open incidents."""
    statuses = ["new", "triaging", "investigating", "waiting_on_partner", "mitigated", "closed"]
    incidents = [IncidentFactory(status=statuses[index % len(statuses)]) for index in range(12)]
    monkeypatch.setattr("cases.queue.QUEUE_SMALL_RESULT", 0)  # as on a large desk: walk an index
    with CaptureQueriesContext(connection) as queries:
        page = incident_queue(user=analyst, params=QueryDict("sort=status&per_page=25"))
    (page_sql,) = [q["sql"] for q in queries.captured_queries if "LIMIT 25" in q["sql"]]
    with connection.cursor() as cursor:
        # Statistics of these rows (not of what earlier tests left), and sequential scans, bitmap
        # scans and sorts off: on a few rows, whether some plan reads the page in the index's order
        # without sorting it, which only an index on the very ORDER BY expression allows.
        cursor.execute("ANALYZE cases_incident")
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {page_sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = on")
    assert "incident_open_status_rank_idx" in plan and "Sort" not in plan, plan
    rank = {status: index for index, status in enumerate(statuses)}
    expected = sorted(
        (i for i in incidents if i.status != "closed"), key=lambda i: (rank[i.status], -i.created_at.timestamp(), -i.pk)
    )
    assert [i.pk for i in page.incidents] == [i.pk for i in expected]


def test_owner_sort_puts_unassigned_last(analyst, lead, desk):
    ordered = references(analyst, "status=all&sort=owner")
    assert ordered[-2:] == [desk["waiting"], desk["resolved"]]  # unassigned last, then by id


def test_equal_sort_keys_are_tie_broken_by_id(analyst):
    moment = timezone.now()
    incidents = IncidentFactory.create_batch(4, severity="sev2")
    for incident in incidents:
        set_created(incident, moment)
    assert references(analyst, "sort=-created") == [i.reference for i in reversed(incidents)]
    assert references(analyst, "sort=severity") == [i.reference for i in reversed(incidents)]


def test_pages_and_page_sizes(analyst):
    incidents = IncidentFactory.create_batch(30)
    newest_first = [i.reference for i in reversed(incidents)]
    assert references(analyst) == newest_first[:25]
    assert references(analyst, "page=2") == newest_first[25:]
    assert references(analyst, "page=99") == newest_first[25:]  # past the end: the last page
    assert references(analyst, "page=zero") == newest_first[:25]
    assert references(analyst, "per_page=50") == newest_first
    assert references(analyst, "per_page=7") == newest_first[:25]  # not a choice: the default
    page = incident_queue(user=analyst, params=QueryDict("page=2"))
    assert (page.count, page.number, page.num_pages, page.start_index, page.end_index) == (30, 2, 2, 26, 30)


def test_costly_filters_count_up_to_a_cap_and_say_more_than(client, analyst, monkeypatch):
    partner = PartnerFactory(code="prosa")
    incidents = IncidentFactory.create_batch(30)
    for incident in incidents:
        PartnerEngagementFactory(incident=incident, partner=partner)
    # Few expected matches: counted exactly.
    assert incident_queue(user=analyst, params=QueryDict("partner=prosa")).count_capped is False
    # As if PostgreSQL expected many matches, with a small cap.
    monkeypatch.setattr("cases.queue.QUEUE_EXACT_COUNT_ESTIMATE", 0)
    monkeypatch.setattr("cases.queue.QUEUE_COUNT_CAP", 3)
    first = incident_queue(user=analyst, params=QueryDict("partner=prosa"))
    # The cap never hides the page asked for: page 1 of 25 counts up to 25.
    assert (first.count, first.count_capped, first.has_next, len(first.incidents)) == (25, True, True, 25)
    second = incident_queue(user=analyst, params=QueryDict("partner=prosa&page=2"))
    assert (second.count, second.count_capped, second.has_next, len(second.incidents)) == (30, False, False, 5)
    client.force_login(analyst)
    html = client.get(URL, {"partner": "prosa"}).content.decode()
    assert "Showing 1–25 of more than 25 incidents" in html
    assert 'rel="next"' in html
    # Without a costly filter the count is exact.
    assert "30 incidents" in client.get(URL).content.decode()


def test_few_expected_matches_are_counted_with_their_page_in_one_query(analyst):
    partner, other = PartnerFactory(code="prosa"), PartnerFactory(code="banorte")
    engaged = IncidentFactory.create_batch(30)
    for incident in engaged:
        PartnerEngagementFactory(incident=incident, partner=partner)
    IncidentFactory.create_batch(4)  # not engaging it
    oldest_five = [i.reference for i in reversed(engaged[:5])]

    with CaptureQueriesContext(connection) as queries:
        second = incident_queue(user=analyst, params=QueryDict("partner=prosa&page=2"))

    assert (second.count, second.number, second.count_capped) == (30, 2, False)
    assert [i.reference for i in second.incidents] == oldest_five
    sqls = [q["sql"] for q in queries.captured_queries]
    assert not [sql for sql in sqls if 'COUNT(*) AS "__count"' in sql]  # no separate count
    assert len([sql for sql in sqls if " OVER ()" in sql and "LIMIT 25 OFFSET 25" in sql]) == 1
    past = incident_queue(user=analyst, params=QueryDict("partner=prosa&page=9"))  # past the end
    assert (past.count, past.number, [i.reference for i in past.incidents]) == (30, 2, oldest_five)
    none = incident_queue(user=analyst, params=QueryDict(f"partner={other.code}&page=3"))
    assert (none.count, none.number, none.incidents) == (0, 1, [])


def capped_count_queries(queries) -> list[str]:
    """The capped counts among captured queries: COUNT(*) over a LIMITed subquery."""
    return [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"] and "LIMIT" in q["sql"]]


@pytest.mark.parametrize("sort", ["-created", "created", "severity", "-owner"])
def test_the_capped_count_has_no_order_by_and_stays_exact_up_to_the_cap(analyst, monkeypatch, sort):
    partner = PartnerFactory(code="prosa")
    incidents = IncidentFactory.create_batch(30)
    for incident in incidents:
        PartnerEngagementFactory(incident=incident, partner=partner)
    monkeypatch.setattr("cases.queue.QUEUE_EXACT_COUNT_ESTIMATE", 0)  # as if many matches were expected
    monkeypatch.setattr("cases.queue.QUEUE_COUNT_CAP", 3)
    # An ORDER BY in the count would let PostgreSQL walk the created_at index over every row.
    with CaptureQueriesContext(connection) as queries:
        first = incident_queue(user=analyst, params=QueryDict(f"partner=prosa&sort={sort}"))
    (count_sql,) = capped_count_queries(queries)
    assert "ORDER BY" not in count_sql.upper()
    assert "LIMIT 26" in count_sql  # the cap (page 1 of 25) and one more, to tell "more than"
    assert (first.count, first.count_capped, len(first.incidents)) == (25, True, 25)
    # Counted past the end: the exact count, not capped.
    with CaptureQueriesContext(connection) as queries:
        whole = incident_queue(user=analyst, params=QueryDict(f"partner=prosa&sort={sort}&per_page=50"))
    (count_sql,) = capped_count_queries(queries)
    assert "ORDER BY" not in count_sql.upper()
    assert (whole.count, whole.count_capped, len(whole.incidents)) == (30, False, 30)
    # The page itself is still in the asked order, whatever the count did.
    expected = incident_queue(user=analyst, params=QueryDict(f"sort={sort}&per_page=50"))
    assert [i.pk for i in whole.incidents] == [i.pk for i in expected.incidents]


def test_few_matches_on_the_capped_path_are_counted_exactly_and_sorted_in_memory(analyst, monkeypatch):
    """The planner's guess is too high (a rare search): the capped count finds only a few rows."""
    rare = IncidentFactory.create_batch(3, title="Reembolsos duplicados en Oxxo")
    IncidentFactory.create_batch(10, title="Caída de aprobación")
    refresh_search(incident_ids=Incident.objects.values_list("pk", flat=True))
    monkeypatch.setattr("cases.queue.QUEUE_EXACT_COUNT_ESTIMATE", 0)
    with CaptureQueriesContext(connection) as queries:
        page = incident_queue(user=analyst, params=QueryDict("q=oxxo"))
    (count_sql,) = capped_count_queries(queries)
    assert "ORDER BY" not in count_sql.upper()
    assert (page.count, page.count_capped) == (3, False)
    assert [i.reference for i in page.incidents] == [i.reference for i in reversed(rare)]
    # Few matches: the page's ORDER BY is one no index answers (no walk of created_at either).
    (page_sql,) = [q["sql"] for q in queries.captured_queries if "LIMIT 25" in q["sql"] and "COUNT(*)" not in q["sql"]]
    assert "COALESCE" in page_sql.upper()


def test_a_reference_in_any_case_finds_its_incident(analyst, desk):
    assert references(analyst, f"status=all&q={desk['closed'].lower()}") == [desk["closed"]]


def test_page_shows_count_sort_links_and_pagination_that_keep_the_filters(client, analyst):
    IncidentFactory.create_batch(30, severity="sev2")
    client.force_login(analyst)
    response = client.get(URL, {"severity": "sev2", "sort": "reference"})
    html = response.content.decode()
    assert "Showing 1–25 of 30 incidents" in html
    assert 'href="/incidents/?severity=sev2&amp;sort=reference&amp;page=2"' in html
    # The sorted column sorts the other way on a second click, and resets to page 1.
    assert 'href="/incidents/?severity=sev2&amp;sort=-reference"' in html
    assert 'aria-sort="ascending"' in html
    # Sort travels with the filter form (attached through the form attribute).
    assert '<input type="hidden" name="sort" value="reference" form="filters">' in html


def test_list_shows_each_column(client, analyst, desk):
    client.force_login(analyst)
    html = client.get(URL, {"q": desk["new"]}).content.decode()
    detail = reverse("cases:incident_detail", args=[desk["new"]])
    assert f'<a href="{detail}">{desk["new"]}</a>' in html
    assert "Caída de aprobación en débito" in html
    assert "SEV1 – critical" in html and "New" in html and "Authorization rate regression" in html
    assert "Prosa, Visa" in html
    assert "Aerolínea Sol, Tienda Norte" in html
    # Opened on 5 March 12:00 UTC, shown in the viewer's zone (Mexico City, 06:00).
    assert re.search(r"<time datetime=\"2026-03-05T06:00:00-06:00\">", html)


def test_empty_state(client, analyst):
    client.force_login(analyst)
    html = client.get(URL).content.decode()
    assert "No incidents match these filters." in html
    assert "0 incidents" in html


# --- htmx ------------------------------------------------------------------------------------


def test_htmx_request_gets_only_the_results_fragment(client, analyst, desk):
    client.force_login(analyst)
    full = client.get(URL).content.decode()
    fragment = client.get(URL, {"severity": "sev1"}, headers={"HX-Request": "true"}).content.decode()
    assert full.lstrip().startswith("<!DOCTYPE html>") and 'id="filters"' in full and 'id="results"' in full
    assert "<html" not in fragment and 'id="filters"' not in fragment and 'id="saved-views"' not in fragment
    assert 'id="bulk"' in fragment and "2 incidents" in fragment
    assert row_references_from(fragment) == [desk["new"], desk["waiting"]]


def test_htmx_response_pushes_the_short_canonical_url_and_refreshes_saved_views(client, analyst):
    client.force_login(analyst)
    sent = "q=&status=open&severity=sev1&partner=&merchant=&owner=&created_from=&per_page=25&page=1&sort=-created"
    response = client.get(f"{URL}?{sent}", headers={"HX-Request": "true"})
    assert response["HX-Push-Url"] == "/incidents/?severity=sev1"
    assert '<div id="saved-list" hx-swap-oob="true">' in response.content.decode()


def test_history_restore_gets_the_whole_page(client, analyst):
    client.force_login(analyst)
    html = client.get(URL, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}).content.decode()
    assert "<html" in html


def test_filter_form_and_links_work_with_and_without_javascript(client, analyst, desk):
    client.force_login(analyst)
    html = client.get(URL).content.decode()
    form = re.search(r'<form id="filters"[^>]*>', html).group(0)
    assert 'method="get"' in form and 'action="/incidents/"' in form
    assert 'hx-get="/incidents/"' in form and 'hx-target="#results"' in form and 'hx-push-url="true"' in form
    assert "delay:400ms" in form
    sort_link = re.search(r'<a href="/incidents/\?sort=reference"[^>]*>', html).group(0)
    assert 'hx-get="/incidents/?sort=reference"' in sort_link and 'hx-push-url="true"' in sort_link


def row_references_from(html: str) -> list[str]:
    return re.findall(r'<tr id="incident-\d+">.*?>(PH-\d{4}-\d{6})</a>', html, re.S)


# --- Permissions ------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_a_role_is_refused(client, outsider):
    client.force_login(outsider)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
def test_every_desk_role_sees_the_queue(client, role, request, desk):
    client.force_login(request.getfixturevalue(role))
    response = client.get(URL)
    assert response.status_code == 200
    assert len(row_references(response)) == 3


def test_viewer_without_change_permission_sees_no_bulk_controls(client, desk):
    viewer = UserFactory(username="vera")
    viewer.user_permissions.add(Permission.objects.get(codename="view_incident", content_type__app_label="cases"))
    client.force_login(viewer)
    html = client.get(URL).content.decode()
    assert len(row_references_from(html)) == 3
    assert 'name="incident"' not in html and 'name="action"' not in html


# --- Query counts -----------------------------------------------------------------------------


def _incidents_with_relations(count: int) -> None:
    partners = PartnerFactory.create_batch(3)
    merchants = MerchantFactory.create_batch(3)
    for incident in IncidentFactory.create_batch(count):
        for partner in partners[:2]:
            PartnerEngagementFactory(incident=incident, partner=partner)
        for merchant in merchants:
            AffectedMerchantFactory(incident=incident, merchant=merchant)


# Session, user, profile, two permission loads, the user's groups (role badge), owner choices,
# the partner filter's lookup, the count's plan estimate, count, page ids, page rows, saved views,
# partner and merchant options of the filter form, the page's SLA clocks.
QUEUE_MAX_QUERIES = 16


@pytest.mark.parametrize(("rows", "per_page"), [(10, 25), (100, 100)])
def test_queue_runs_a_constant_number_of_queries(client, analyst, rows, per_page, django_assert_max_num_queries):
    _incidents_with_relations(rows)
    client.force_login(analyst)
    partner = Incident.objects.first().engagements.first().partner
    client.get(URL)  # warm caches that are not per request (content types)
    with django_assert_max_num_queries(QUEUE_MAX_QUERIES):
        response = client.get(URL, {"per_page": per_page, "partner": partner.code})
    assert len(row_references(response)) == rows


def test_query_count_does_not_grow_with_page_size(client, analyst):
    _incidents_with_relations(100)
    client.force_login(analyst)
    client.get(URL)
    counts = []
    for per_page in (25, 100):
        with CaptureQueriesContext(connection) as queries:
            client.get(URL, {"per_page": per_page}, headers={"HX-Request": "true"})
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- Language ---------------------------------------------------------------------------------


def test_labels_follow_the_active_language(client, analyst, desk):
    client.force_login(analyst)
    html = client.get(URL, headers={"Accept-Language": "es"}).content.decode()
    # Column labels already in the compiled Spanish catalogue.
    assert "Severidad" in html and "Responsable" in html
