"""The command palette's endpoint: groups, what each role is offered, bounds and hostile input."""

import pytest
from django.urls import reverse

from cases.models import Incident
from cases.palette import ACTIONS, MAX_QUERY_LENGTH, PAGES, PER_GROUP
from cases.search import refresh_search
from tests.factories import IncidentFactory, MerchantFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("cases:palette")


def palette(client, user, q="", language="en", **params):
    client.force_login(user)
    response = client.get(URL, {"q": q, **params}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200, response.content
    return {group["key"]: group for group in response.json()["groups"]}


def labels(groups, key):
    return [item["label"] for item in groups.get(key, {"items": []})["items"]]


def searchable(**fields):
    incident = IncidentFactory(**fields)
    refresh_search(incident_ids=[incident.pk])
    return incident


def test_login_and_a_role_are_required(client, outsider):
    response = client.get(URL, {"q": "183"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(outsider)
    assert client.get(URL, {"q": "183"}).status_code == 403


def test_a_partial_reference_finds_the_incident(client, analyst):
    incidents = [searchable(title=f"Incident {word}") for word in ("alpha", "beta", "gamma")]
    target = incidents[1]
    number = int(target.reference[-6:])
    for text in (str(number), f"{number:06d}", f"ph-2026-{number}", target.reference):
        groups = palette(client, analyst, text)
        items = groups["incidents"]["items"]
        assert [item["reference"] for item in items][:1] == [target.reference], text
        assert items[0]["url"] == reverse("cases:incident_detail", args=[target.reference])
    assert "incidents" not in palette(client, analyst, "999999")


def test_title_words_merchants_and_partners_are_grouped_without_accents(client, analyst):
    incident = searchable(title="Rechazos en Pizzería Don Güero")
    merchant = MerchantFactory(name="Pizzería Don Güero", account_id="acct_GUERO01")
    partner = PartnerFactory(name="Banca Güero", code="banca-guero")
    groups = palette(client, analyst, "guero")
    assert labels(groups, "incidents") == [incident.title]
    assert labels(groups, "merchants") == [merchant.name]
    assert groups["merchants"]["items"][0]["url"] == reverse("cases:merchant_detail", args=[merchant.account_id])
    assert labels(groups, "partners") == [partner.name]
    assert groups["partners"]["items"][0]["url"] == reverse("partners:partner_detail", args=[partner.code])
    assert list(groups) == ["incidents", "merchants", "partners"]  # no page or action is called that
    assert labels(palette(client, analyst, "PIZZERÍA"), "merchants") == [merchant.name]


def test_each_group_is_bounded(client, analyst):
    for n in range(PER_GROUP + 4):
        MerchantFactory(name=f"Farmacia {n}")
        searchable(title=f"Farmacia sin autorizaciones {n}")
    groups = palette(client, analyst, "farmacia")
    assert len(groups["merchants"]["items"]) == PER_GROUP
    assert len(groups["incidents"]["items"]) == PER_GROUP


def _page_names(groups):
    return {item["url"] for item in groups.get("pages", {"items": []})["items"]}


@pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
def test_every_page_offered_opens_and_no_other_page_is_offered(client, role):
    """With nothing typed the palette lists the pages; each one it lists opens for that role, and
    each one it leaves out is refused to that role."""
    user = UserFactory(username=f"palette-{role}", role=role)
    offered = _page_names(palette(client, user, ""))
    assert offered
    for destination in PAGES:
        url = reverse(destination.url_name)
        status = client.get(url).status_code
        if url in offered:
            assert status == 200, (url, status)
        else:
            assert status in (302, 403), (url, status)  # the admin sends a non-superuser to its login


def test_pages_differ_by_role(client, analyst, lead):
    approvals = reverse("cases:notice_approvals")
    webhooks = reverse("webhooks:subscription_list")
    admin = reverse("admin:index")
    assert approvals not in _page_names(palette(client, analyst))
    assert webhooks not in _page_names(palette(client, analyst))
    assert approvals in _page_names(palette(client, lead))
    assert admin not in _page_names(palette(client, lead))
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert admin in _page_names(palette(client, root))


def test_pages_are_found_by_name_in_each_language(client, lead):
    assert labels(palette(client, lead, "overv"), "pages") == ["Overview"]
    assert labels(palette(client, lead, "resum", language="es"), "pages") == ["Resumen"]
    assert labels(palette(client, lead, "apro", language="es"), "pages") == ["Aprobaciones"]
    assert "Socios" in labels(palette(client, lead, "", language="es"), "pages")
    # The group names follow the language too.
    groups = palette(client, lead, "", language="es")
    assert groups["pages"]["label"] == "Páginas"
    assert groups["actions"]["label"] == "Acciones"


def test_actions_only_where_permitted_and_on_the_incident_in_view(client, analyst, outsider):
    incident = searchable(title="Timeouts on Prosa")
    groups = palette(client, analyst, "", incident=incident.reference)
    actions = {item["label"]: item["url"] for item in groups["actions"]["items"]}
    assert actions["New incident"] == reverse("cases:incident_create")
    assert actions["Record impact"] == reverse("cases:incident_merchant_add", args=[incident.reference])
    assert actions["Add a note"] == reverse("cases:incident_detail", args=[incident.reference]) + "#incident-notes"
    for url in actions.values():
        assert client.get(url).status_code == 200
    # Without an incident on screen (or one that does not exist) there is nothing to record impact on.
    assert labels(palette(client, analyst, ""), "actions") == ["New incident"]
    assert labels(palette(client, analyst, "", incident="PH-2026-999999"), "actions") == ["New incident"]
    assert labels(palette(client, analyst, "nuevo", language="es"), "actions") == ["Nuevo incidente"]
    assert {destination.url_name for destination in ACTIONS} >= {"cases:incident_create"}


def test_an_incident_the_user_may_not_see_is_never_listed(client, analyst, monkeypatch):
    hidden = searchable(title="Hidden pizzeria outage")
    import cases.palette

    monkeypatch.setattr(
        cases.palette,
        "incident_list_visible_to",
        lambda *, user: Incident.objects.exclude(pk=hidden.pk),
    )
    groups = palette(client, analyst, hidden.reference[-6:])
    assert "incidents" not in groups
    assert "incidents" not in palette(client, analyst, "pizzeria")


def test_a_query_too_long_is_refused_and_hostile_text_is_harmless(client, analyst):
    client.force_login(analyst)
    response = client.get(URL, {"q": "x" * (MAX_QUERY_LENGTH + 1)})
    assert response.status_code == 400
    assert response.json()["groups"] == []
    assert client.get(URL, {"q": "183", "incident": "P" * 500}).status_code == 400
    searchable(title="Timeouts on Prosa")
    # A NUL is refused for every page by the project's middleware, before any view.
    assert client.get(URL, {"q": "pizz\x00eria"}).status_code == 400
    for text in ("%", "_", "'; DROP TABLE cases_incident; --", "<script>alert(1)</script>", "\\", "🙂", '"'):
        response = client.get(URL, {"q": text, "incident": text})
        assert response.status_code == 200, text
        assert response["Content-Type"] == "application/json"
    assert client.post(URL, {"q": "183"}).status_code == 405
