"""Messages as toasts: a full page draws them in its fixed toast region (successes in a polite
status region, errors in an alert region); an htmx answer carries them in its HX-Trigger header
for static/js/toasts.js, and a redirect leaves them for the page it leads to."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.test import RequestFactory
from django.urls import reverse

from cases.models import InvestigationNote
from cases.services import incident_open
from payhealth.middleware import HtmxToastsMiddleware

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def incident(analyst):
    return incident_open(actor=analyst, title="Rechazos 05 en Banorte débito", category="auth_rate", severity="sev3")


def _region(html: str, region_id: str) -> str:
    return re.search(rf'<div class="toast-region" id="{region_id}"[^>]*>(.*?)</div>', html, re.S).group(0)


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "Your note was added to the incident."), ("es", "Su nota se agregó al incidente.")],
)
def test_an_htmx_note_sends_its_message_in_the_hx_trigger_header(client, analyst, incident, language, text):
    client.force_login(analyst)
    url = reverse("cases:incident_note_add", args=[incident.reference])

    response = client.post(url, {"body": "Prosa confirma intermitencia"}, HTTP_ACCEPT_LANGUAGE=language, **HTMX)

    assert response.status_code == 200 and InvestigationNote.objects.filter(incident=incident).count() == 1
    assert json.loads(response["HX-Trigger"]) == {"phToast": [{"level": "success", "text": text}]}
    assert response["HX-Trigger"].isascii()  # a header is Latin-1: accents travel as JSON escapes
    # Shown once: the next page has nothing left to show.
    page = client.get(reverse("cases:incident_detail", args=[incident.reference]), HTTP_ACCEPT_LANGUAGE=language)
    assert text not in page.content.decode()


def test_a_full_page_draws_its_messages_in_the_toast_regions(client, analyst, incident):
    client.force_login(analyst)
    url = reverse("cases:incident_note_add", args=[incident.reference])

    response = client.post(url, {"body": "Sin JavaScript"}, follow=True, HTTP_ACCEPT_LANGUAGE="es")

    html = response.content.decode()
    status = _region(html, "toasts-status")
    assert 'role="status" aria-live="polite"' in status
    assert "Su nota se agregó al incidente." in status
    assert 'data-level="success"' in status and 'aria-label="Descartar"' in status
    assert 'role="alert"' in _region(html, "toasts-alert") and "Su nota" not in _region(html, "toasts-alert")
    assert "HX-Trigger" not in response


def _answer(request, make_response, *levels):
    for level in levels:
        messages.add_message(request, level, f"message {level}")
    return make_response()


def _through_middleware(make_response, *levels, htmx=True):
    from django.contrib.messages.middleware import MessageMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    request = RequestFactory().post("/x/", **(HTMX if htmx else {}))
    chain = SessionMiddleware(MessageMiddleware(HtmxToastsMiddleware(lambda r: _answer(r, make_response, *levels))))
    return chain(request), request


def test_errors_and_warnings_are_named_by_level_and_other_events_are_kept():
    def make():
        response = HttpResponse("part")
        response["HX-Trigger"] = '{"refreshClocks": {"id": 3}}'
        return response

    response, _request = _through_middleware(make, messages.ERROR, messages.WARNING, messages.INFO)

    assert json.loads(response["HX-Trigger"]) == {
        "refreshClocks": {"id": 3},
        "phToast": [
            {"level": "error", "text": f"message {messages.ERROR}"},
            {"level": "warning", "text": f"message {messages.WARNING}"},
            {"level": "info", "text": f"message {messages.INFO}"},
        ],
    }


def test_a_plain_event_name_in_hx_trigger_is_kept():
    def make():
        response = HttpResponse("part")
        response["HX-Trigger"] = "saved, closed"
        return response

    response, _request = _through_middleware(make, messages.SUCCESS)

    assert json.loads(response["HX-Trigger"]) == {
        "saved": None,
        "closed": None,
        "phToast": [{"level": "success", "text": f"message {messages.SUCCESS}"}],
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: HttpResponseRedirect("/elsewhere/"),
        lambda: _with_header(HttpResponse(""), "HX-Redirect", "/elsewhere/"),
        lambda: _with_header(HttpResponse(""), "HX-Refresh", "true"),
    ],
    ids=["redirect", "hx-redirect", "hx-refresh"],
)
def test_messages_of_an_answer_leading_to_another_page_wait_for_that_page(make):
    response, request = _through_middleware(make, messages.SUCCESS)

    assert "HX-Trigger" not in response
    assert "messages" in response.cookies  # stored for the next page


def test_a_plain_request_keeps_its_messages_for_the_page():
    response, _request = _through_middleware(lambda: HttpResponse("page"), messages.SUCCESS, htmx=False)

    assert "HX-Trigger" not in response and "messages" in response.cookies


def _with_header(response, name, value):
    response[name] = value
    return response
