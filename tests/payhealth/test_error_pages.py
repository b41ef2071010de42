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
