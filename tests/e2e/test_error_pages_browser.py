"""A refused page in a real browser, in Spanish: the desk's layout, what happened, and the way home."""

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_analyst_refused_in_spanish_finds_the_way_home(page, live_server, login, browser_problems):
    UserFactory(username="ana", role="analyst")
    browser_problems.expect("403")  # Chromium reports the refused document itself
    login("ana")
    page.select_option("#language-select", "es")
    expect(page.locator("h1")).to_have_text("Bandeja de incidentes")

    page.goto(f"{live_server.url}/notices/approvals/")  # leads only

    expect(page.locator("h1")).to_have_text("Acceso denegado")
    expect(page.get_by_text("Su rol no le permite ver esta página")).to_be_visible()
    expect(page.get_by_role("navigation", name="Principal")).to_be_visible()  # the desk's layout
    page.get_by_role("link", name="Volver a la página de inicio").click()
    expect(page.locator("h1")).to_have_text("Bandeja de incidentes")
