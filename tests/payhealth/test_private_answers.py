"""What PayHealth shows a signed-in person is never kept by a cache: `Cache-Control: private,
no-store` on every answer to a signed-in user, pages and API alike; and a login lasts a working day."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import api_token_create
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

PRIVATE = "private, no-store"


def test_pages_parts_and_exports_for_a_signed_in_user_are_private(client, lead):
    incident = IncidentFactory()
    client.force_login(lead)

    answers = {
        "home": client.get("/"),
        "incident": client.get(f"/incidents/{incident.reference}/"),
        "htmx part": client.get("/incidents/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"),
        "tokens": client.get("/accounts/tokens/"),
        "csv export": client.get("/sla/reports/breaches.csv"),
        "refused": client.get("/incidents/PH-1999-000001/"),
    }

    assert {name: (a.status_code, a["Cache-Control"]) for name, a in answers.items()} == {
        "home": (200, PRIVATE),
        "incident": (200, PRIVATE),
        "htmx part": (200, PRIVATE),
        "tokens": (200, PRIVATE),
        "csv export": (200, PRIVATE),
        "refused": (404, PRIVATE),
    }


def test_the_api_is_private_for_a_session_and_for_a_token(analyst):
    IncidentFactory()
    session = APIClient()
    session.force_login(analyst)
    _token, plain = api_token_create(user=analyst, name="script")
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")

    by_session = session.get("/api/v1/incidents/")
    by_token = token.get("/api/v1/incidents/")

    assert (by_session.status_code, by_session["Cache-Control"]) == (200, PRIVATE)
    assert (by_token.status_code, by_token["Cache-Control"]) == (200, PRIVATE)


def test_the_sign_in_answer_is_private_and_anonymous_answers_are_left_alone(client, analyst):
    refused = APIClient().get("/api/v1/incidents/")
    signed_in = client.post("/accounts/login/", {"username": "ana", "password": "secret-pass-123"})

    assert "Cache-Control" not in refused
    assert (signed_in.status_code, signed_in["Cache-Control"]) == (302, PRIVATE)


def test_a_login_lasts_twelve_hours_by_default(client, analyst, settings):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False

    answer = client.post("/accounts/login/", {"username": "ana", "password": "secret-pass-123"})

    assert answer.cookies["sessionid"]["max-age"] == 12 * 3600
