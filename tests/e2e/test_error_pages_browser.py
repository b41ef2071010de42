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


# At a laptop's and a phone's size, in both languages ---------------------------------------------

from tests.e2e.a11y import DESKTOP, PHONE, assert_accessible  # noqa: E402
from tests.e2e.test_feedback_browser import LOCALES, sign_in, violations_in  # noqa: E402

NOT_FOUND = {
    "en": ("Page not found", "Back to the home page", "Incident queue", "Back to the previous page"),
    "es": (
        "Página no encontrada",
        "Volver a la página de inicio",
        "Bandeja de incidentes",
        "Volver a la página anterior",
    ),
}
SERVER_ERROR = {"en": ("Server error", "Error del servidor"), "es": ("Error del servidor", "Server error")}


def _accessible(tab, size) -> None:
    if size == DESKTOP:
        assert_accessible(tab)
    else:  # the header's own phone layout is another part's work; the page below it is checked
        assert violations_in(tab, {"exclude": [["header.topbar"]]}) == []


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_missing_page_shows_the_ways_on(sized_page, live_server, browser_problems, size, language):
    UserFactory(username="ana", role="analyst")
    browser_problems.expect("404")
    tab = sized_page(**size, locale=LOCALES[language])
    sign_in(tab, live_server, "ana")
    heading, home, queue, back = NOT_FOUND[language]
    tab.goto(f"{live_server.url}/overview/")
    tab.evaluate("(url) => { window.location.href = url; }", f"{live_server.url}/no-such-page/")

    expect(tab.locator("h1")).to_have_text(heading)
    ways = tab.locator("nav.error-links")
    expect(ways.get_by_role("link", name=home)).to_be_visible()
    expect(ways.get_by_role("link", name=queue)).to_have_attribute("href", "/incidents/")
    _accessible(tab, size)
    ways.get_by_role("link", name=back).click()
    expect(tab).to_have_url(f"{live_server.url}/overview/")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_a_server_error_is_a_bilingual_page_with_the_way_home(
    sized_page, live_server, browser_problems, monkeypatch, size, language
):
    from cases.views import overview

    def broken(**kwargs):
        raise RuntimeError("boom")

    UserFactory(username="lucia", role="lead")
    browser_problems.expect("500")
    tab = sized_page(**size, locale=LOCALES[language])
    sign_in(tab, live_server, "lucia")
    monkeypatch.setattr(overview, "incident_overview", broken)

    tab.goto(f"{live_server.url}/overview/")

    first, second = SERVER_ERROR[language]
    expect(tab.locator("h1")).to_have_text(first)
    expect(tab.locator(".error-other-language h2")).to_have_text(second)
    expect(tab.get_by_text("boom")).to_have_count(0)
    assert_accessible(tab)  # a bare page: no header navigation
    tab.get_by_role("link", name=NOT_FOUND[language][1]).click()
    expect(tab.locator("h1")).to_have_text({"en": "Incident queue", "es": "Bandeja de incidentes"}[language])
