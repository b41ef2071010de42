"""Merchant pages: figures, ordering, search and filters, permissions and query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Profile
from cases.models import Incident
from cases.selectors import merchant_figures, merchant_impact_rows, merchant_list_visible_to
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def _incident(*, status: str, age_days: float, **kwargs) -> Incident:
    """An incident opened `age_days` ago (created_at is auto_now_add, so it is moved after)."""
    incident = IncidentFactory(status=status, **kwargs)
    created = NOW - dt.timedelta(days=age_days)
    Incident.objects.filter(pk=incident.pk).update(created_at=created)
    incident.created_at = created
    return incident


@pytest.fixture
def desk():
    """Zapatería (3 open incidents: one older than 90 days) and Abarrotes (none).

    - recent_open: opened 1 day ago, 95% → 80%, 1,000 MXN at risk
    - usd_open: opened 2 days ago, unmeasured rates, 300 USD at risk
    - old_open: opened 120 days ago, 90% → 40% (outside the window), 250 MXN at risk
    - closed: opened 10 days ago, 90% → 60% (worst recent drop), 500 USD (closed: not at risk)
    """
    zapateria = MerchantFactory(
        name="Zapatería Zenit",
        account_id="acct_ZAPATERIA01",
        country="MX",
        segment="strategic",
        mcc="5661",
        account_manager="Valeria Cruz",
        account_manager_email="valeria@payhealth.test",
    )
    abarrotes = MerchantFactory(name="Abarrotes Alba", account_id="acct_ABARROTES01", country="CO", segment="platform")
    recent_open = _incident(status="investigating", age_days=1, title="Recent open")
    usd_open = _incident(status="waiting_on_partner", age_days=2, title="USD open")
    old_open = _incident(status="mitigated", age_days=120, title="Old open")
    closed = _incident(status="closed", age_days=10, title="Closed one")
    AffectedMerchantFactory(
        incident=recent_open,
        merchant=zapateria,
        baseline_rate=Decimal("0.9500"),
        observed_rate=Decimal("0.8000"),
        attempts=1000,
        failed_attempts=200,
        volume_at_risk=Decimal("1000.00"),
        currency="MXN",
    )
    AffectedMerchantFactory(incident=usd_open, merchant=zapateria, volume_at_risk=Decimal("300.00"), currency="USD")
    AffectedMerchantFactory(
        incident=old_open,
        merchant=zapateria,
        baseline_rate=Decimal("0.9000"),
        observed_rate=Decimal("0.4000"),
        volume_at_risk=Decimal("250.00"),
        currency="MXN",
    )
    AffectedMerchantFactory(
        incident=closed,
        merchant=zapateria,
        baseline_rate=Decimal("0.9000"),
        observed_rate=Decimal("0.6000"),
        volume_at_risk=Decimal("500.00"),
        currency="USD",
    )
    return {
        "zapateria": zapateria,
        "abarrotes": abarrotes,
        "recent_open": recent_open,
        "usd_open": usd_open,
        "old_open": old_open,
        "closed": closed,
    }


# Figures ------------------------------------------------------------------------------------


def test_list_counts_open_and_recent_incidents(desk, analyst):
    merchants = {m.account_id: m for m in merchant_list_visible_to(user=analyst)}

    assert (merchants["acct_ZAPATERIA01"].open_incidents, merchants["acct_ZAPATERIA01"].recent_incidents) == (3, 3)
    assert (merchants["acct_ABARROTES01"].open_incidents, merchants["acct_ABARROTES01"].recent_incidents) == (0, 0)


def test_list_is_busiest_first_then_by_name(desk, analyst):
    MerchantFactory(name="Bodega Beta", account_id="acct_BODEGA0001")

    names = [m.name for m in merchant_list_visible_to(user=analyst)]

    assert names == ["Zapatería Zenit", "Abarrotes Alba", "Bodega Beta"]


def test_volume_at_risk_is_summed_per_currency_over_open_incidents_only(desk):
    figures = merchant_figures(merchant=desk["zapateria"])

    assert figures["volume_at_risk"] == [
        {"currency": "MXN", "total": Decimal("1250.00")},
        {"currency": "USD", "total": Decimal("300.00")},
    ]


def test_worst_drop_is_the_largest_within_90_days_open_or_not(desk):
    worst = merchant_figures(merchant=desk["zapateria"])["worst_drop"]

    assert worst.incident == desk["closed"]
    assert worst.rate_drop_pp == Decimal("30.0000")


def test_worst_drop_is_none_without_a_recent_measured_drop(desk):
    assert merchant_figures(merchant=desk["abarrotes"])["worst_drop"] is None


def test_incidents_are_open_first_then_newest_with_the_merchants_measures(desk):
    rows = list(merchant_impact_rows(merchant=desk["zapateria"]))

    assert [row.incident.title for row in rows] == ["Recent open", "USD open", "Old open", "Closed one"]
    recent = rows[0]
    assert (recent.baseline_percent, recent.observed_percent) == (Decimal("95.0000"), Decimal("80.0000"))
    assert recent.excess_declines == 150  # 200 failed − round(1,000 × 5%) expected


# Pages --------------------------------------------------------------------------------------


def test_merchant_page_shows_header_figures_and_incidents(client, desk, analyst):
    client.force_login(analyst)

    response = client.get(reverse("cases:merchant_detail", args=["acct_ZAPATERIA01"]))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="mailto:valeria@payhealth.test">Valeria Cruz</a>' in html
    assert "5661" in html and "Strategic" in html
    assert "1,250.00" in html and "300.00" in html
    assert "−30.0 pp" in html
    assert reverse("cases:incident_detail", args=[desk["closed"].reference]) in html
    assert html.index("Recent open") < html.index("USD open") < html.index("Old open") < html.index("Closed one")
    assert "95.00 %" in html and "80.00 %" in html and ">150<" in html


def test_opened_dates_are_shown_in_the_viewers_zone_and_language(client, desk, analyst):
    opened = dt.datetime(2026, 1, 15, 18, 30, tzinfo=dt.UTC)
    Incident.objects.filter(pk=desk["recent_open"].pk).update(created_at=opened)
    Profile.objects.update_or_create(user=analyst, defaults={"timezone": "Asia/Tokyo"})
    client.force_login(analyst)
    url = reverse("cases:merchant_detail", args=["acct_ZAPATERIA01"])

    with translation.override("en"):  # LocaleMiddleware activates "es" in this thread; do not leak it
        english = client.get(url).content.decode()
        client.cookies["django_language"] = "es"
        spanish = client.get(url).content.decode()

    assert "01/16/2026 3:30 a.m." in english  # 18:30 UTC is 03:30 the next day in Tokyo
    assert "16/01/2026 03:30" in spanish


def test_search_by_name_and_by_account_id(client, desk, analyst):
    client.force_login(analyst)
    url = reverse("cases:merchant_list")

    by_name = client.get(url, {"q": "zapat"}).context["page"].object_list
    by_account = client.get(url, {"q": "ABARROTES"}).context["page"].object_list

    assert [m.name for m in by_name] == ["Zapatería Zenit"]
    assert [m.name for m in by_account] == ["Abarrotes Alba"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"country": "CO"}, ["Abarrotes Alba"]),
        ({"segment": "strategic"}, ["Zapatería Zenit"]),
        ({"country": "MX", "segment": "platform"}, []),
        ({"segment": "not-a-segment"}, ["Zapatería Zenit", "Abarrotes Alba"]),  # invalid: ignored
    ],
)
def test_filters(client, desk, analyst, params, expected):
    client.force_login(analyst)

    response = client.get(reverse("cases:merchant_list"), params)

    assert [m.name for m in response.context["page"].object_list] == expected


def test_list_is_paginated_and_pages_keep_the_filters(client, analyst):
    for n in range(30):
        MerchantFactory(name=f"Tienda {n:02d}", country="PE")
    client.force_login(analyst)

    response = client.get(reverse("cases:merchant_list"), {"country": "PE", "page": 2})

    assert [m.name for m in response.context["page"].object_list] == [f"Tienda {n:02d}" for n in range(25, 30)]
    assert "?country=PE&amp;page=1" in response.content.decode()


def test_htmx_request_for_results_gets_the_results_block_only(client, desk, analyst):
    client.force_login(analyst)

    response = client.get(
        reverse("cases:merchant_list"), {"q": "zap"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="results"')
    assert "Zapatería Zenit" in html and "<html" not in html


def test_unknown_account_id_is_404(client, analyst):
    client.force_login(analyst)

    assert client.get(reverse("cases:merchant_detail", args=["acct_NOPE000000"])).status_code == 404


# Permissions --------------------------------------------------------------------------------

# Anonymous visitors, users without a role and each desk role against these pages: the walk of
# every desk URL in tests/test_permission_matrix.py (it names these pages in
# test_the_walker_finds_the_desk). What stays here is what only these pages decide.


def test_no_role_user_sees_no_merchant_through_the_selector(desk):
    assert list(merchant_list_visible_to(user=UserFactory(username="nobody"))) == []


# Query counts -------------------------------------------------------------------------------

# Every page: session, user, profile (time zone), user and group permissions, role (6).
# List: + countries of the filter, count, page. Detail: + merchant, volume, worst drop, count, page,
# its routes (affiliation numbers).
LIST_QUERIES = 9
DETAIL_QUERIES = 12


def _merchants_with_incidents(count: int) -> None:
    for _ in range(count):
        merchant = MerchantFactory()
        AffectedMerchantFactory(merchant=merchant, incident=IncidentFactory(), baseline_rate=Decimal("0.9"))


@pytest.mark.parametrize("rows", [3, 25])
def test_list_queries_do_not_grow_with_rows(client, analyst, django_assert_max_num_queries, rows):
    _merchants_with_incidents(rows)
    client.force_login(analyst)

    with django_assert_max_num_queries(LIST_QUERIES):
        response = client.get(reverse("cases:merchant_list"))

    assert len(response.context["page"].object_list) == rows


@pytest.mark.parametrize("rows", [3, 20])
def test_detail_queries_do_not_grow_with_incidents(client, analyst, django_assert_max_num_queries, rows):
    merchant = MerchantFactory(account_id="acct_BUSY000001")
    for n in range(rows):
        AffectedMerchantFactory(
            merchant=merchant,
            incident=IncidentFactory(status="closed" if n % 2 else "new"),
            baseline_rate=Decimal("0.9"),
            observed_rate=Decimal("0.8"),
            volume_at_risk=Decimal("10"),
            currency="MXN" if n % 3 else "USD",
        )
    client.force_login(analyst)

    with django_assert_max_num_queries(DETAIL_QUERIES):
        response = client.get(reverse("cases:merchant_detail", args=["acct_BUSY000001"]))

    assert len(response.context["page"].object_list) == rows
