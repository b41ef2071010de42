"""The authenticated shell: login, permissions on the home page, language and time zone."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from accounts.services import profile_update
from cases.models import Incident
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("overview"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_login_page_renders_in_both_languages(client):
    english = client.get(reverse("login"))
    assert english.status_code == 200
    assert "Log in to PayHealth" in english.text
    spanish = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="es")
    assert "Inicie sesión en PayHealth" in spanish.text
    assert 'lang="es"' in spanish.text


def test_login_with_demo_style_credentials(client, analyst):
    response = client.post(reverse("login"), {"username": "ana", "password": "secret-pass-123"})
    assert response.status_code == 302 and response.url == reverse("home")
    client.logout()
    bad = client.post(reverse("login"), {"username": "ana", "password": "wrong"})
    assert bad.status_code == 200
    assert "_auth_user_id" not in bad.wsgi_request.session


def test_user_without_a_role_is_refused_the_desk(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("overview")).status_code == 403
    assert client.get(reverse("home")).status_code == 403


@pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
def test_every_role_sees_the_overview(client, request, role):
    client.force_login(request.getfixturevalue(role))
    IncidentFactory(title="Rechazos 91 en Banorte", severity="sev1")
    IncidentFactory(title="Closed one", status="closed")
    response = client.get(reverse("overview"))
    assert response.status_code == 200
    assert "Rechazos 91 en Banorte" in response.text
    assert "Closed one" not in response.text
    assert response.context["open_total"] == 1


def test_overview_queries_do_not_grow_with_incidents(client, analyst, django_assert_max_num_queries):
    client.force_login(analyst)
    for _ in range(15):
        IncidentFactory(owner=analyst)
    # The figures, the urgent list and the four weekly trends, plus the session, user and permissions.
    with django_assert_max_num_queries(12):
        client.get(reverse("overview"))


def test_language_switch_keeps_the_page(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("set_language"), {"language": "es", "next": "/accounts/profile/"})
    assert response.status_code == 302 and response.url == "/accounts/profile/"
    page = client.get("/accounts/profile/")
    assert "Sus preferencias" in page.text
    assert "Cerrar sesión" in page.text


def test_times_are_shown_in_the_viewers_zone(client, analyst):
    IncidentFactory(title="Timeouts Visa")
    Incident.objects.update(created_at=datetime(2026, 11, 24, 18, 30, tzinfo=UTC))
    client.force_login(analyst)
    mexico = client.get(reverse("overview"))
    assert "12:30" in mexico.text  # Mexico City is UTC-6 all year
    assert "America/Mexico_City" in mexico.text
    profile_update(user=analyst, timezone="America/New_York", language="")
    new_york = client.get(reverse("overview"))
    assert "13:30" in new_york.text  # New York in November is UTC-5


def test_profile_refuses_an_unknown_zone(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("profile"), {"timezone": "Mars/Olympus", "language": "es"})
    assert response.status_code == 200
    assert "is not a known time zone" in response.text
    assert analyst.profile.timezone == "America/Mexico_City"


def test_spanish_numbers_and_dates_follow_mexican_usage():
    from datetime import date

    from django.contrib.humanize.templatetags.humanize import intcomma
    from django.utils import formats, translation

    with translation.override("es"):
        assert intcomma(2819042) == "2,819,042"
        assert formats.number_format(2819042.94, decimal_pos=2, use_l10n=True, force_grouping=True) == "2,819,042.94"
        assert formats.date_format(date(2026, 12, 31), "SHORT_DATE_FORMAT") == "31/12/2026"
        assert formats.date_format(date(2026, 12, 31)) == "31 de diciembre de 2026"
