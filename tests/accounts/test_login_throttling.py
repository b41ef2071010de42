"""Signing in is throttled: after the failure limit, one user from one address is locked out for
the cooling-off period, on the desk's login page and the admin's alike, and told so in a page of
the site in their language."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache.backends import base as cache_base
from django.core.cache.backends import locmem
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"
DESK = "/accounts/login/"
ADMIN = "/admin/login/"


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", role="analyst")


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def attempt(client, url: str, username: str, password: str, *, address: str = "203.0.113.7", **headers):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def signed_in(response) -> bool:
    return "_auth_user_id" in response.wsgi_request.session


@pytest.mark.parametrize(("url", "user"), [(DESK, "ana"), (ADMIN, "root")])
def test_the_right_password_is_refused_after_the_failure_limit(client, request, settings, url, user):
    request.getfixturevalue(user)
    assert settings.PAYHEALTH_LOGIN_FAILURE_LIMIT == 5

    wrong = [attempt(client, url, user, f"guess-{n}") for n in range(5)]
    right = attempt(client, url, user, PASSWORD)

    assert [r.status_code for r in wrong] == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    assert not signed_in(right)
    assert right["Retry-After"] == str(15 * 60)


def test_fewer_failures_than_the_limit_let_the_right_password_in_and_start_afresh(client, ana):
    for n in range(4):
        assert attempt(client, DESK, "ana", f"guess-{n}").status_code == 200
    assert attempt(client, DESK, "ana", PASSWORD).status_code == 302
    client.logout()

    # The success forgot the earlier failures: four more wrong passwords still do not lock.
    for n in range(4):
        assert attempt(client, DESK, "ana", f"again-{n}").status_code == 200
    assert signed_in(attempt(client, DESK, "ana", PASSWORD))


def test_the_lockout_holds_for_one_user_from_one_address(client, ana):
    UserFactory(username="beto", role="analyst")
    for n in range(5):
        attempt(client, DESK, "ana", f"guess-{n}")

    assert attempt(client, DESK, "ana", PASSWORD).status_code == 429
    assert signed_in(attempt(client, DESK, "beto", PASSWORD))  # another user from the same address
    client.logout()
    assert signed_in(attempt(client, DESK, "ana", PASSWORD, address="198.51.100.4"))  # ana from elsewhere


def test_the_lockout_ends_after_the_cooling_off_period(client, ana, monkeypatch):
    for n in range(5):
        attempt(client, DESK, "ana", f"guess-{n}")
    assert attempt(client, DESK, "ana", PASSWORD).status_code == 429

    # The counter lives in the cache with the cooling-off period as its lifetime: move the
    # cache's clock past it.
    later = time.time() + 15 * 60 + 1

    class Clock:
        @staticmethod
        def time():
            return later

    monkeypatch.setattr(locmem, "time", Clock)
    monkeypatch.setattr(cache_base, "time", Clock)
    assert signed_in(attempt(client, DESK, "ana", PASSWORD))


def test_the_page_announces_the_period_that_holds(client, ana, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)

    codes = [attempt(client, DESK, "ana", f"guess-{n}").status_code for n in range(2)]
    locked = attempt(client, DESK, "ana", PASSWORD)

    assert codes == [200, 429]
    assert "3 minutes" in locked.text
    assert locked["Retry-After"] == "180"


@pytest.mark.parametrize(
    ("language", "title", "message", "back"),
    [
        ("en", "Too many failed attempts", "logging in is paused for 15 minutes", "Back to the login page"),
        (
            "es",
            "Demasiados intentos fallidos",
            "el inicio de sesión queda en pausa durante 15 minutos",
            "Volver a la página de inicio de sesión",
        ),
    ],
)
def test_the_lockout_is_a_page_of_the_site_in_the_visitors_language(client, ana, language, title, message, back):
    for n in range(4):
        attempt(client, DESK, "ana", f"guess-{n}", HTTP_ACCEPT_LANGUAGE=language)

    locked = attempt(client, DESK, "ana", "guess-5", HTTP_ACCEPT_LANGUAGE=language)

    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    html = locked.text
    assert f'lang="{language}"' in html
    assert '<a class="brand" href="/">PayHealth</a>' in html  # the site's layout
    assert title in html
    assert message in html
    assert f'href="{reverse("login")}"' in html and back in html


def test_the_admin_lockout_is_the_same_page(client, root):
    for n in range(4):
        attempt(client, ADMIN, "root", f"guess-{n}")

    locked = attempt(client, ADMIN, "root", "guess-5", HTTP_ACCEPT_LANGUAGE="es")

    assert locked.status_code == 429
    assert "Demasiados intentos fallidos" in locked.text


def test_each_test_starts_with_no_failures_counted(client, ana):
    """The tests above leave ana locked out from this address; the suite's autouse fixture empties
    the counters before each test, so here she signs in."""
    assert signed_in(attempt(client, DESK, "ana", PASSWORD))


def test_a_forwarded_for_header_from_the_client_does_not_escape_the_lockout(client, ana):
    for n in range(5):
        attempt(client, DESK, "ana", f"guess-{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    assert attempt(client, DESK, "ana", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_appended(client, ana, settings):
    settings.PAYHEALTH_TRUSTED_PROXY = True
    proxy = "10.0.0.2"
    for n in range(5):  # the client forges the first entry each time; the proxy appends the real one
        attempt(client, DESK, "ana", f"guess-{n}", address=proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7")

    locked = attempt(client, DESK, "ana", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")
    elsewhere = attempt(client, DESK, "ana", PASSWORD, address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.4")

    assert locked.status_code == 429
    assert signed_in(elsewhere)
