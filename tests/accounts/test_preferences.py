"""A person's language and time zone are remembered on their profile: the header's language switch
saves the choice, signing in applies it (a new browser comes back in that language), and the time
zone is chosen from the zone database's places, grouped by region, and checked on the server."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.forms import ProfileForm
from accounts.models import Profile
from accounts.services import profile_for, profile_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"


@pytest.mark.parametrize(("language", "heading"), [("es", "Sus preferencias"), ("en", "Your preferences")])
def test_the_language_switch_saves_the_choice_on_the_profile(client, analyst, language, heading):
    profile_update(user=analyst, timezone="America/Mexico_City", language="es" if language == "en" else "en")
    client.force_login(analyst)

    response = client.post(reverse("set_language"), {"language": language, "next": reverse("profile")})

    assert response.status_code == 302 and response.url == reverse("profile")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == language
    assert Profile.objects.get(user=analyst).language == language
    assert heading in client.get(reverse("profile")).content.decode()


def test_the_switch_without_a_login_changes_only_the_browser(client):
    response = client.post(reverse("set_language"), {"language": "es", "next": "/accounts/login/"})

    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    assert not Profile.objects.exists()


def test_an_unknown_language_is_not_saved(client, analyst):
    client.force_login(analyst)

    response = client.post(reverse("set_language"), {"language": "xx", "next": "/"})

    assert response.status_code == 302
    assert profile_for(user=analyst).language == ""


@pytest.mark.parametrize(("language", "heading"), [("es", "Bandeja de incidentes"), ("en", "Incident queue")])
def test_signing_in_in_a_new_browser_applies_the_profiles_language(language, heading):
    user = UserFactory(username="mara", role="analyst", password=PASSWORD)
    profile_update(user=user, timezone="America/Mexico_City", language=language)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en" if language == "es" else "es")  # asks for the other one

    response = browser.post(reverse("login"), {"username": "mara", "password": PASSWORD})

    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == language
    assert f"<h1>{heading}</h1>" in browser.get(response.url).content.decode()


def test_signing_in_without_a_saved_language_leaves_the_browsers():
    UserFactory(username="mara", role="analyst", password=PASSWORD)
    browser = Client(HTTP_ACCEPT_LANGUAGE="es")

    response = browser.post(reverse("login"), {"username": "mara", "password": PASSWORD})

    assert response.status_code == 302 and settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert "<h1>Bandeja de incidentes</h1>" in browser.get(response.url).content.decode()


def test_a_wrong_password_sets_no_language(client):
    user = UserFactory(username="mara", role="analyst", password=PASSWORD)
    profile_update(user=user, timezone="America/Mexico_City", language="es")

    response = client.post(reverse("login"), {"username": "mara", "password": "wrong"})

    assert response.status_code == 200 and settings.LANGUAGE_COOKIE_NAME not in response.cookies


def _select(html: str) -> str:
    return re.search(r'<select name="timezone"[^>]*>.*?</select>', html, re.S).group(0)


@pytest.mark.parametrize(
    ("language", "mexico", "america", "europe", "city", "browser"),
    [
        ("en", "Mexico", "America", "Europe", "Mexico City (central Mexico)", "The browser&#x27;s language"),
        ("es", "México", "América", "Europa", "Ciudad de México (centro del país)", "El idioma del navegador"),
    ],
)
def test_the_time_zone_is_a_select_grouped_by_region_with_mexico_first(
    client, analyst, language, mexico, america, europe, city, browser
):
    client.force_login(analyst)

    html = client.get(reverse("profile"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    select = _select(html)
    groups = re.findall(r'<optgroup label="([^"]+)">', select)
    assert groups[:2] == [mexico, america] and europe in groups
    assert select.index(f'<optgroup label="{mexico}">') < select.index('<option value="UTC"')
    assert select.index('<option value="UTC"') < select.index(f'<optgroup label="{america}">')
    assert re.search(
        rf'<option value="America/Mexico_City" selected>{re.escape(city)} · America/Mexico_City \(UTC−0\d:00\)', select
    )
    assert '<option value="Europe/Madrid">Madrid (UTC+0' in select
    assert select.count('value="America/Cancun"') == 1  # Mexico's zones are offered once
    assert 'value="US/Eastern"' not in select and 'value="Etc/GMT+6"' not in select  # aliases left out
    assert f'<option value="" selected>{browser}</option>' in html


@pytest.mark.parametrize(
    ("language", "error"),
    [("en", "Mars/Olympus is not a known time zone."), ("es", "Mars/Olympus no es una zona horaria conocida.")],
)
def test_a_zone_not_offered_is_refused_on_the_server(client, analyst, language, error):
    client.force_login(analyst)

    response = client.post(
        reverse("profile"), {"timezone": "Mars/Olympus", "language": ""}, HTTP_ACCEPT_LANGUAGE=language
    )

    assert response.status_code == 200 and error in response.content.decode()
    assert profile_for(user=analyst).timezone == "America/Mexico_City"


def test_an_alias_is_refused_but_a_saved_one_stays_choosable(analyst):
    assert not ProfileForm({"timezone": "US/Eastern", "language": ""}, instance=profile_for(user=analyst)).is_valid()
    profile = profile_update(user=analyst, timezone="US/Eastern", language="")

    form = ProfileForm({"timezone": "US/Eastern", "language": "es"}, instance=profile)

    assert form.is_valid(), form.errors


def test_saving_a_zone_and_a_language_on_the_profile(client, analyst):
    client.force_login(analyst)

    response = client.post(reverse("profile"), {"timezone": "Europe/Madrid", "language": "es"})

    assert response.status_code == 302
    assert (profile_for(user=analyst).timezone, profile_for(user=analyst).language) == ("Europe/Madrid", "es")
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    # Back to the browser's language: the cookie is forgotten.
    cleared = client.post(reverse("profile"), {"timezone": "UTC", "language": ""})
    assert cleared.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert profile_for(user=analyst).timezone == "UTC"
