"""The error pages answer in the visitor's language (the language cookie or Accept-Language), say
what happened and what to do, and lead back home: 403 and 404 in the desk's layout, a refused
CSRF check as the desk's own page, 400 and 500 without the database."""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import translation

from payhealth.views import bad_request, server_error

HEADINGS = {
    403: {"en": "Access denied", "es": "Acceso denegado"},
    404: {"en": "Page not found", "es": "Página no encontrada"},
    500: {"en": "Server error", "es": "Error del servidor"},
    400: {"en": "Bad request", "es": "Solicitud incorrecta"},
    "csrf": {"en": "This form has expired", "es": "Este formulario expiró"},
}
HOME_LINK = {"en": "Back to the home page", "es": "Volver a la página de inicio"}


def _page(response) -> dict:
    html = response.content.decode()
    return {
        "lang": re.search(r'<html lang="([^"]+)"', html).group(1),
        "heading": re.search(r'<h1 id="error-title">([^<]*)</h1>', html).group(1),
        "home": re.search(r'<a class="button primary" href="([^"]+)">([^<]*)</a>', html).groups(),
        "layout": 'class="mainnav"' in html,
    }


def _in(client, language: str, how: str):
    """Ask for `language` by the language cookie (the switcher's) or by the browser's header."""
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return {}
    return {"HTTP_ACCEPT_LANGUAGE": language}


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "how"), [("en", "header"), ("es", "header"), ("es", "cookie")])
def test_a_refused_page_says_so_in_the_visitors_language_in_the_layout(client, outsider, language, how, caplog):
    client.force_login(outsider)

    with caplog.at_level(logging.INFO):
        response = client.get(reverse("cases:incident_list"), **_in(client, language, how))

    assert response.status_code == 403
    page = _page(response)
    assert (page["lang"], page["heading"], page["home"]) == (
        language,
        HEADINGS[403][language],
        ("/", HOME_LINK[language]),
    )
    assert page["layout"]  # the desk's navigation, for a logged-in visitor
    if language == "es":
        assert "Su rol no le permite ver esta página" in response.content.decode()
    # One line in the server log, whatever the language: no traceback.
    records = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [(record.name, record.exc_info) for record in records] == [("django.request", None)]


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "how"), [("en", "header"), ("es", "header"), ("es", "cookie")])
def test_an_unknown_address_is_a_404_page_in_the_visitors_language(client, analyst, language, how):
    client.force_login(analyst)

    response = client.get("/no-such-page/", **_in(client, language, how))

    assert response.status_code == 404
    page = _page(response)
    assert (page["lang"], page["heading"], page["home"][1]) == (language, HEADINGS[404][language], HOME_LINK[language])
    assert page["layout"]


@pytest.mark.django_db
def test_the_api_keeps_its_json_errors(client, analyst):
    client.force_login(analyst)

    response = client.get("/api/v1/no-such-route/", HTTP_ACCEPT_LANGUAGE="es")

    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_form_sent_without_its_csrf_token_gets_the_desks_page(analyst, language):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)

    response = client.post(reverse("logout"), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 403
    page = _page(response)
    assert (page["lang"], page["heading"], page["home"][1]) == (
        language,
        HEADINGS["csrf"][language],
        HOME_LINK[language],
    )
    assert "CSRF verification failed" not in response.content.decode()  # not Django's English page


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_server_error_is_a_page_in_the_visitors_language(client, lead, monkeypatch, language):
    from cases.views import overview

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(overview, "incident_overview", broken)
    client.raise_request_exception = False
    client.force_login(lead)

    response = client.get(reverse("overview"), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 500
    page = _page(response)
    assert (page["lang"], page["heading"], page["home"][1]) == (language, HEADINGS[500][language], HOME_LINK[language])
    assert not page["layout"] and "boom" not in response.content.decode()


@pytest.mark.parametrize(("view", "status"), [(server_error, 500), (bad_request, 400)])
def test_the_500_and_400_pages_need_neither_the_database_nor_the_session(view, status):
    """No `db` fixture: a query would fail the test. The request has no user and no session."""
    request = RequestFactory().get("/incidents/")

    with translation.override("es"):
        response = view(request)

    assert response.status_code == status
    assert _page(response)["heading"] == HEADINGS[status]["es"]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_request_for_an_unknown_host_is_a_400_page_in_the_visitors_language(client, language):
    response = client.get("/", HTTP_HOST="unknown.example", HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 400
    page = _page(response)
    assert (page["lang"], page["heading"]) == (language, HEADINGS[400][language])


@pytest.mark.django_db
def test_a_refusal_whose_layout_cannot_be_drawn_answers_the_bare_page(client, outsider, monkeypatch, caplog):
    """The layout needs the session and the database; when drawing it fails, the visitor still
    gets a 403 in their language, and the failure is logged once."""

    def broken(*args, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("payhealth.views.loader.render_to_string", broken)
    client.force_login(outsider)

    with caplog.at_level(logging.INFO):
        response = client.get(reverse("cases:incident_list"), HTTP_ACCEPT_LANGUAGE="es")

    assert response.status_code == 403
    page = _page(response)
    assert (page["lang"], page["heading"], page["layout"]) == ("es", HEADINGS[403]["es"], False)
    assert [record.name for record in caplog.records if record.exc_info] == ["payhealth.views"]


# The ways on: home, the queue, back -------------------------------------------------------------

WAYS = {
    "en": {"queue": "Incident queue", "back": "Back to the previous page", "nav": "Where to go from here"},
    "es": {"queue": "Bandeja de incidentes", "back": "Volver a la página anterior", "nav": "A dónde ir desde aquí"},
}


def _links(html: str) -> dict[str, str]:
    nav = re.search(r'<nav class="error-links"[^>]*>(.*?)</nav>', html, re.S).group(1)
    return {text: href for href, text in re.findall(r'<a class="button[^"]*" href="([^"]*)">([^<]*)</a>', nav)}


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_or_missing_page_offers_home_the_queue_and_back(client, analyst, language, status):
    client.force_login(analyst)
    address = reverse("cases:notice_approvals") if status == 403 else "/no-such-page/"

    response = client.get(address, HTTP_ACCEPT_LANGUAGE=language, HTTP_REFERER="http://testserver/incidents/?q=visa")

    assert response.status_code == status
    html = response.content.decode()
    assert f'<nav class="error-links" aria-label="{WAYS[language]["nav"]}">' in html
    assert _links(html) == {
        HOME_LINK[language]: "/",
        WAYS[language]["queue"]: "/incidents/",
        WAYS[language]["back"]: "/incidents/?q=visa",
    }
    assert _page(response)["layout"] and _page(response)["heading"] == HEADINGS[status][language]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "referer",
    ["https://elsewhere.example/phish/", "http://testserver/no-such-page/", "javascript:alert(1)", ""],
)
def test_the_way_back_is_only_to_another_page_of_this_site(client, analyst, referer):
    client.force_login(analyst)

    response = client.get("/no-such-page/", HTTP_REFERER=referer)

    assert "Back to the previous page" not in response.content.decode()


@pytest.mark.django_db
def test_the_way_back_never_echoes_a_card_number(client, analyst):
    client.force_login(analyst)

    response = client.get("/no-such-page/", HTTP_REFERER="http://testserver/incidents/?q=4111111111111111")

    html = response.content.decode()
    assert _links(html)["Back to the previous page"] == "/incidents/" and "4111111111111111" not in html


@pytest.mark.django_db
def test_someone_without_the_queue_is_not_offered_it(client, outsider):
    client.force_login(outsider)

    response = client.get(reverse("cases:incident_list"))

    assert response.status_code == 403 and "Incident queue" not in _links(response.content.decode())


@pytest.mark.parametrize(
    ("language", "other", "other_heading"),
    [("en", "es", "Error del servidor"), ("es", "en", "Server error")],
)
def test_the_500_page_says_it_in_both_languages_without_the_database(language, other, other_heading):
    """No `db` fixture: a query would fail the test."""
    request = RequestFactory().get("/incidents/")

    with translation.override(language):
        response = server_error(request)

    html = response.content.decode()
    assert _page(response)["heading"] == HEADINGS[500][language] and _page(response)["lang"] == language
    second = re.search(rf'<div class="error-other-language" lang="{other}">(.*?)</div>', html, re.S).group(1)
    assert f"<h2>{other_heading}</h2>" in second
    assert f'<a href="/">{HOME_LINK[other]}</a>' in second
    assert 'class="mainnav"' not in html and "<nav" not in html
