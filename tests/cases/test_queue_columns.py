"""The dense queue: sortable headers and their whitelist, the column menu kept on the profile,
names as "BBVA México +2", an exact reference found whatever the filters, the search of all
statuses, and a constant number of queries."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from accounts.models import QUEUE_COLUMNS_DEFAULT, Profile
from accounts.services import profile_queue_columns_update
from cases.search import refresh_search
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
)

pytestmark = pytest.mark.django_db

URL = "/incidents/"
COLUMNS_URL = "/incidents/columns/"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="incident-\d+">.*?>(PH-\d{4}-\d{6})</a>', html, re.S)


def headers(html: str) -> list[str]:
    """The table's header labels, in order."""
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    return [re.sub(r"<[^>]+>|[▲▼]", "", cell).strip() for cell in cells]


def aria_sort(html: str, label: str) -> str:
    match = re.search(rf'<th scope="col" aria-sort="(\w+)" class="sortable">\s*<a [^>]*>{label}<', html)
    assert match, f"no sortable header {label}"
    return match.group(1)


# --- Sorting ------------------------------------------------------------------------------------


def test_headers_sort_on_the_server_with_aria_sort(client, analyst):
    low = IncidentFactory(severity="sev4")
    high = IncidentFactory(severity="sev1")
    client.force_login(analyst)

    html = client.get(URL, {"sort": "severity"}).content.decode()

    assert rows(html) == [high.reference, low.reference]
    assert aria_sort(html, "Severity") == "ascending"
    assert aria_sort(html, "Reference") == "none"
    # The next click on the sorted column reverses it.
    assert 'href="/incidents/?sort=-severity"' in html
    html = client.get(URL, {"sort": "-severity"}).content.decode()
    assert rows(html) == [low.reference, high.reference]
    assert aria_sort(html, "Severity") == "descending"


def test_default_order_is_newest_first_shown_as_youngest_age_first(client, analyst):
    older, newer = IncidentFactory(), IncidentFactory()
    client.force_login(analyst)

    html = client.get(URL).content.decode()

    assert rows(html) == [newer.reference, older.reference]
    assert aria_sort(html, "Age") == "ascending"
    assert aria_sort(html, "Last update") == "none"


@pytest.mark.parametrize(
    "sort",
    [
        "password",
        "owner__password",
        "-owner__password",
        "--created",
        "-",
        "created;DROP TABLE cases_incident",
        "título",
        "\x00",
        "x" * 5000,
        "severity&sort=status",
    ],
)
def test_hostile_sort_falls_back_to_the_default_never_a_500(client, analyst, sort):
    older, newer = IncidentFactory(), IncidentFactory()
    client.force_login(analyst)

    response = client.get(URL, {"sort": sort})

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert rows(response.content.decode()) == [newer.reference, older.reference]


def test_several_sort_values_use_the_first_whitelisted_or_the_default(client, analyst):
    IncidentFactory.create_batch(2)
    client.force_login(analyst)
    assert client.get(f"{URL}?sort=bogus&sort=severity").status_code == 200


# --- Cells -------------------------------------------------------------------------------------


def test_partners_and_merchants_show_the_first_name_and_how_many_more(client, analyst):
    incident = IncidentFactory(title="A" * 180)
    for name in ("Visa", "BBVA México", "Prosa"):
        PartnerEngagementFactory(incident=incident, partner=PartnerFactory(name=name))
    AffectedMerchantFactory(incident=incident, merchant=MerchantFactory(name="Tienda Norte"))
    client.force_login(analyst)

    html = client.get(URL).content.decode()

    assert '<td class="names" title="BBVA México, Prosa, Visa">BBVA México <span class="more">+2</span></td>' in html
    assert '<td class="names">Tienda Norte</td>' in html
    # A long title is cut by the stylesheet; the whole of it is in the cell's title.
    assert f'<td class="title" title="{"A" * 180}">' in html


# --- The column menu ---------------------------------------------------------------------------


def test_default_columns_then_the_chosen_ones_are_kept_on_the_profile(client, analyst):
    IncidentFactory()
    client.force_login(analyst)
    assert headers(client.get(URL).content.decode())[1:] == [
        "Reference",
        "Title",
        "Severity",
        "Status",
        "SLA",
        "Owner",
        "Partners",
        "Merchants",
        "Age",
        "Last update",
    ]

    response = client.post(
        COLUMNS_URL, {"column": ["opened", "category", "severity"], "return_query": "severity=sev3&sort=reference"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/incidents/?severity=sev3&sort=reference"
    assert Profile.objects.get(user=analyst).queue_columns == ["opened", "category", "severity"]
    html = client.get(URL).content.decode()
    # The queue's own order, whatever the order ticked; reference and title always.
    assert headers(html)[1:] == ["Reference", "Title", "Severity", "Category", "Opened"]
    assert "sla-badge-" not in html and 'hx-trigger="every' not in html  # no SLA column, no SLA poll


def test_no_optional_column_leaves_reference_and_title(client, analyst):
    IncidentFactory()
    client.force_login(analyst)
    client.post(COLUMNS_URL, {"return_query": ""})
    assert headers(client.get(URL).content.decode())[1:] == ["Reference", "Title"]
    # And back to the default.
    client.post(COLUMNS_URL, {"reset": "1"})
    assert Profile.objects.get(user=analyst).queue_columns is None
    assert len(headers(client.get(URL).content.decode())) == 2 + 1 + len(QUEUE_COLUMNS_DEFAULT)


def test_htmx_column_save_answers_with_the_results(client, analyst):
    IncidentFactory(severity="sev2")
    client.force_login(analyst)

    response = client.post(
        COLUMNS_URL, {"column": ["status"], "return_query": "severity=sev2"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert headers(html)[1:] == ["Reference", "Title", "Status"]
    assert len(rows(html)) == 1


@pytest.mark.parametrize(
    "columns", [["reference"], ["title"], ["severity", "password"], ["<script>"], ["x" * 300], ["sla", ""]]
)
def test_unknown_columns_are_refused_not_saved_never_a_500(client, analyst, columns):
    IncidentFactory()
    client.force_login(analyst)

    response = client.post(COLUMNS_URL, {"column": columns}, follow=True)

    assert response.status_code == 200
    assert "is not one of the available choices" in response.content.decode()
    assert Profile.objects.filter(user=analyst, queue_columns__isnull=False).count() == 0
    fragment = client.post(COLUMNS_URL, {"column": columns}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and 'role="alert"' in fragment.content.decode()


def test_the_profile_refuses_unknown_repeated_or_malformed_columns(analyst):
    for bad in (["bogus"], ["severity", "severity"], "severity", [1], {"a": 1}):
        with pytest.raises(ValidationError):
            profile_queue_columns_update(user=analyst, columns=bad)
    assert profile_queue_columns_update(user=analyst, columns=["owner"]).queue_columns == ["owner"]
    # A stored value that no longer validates falls back to the default columns.
    Profile.objects.filter(user=analyst).update(queue_columns=["gone"])
    assert Profile.objects.get(user=analyst).chosen_queue_columns == QUEUE_COLUMNS_DEFAULT


def test_columns_need_a_signed_in_desk_user(client, outsider):
    assert client.post(COLUMNS_URL, {"column": ["status"]}).status_code == 302  # to the login page
    client.force_login(outsider)
    assert client.post(COLUMNS_URL, {"column": ["status"]}).status_code == 403
    assert not Profile.objects.filter(queue_columns__isnull=False).exists()
    assert client.get(COLUMNS_URL).status_code == 403


def test_each_user_keeps_their_own_columns(client, analyst, lead):
    IncidentFactory()
    client.force_login(analyst)
    client.post(COLUMNS_URL, {"column": ["status"]})
    client.force_login(lead)
    assert "Severity" in headers(client.get(URL).content.decode())


# --- Search -----------------------------------------------------------------------------------


def test_an_exact_reference_is_found_whatever_the_filters(client, analyst):
    closed = IncidentFactory(status="closed", severity="sev4", title="Old outage")
    IncidentFactory(status="new", severity="sev1")
    client.force_login(analyst)

    # Default status filter ("open") would hide it; so would the severity filter.
    for query in (
        {"q": closed.reference},
        {"q": closed.reference.lower()},
        {"q": f"  {closed.reference} ", "severity": "sev1"},
        {"q": closed.reference, "status": "new", "owner": "me"},
    ):
        html = client.get(URL, query).content.decode()
        assert rows(html) == [closed.reference], query
        assert "whatever the other filters" in html
    # A reference that does not exist lists nothing, and offers every status.
    html = client.get(URL, {"q": "PH-2026-999999"}).content.decode()
    assert rows(html) == []


def test_a_search_that_finds_nothing_offers_every_status(client, analyst):
    found = IncidentFactory(status="resolved", title="Rechazos en Prosa")
    refresh_search(incident_ids=[found.pk])
    client.force_login(analyst)

    html = client.get(URL, {"q": "prosa", "severity": "sev3"}).content.decode()

    assert rows(html) == []
    link = re.search(r'<a class="button" href="([^"]+)" data-all-statuses>Search all statuses</a>', html)
    assert link, html
    href = link.group(1).replace("&amp;", "&")
    assert "status=all" in href and "q=prosa" in href and "severity=sev3" in href
    assert rows(client.get(href).content.decode()) == [found.reference]
    # Not offered without a search, nor when every status was searched already.
    assert "Search all statuses" not in client.get(URL, {"severity": "sev1"}).content.decode()
    assert "Search all statuses" not in client.get(URL, {"q": "nada", "status": "all"}).content.decode()


# --- Queries ----------------------------------------------------------------------------------


def _desk(count: int) -> None:
    partners = PartnerFactory.create_batch(3)
    merchants = MerchantFactory.create_batch(3)
    for incident in IncidentFactory.create_batch(count):
        for partner in partners:
            PartnerEngagementFactory(incident=incident, partner=partner)
        for merchant in merchants[:2]:
            AffectedMerchantFactory(incident=incident, merchant=merchant)


# As the queue's own test counts them (tests/cases/test_queue.py), whatever the columns.
QUEUE_MAX_QUERIES = 16


@pytest.mark.parametrize(("rows_count", "per_page"), [(5, 25), (100, 100)])
@pytest.mark.parametrize("columns", [None, ["sla", "partners", "merchants", "category", "opened", "updated"]])
def test_query_count_stays_constant_in_page_size_and_columns(
    client, analyst, rows_count, per_page, columns, django_assert_max_num_queries
):
    _desk(rows_count)
    if columns is not None:
        profile_queue_columns_update(user=analyst, columns=columns)
    client.force_login(analyst)
    client.get(URL)
    with django_assert_max_num_queries(QUEUE_MAX_QUERIES):
        response = client.get(URL, {"per_page": per_page, "sort": "owner"})
    assert len(rows(response.content.decode())) == rows_count


def test_an_exact_reference_costs_no_more_queries(client, analyst, django_assert_max_num_queries):
    _desk(30)
    reference = IncidentFactory(status="closed").reference
    client.force_login(analyst)
    client.get(URL)
    with django_assert_max_num_queries(QUEUE_MAX_QUERIES):
        response = client.get(URL, {"q": reference, "severity": "sev1"})
    assert rows(response.content.decode()) == [reference]
