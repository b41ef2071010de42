"""Partner pages: figures, contacts, ordering, search and filters, permissions and query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import Incident, PartnerEngagement
from cases.selectors import partner_directory, partner_engagement_rows, partner_figures
from partners.models import BusinessCalendar
from partners.selectors import partner_contact_rows
from tests.factories import (
    IncidentFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.now()
HOUR = dt.timedelta(hours=1)


def _incident(*, status: str, age_days: float, title: str) -> Incident:
    """An incident opened `age_days` ago (created_at is auto_now_add, so it is moved after)."""
    incident = IncidentFactory(status=status, title=title)
    created = NOW - dt.timedelta(days=age_days)
    Incident.objects.filter(pk=incident.pk).update(created_at=created)
    return incident


def _engage(partner, incident, *, notified_days_ago=None, ack_after=None, **kwargs) -> PartnerEngagement:
    notified = NOW - dt.timedelta(days=notified_days_ago) if notified_days_ago is not None else None
    return PartnerEngagementFactory(
        partner=partner,
        incident=incident,
        first_notified_at=notified,
        acknowledged_at=notified + ack_after if notified and ack_after is not None else None,
        **kwargs,
    )


@pytest.fixture
def desk():
    """Prosa (Mexican switch, Spanish) with five engagements, and Visa (idle, English, inactive).

    - fast:    open,     opened 5 d ago, notified 5 d ago, acknowledged after 1 h
    - slow:    closed,   opened 3 d ago, notified 3 d ago, acknowledged after 3 h
    - silent:  open,     opened 2 d ago, notified 2 d ago, never acknowledged
    - ancient: open,     opened 100 d ago, notified 100 d ago, acknowledged after 10 h (outside the window)
    - early:   resolved, opened 1 d ago, notified 1 d ago, partner acknowledged 1 h *before* our notice
    Acknowledged / notified in 90 days: 3 / 4; median time to acknowledge: (1 h + 3 h) / 2 = 2 h.
    """
    calendar = BusinessCalendar.objects.create(
        code="mx-test", name="Mexico banking hours", timezone="America/Mexico_City"
    )
    prosa = PartnerFactory(
        code="prosa",
        name="Prosa",
        kind="switch",
        country="MX",
        language="es",
        timezone="Asia/Tokyo",  # fixed offset, no DST: the page's local time is predictable
        calendar=calendar,
    )
    visa = PartnerFactory(code="visa", name="Visa", kind="card_network", country="GLOBAL", language="en", active=False)
    PartnerContactFactory(
        partner=prosa, name="Mesa de Control", email="mesa@prosa.test", language="", escalation_level=1
    )
    PartnerContactFactory(
        partner=prosa,
        name="Jane Roe",
        email="jane@prosa.test",
        language="en",
        escalation_level=2,
        receives_notices=False,
        phone="+52 55 5555 0101",
    )
    engagements = {
        "fast": _engage(
            prosa,
            _incident(status="investigating", age_days=5, title="Fast"),
            notified_days_ago=5,
            ack_after=HOUR,
            partner_status="acknowledged",
            folio="PRS-1",
        ),
        "slow": _engage(
            prosa,
            _incident(status="closed", age_days=3, title="Slow"),
            notified_days_ago=3,
            ack_after=3 * HOUR,
            partner_status="resolved",
            folio="PRS-2",
        ),
        "silent": _engage(
            prosa,
            _incident(status="waiting_on_partner", age_days=2, title="Silent"),
            notified_days_ago=2,
            partner_status="notified",
        ),
        "ancient": _engage(
            prosa,
            _incident(status="mitigated", age_days=100, title="Ancient"),
            notified_days_ago=100,
            ack_after=10 * HOUR,
            partner_status="fix_in_progress",
        ),
        "early": _engage(
            prosa,
            _incident(status="resolved", age_days=1, title="Early"),
            notified_days_ago=1,
            ack_after=-HOUR,
            partner_status="resolved",
        ),
    }
    return {"prosa": prosa, "visa": visa, **engagements}


# Figures ------------------------------------------------------------------------------------


def test_list_counts_open_and_recent_incidents(desk, analyst):
    partners = {p.code: p for p in partner_directory(user=analyst)}

    assert (partners["prosa"].open_incidents, partners["prosa"].recent_incidents) == (3, 4)
    assert (partners["visa"].open_incidents, partners["visa"].recent_incidents) == (0, 0)


def test_acknowledgement_figures_and_median_over_the_last_90_days(desk):
    figures = partner_figures(partner=desk["prosa"])

    assert figures == {"notified": 4, "acknowledged": 3, "median_time_to_acknowledge": 2 * HOUR}


def test_median_is_none_without_acknowledgements(desk):
    assert partner_figures(partner=desk["visa"]) == {
        "notified": 0,
        "acknowledged": 0,
        "median_time_to_acknowledge": None,
    }


def test_contacts_show_their_effective_language(desk):
    with translation.override("en"):  # labels are lazy; pin the language whatever ran before
        contacts = partner_contact_rows(partner=desk["prosa"])
        labels = [(c.name, str(c.effective_language_label), c.language_is_inherited) for c in contacts]

    assert labels == [
        ("Mesa de Control", "Spanish", True),
        ("Jane Roe", "English", False),
    ]


def test_incidents_are_open_first_then_newest(desk):
    rows = partner_engagement_rows(partner=desk["prosa"])

    assert [row.incident.title for row in rows] == ["Silent", "Fast", "Ancient", "Early", "Slow"]


# Pages --------------------------------------------------------------------------------------


def test_partner_page_shows_header_contacts_figures_and_incidents(client, desk, analyst):
    client.force_login(analyst)

    response = client.get(reverse("partners:partner_detail", args=["prosa"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Asia/Tokyo" in html and "(UTC+0900)" in html
    assert "Mexico banking hours" in html and "Switch" in html
    assert "Spanish <span" in html and "(partner's)" in html  # inherited language is marked
    assert '<a href="mailto:jane@prosa.test">' in html and "+52 55 5555 0101" in html
    assert "3 / 4" in html and "2 h 0 min" in html
    assert "PRS-1" in html and "Acknowledged" in html
    assert reverse("cases:incident_detail", args=[desk["fast"].incident.reference]) in html
    assert html.index(">Silent<") < html.index(">Fast<") < html.index(">Ancient<") < html.index(">Slow<")


def test_partner_without_calendar_uses_the_desk_default(client, desk, analyst):
    client.force_login(analyst)

    html = client.get(reverse("partners:partner_detail", args=["visa"])).content.decode()

    assert "The desk's default calendar" in html
    assert "No incident has engaged this partner yet." in html


def test_search_matches_name_code_and_contacts(client, desk, analyst):
    client.force_login(analyst)
    url = reverse("partners:partner_list")

    def found(text):
        return [p.code for p in client.get(url, {"q": text}).context["page"].object_list]

    assert found("pros") == ["prosa"]
    assert found("VISA") == ["visa"]
    assert found("jane@") == ["prosa"]
    assert found("nobody-here") == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "card_network"}, ["visa"]),
        ({"country": "MX"}, ["prosa"]),
        ({"active": "true"}, ["prosa"]),
        ({"active": "false"}, ["visa"]),
        ({"kind": "switch", "active": "false"}, []),
        ({}, ["prosa", "visa"]),  # busiest first
    ],
)
def test_filters(client, desk, analyst, params, expected):
    client.force_login(analyst)

    response = client.get(reverse("partners:partner_list"), params)

    assert [p.code for p in response.context["page"].object_list] == expected


def test_list_shows_language(client, desk, analyst):
    client.force_login(analyst)

    html = client.get(reverse("partners:partner_list")).content.decode()

    assert "<td>Spanish</td>" in html and "<td>English</td>" in html


def test_htmx_request_for_results_gets_the_results_block_only(client, desk, analyst):
    client.force_login(analyst)

    response = client.get(
        reverse("partners:partner_detail", args=["prosa"]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "Contacts" not in html


def test_unknown_code_is_404(client, analyst):
    client.force_login(analyst)

    assert client.get(reverse("partners:partner_detail", args=["no-such-partner"])).status_code == 404


# Permissions --------------------------------------------------------------------------------

# Anonymous visitors, users without a role and each desk role against these pages: the walk of
# every desk URL in tests/test_permission_matrix.py (it names these pages in
# test_the_walker_finds_the_desk). What stays here is what only these pages decide.


def test_no_role_user_sees_no_partner_through_the_selector(desk):
    assert list(partner_directory(user=UserFactory(username="nobody"))) == []


# Query counts -------------------------------------------------------------------------------

# Every page: session, user, profile (time zone), user and group permissions, role (6).
# List: + countries of the filter, count, page. Detail: + partner, figures, contacts, count, page.
LIST_QUERIES = 9
DETAIL_QUERIES = 11


@pytest.mark.parametrize("rows", [3, 25])
def test_list_queries_do_not_grow_with_rows(client, analyst, django_assert_max_num_queries, rows):
    for _ in range(rows):
        PartnerEngagementFactory(partner=PartnerFactory(), incident=IncidentFactory())
    client.force_login(analyst)

    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get(reverse("partners:partner_list"))

    assert len(response.context["page"].object_list) == rows


@pytest.mark.parametrize("rows", [3, 20])
def test_detail_queries_do_not_grow_with_rows(client, analyst, django_assert_max_num_queries, rows):
    partner = PartnerFactory(code="busy")
    for n in range(rows):
        PartnerContactFactory(partner=partner, language="" if n % 2 else "en")
        _engage(partner, IncidentFactory(status="new" if n % 2 else "closed"), notified_days_ago=n, ack_after=HOUR)
    client.force_login(analyst)

    with django_assert_max_num_queries(DETAIL_QUERIES):
        response = client.get(reverse("partners:partner_detail", args=["busy"]))

    assert len(response.context["page"].object_list) == rows
    assert len(response.context["contacts"]) == rows
