"""Feedback in a real browser, at a laptop's and a phone's size, in English and Spanish: the toast
of an action taken deep in a long page is in view; the Spanish SLA report's date pickers show
their dates and submit them; the language chosen comes back in a new browser after signing in;
the profile page passes axe-core."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from cases.services import incident_open, note_add
from cases.sla.reports.filters import DEFAULT_DAYS, desk_today
from tests.e2e.a11y import AXE_SOURCE, BLOCKING, DESKTOP, PHONE, assert_accessible
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
LOCALES = {"en": "en-US", "es": "es-MX"}
NOTE_ADDED = {"en": "Your note was added to the incident.", "es": "Su nota se agregó al incidente."}
QUEUE = {"en": "Incident queue", "es": "Bandeja de incidentes"}


def violations_in(tab, context) -> list[dict]:
    """axe-core's serious and critical findings in a part of the page (an axe context: a selector,
    or {"exclude": [...]}); the rest of the page is checked by its own tests."""
    if not tab.evaluate("() => typeof window.axe !== 'undefined'"):
        tab.evaluate(AXE_SOURCE)
    found = tab.evaluate(
        """async (context) => (await axe.run(context, {resultTypes: ["violations"]})).violations
            .map((v) => ({id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" "))}))""",
        context,
    )
    return [violation for violation in found if violation["impact"] in BLOCKING]


def assert_fully_in_view(tab, locator) -> None:
    """The element lies wholly inside the viewport, sideways too (a phone's 390 px)."""
    box = locator.bounding_box()
    width, height = tab.viewport_size["width"], tab.viewport_size["height"]
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, (box, width, height)


def sign_in(tab, live_server, username: str) -> None:
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")


@SIZES
@pytest.mark.parametrize("language", ["en", "es"])
def test_the_toast_of_a_note_added_deep_in_the_page_is_in_view(sized_page, live_server, size, language):
    analyst = UserFactory(username="ana", role="analyst")
    incident = incident_open(
        actor=analyst, title="Rechazos 05 en Banorte débito", category="auth_rate", severity="sev3"
    )
    for number in range(12):  # a long page: room to scroll down past the top of the note form
        note_add(incident=incident, actor=analyst, body=f"Seguimiento {number}: Prosa revisa el enlace.\n\n" * 3)
    tab = sized_page(**size, locale=LOCALES[language])
    sign_in(tab, live_server, "ana")
    tab.goto(f"{live_server.url}/incidents/{incident.reference}/")
    # The parts the page loads after it opens (charts, messages, samples) are in: the layout is final.
    tab.wait_for_function("() => !document.querySelector('[hx-trigger=\"load\"]')")
    # Scrolled down the page: the note form at the top of the window, far from the page's top.
    tab.evaluate(
        "() => window.scrollTo(0, document.querySelector('form.note-add').getBoundingClientRect().top + scrollY - 16)"
    )
    scrolled = tab.evaluate("() => window.scrollY")
    assert scrolled > 200, scrolled

    body = tab.locator("#id_note_new_body")
    body.fill("El switch confirma la intermitencia.")
    # htmx binds the form once it has read the page: a click before that posts the whole page.
    tab.wait_for_function("() => !!document.querySelector('form.note-add')['htmx-internal-data']")
    with tab.expect_request(lambda request: request.method == "POST") as posted:
        tab.locator("form.note-add button[type=submit]").click()
    assert posted.value.headers.get("hx-request") == "true", "the note was posted without htmx"

    toast = tab.locator("#toasts-status .toast")
    expect(toast).to_have_text(re.compile(re.escape(NOTE_ADDED[language])))
    expect(toast).to_be_in_viewport()
    assert tab.evaluate("() => window.scrollY") > 200, "the page went back to its top"
    expect(tab.get_by_text("El switch confirma la intermitencia.").first).to_be_visible()
    assert_fully_in_view(tab, toast)
    assert violations_in(tab, "#toasts") == []
    # A success hides on its own after a few seconds (an error would stay).
    expect(toast).to_have_count(0)


@SIZES
@pytest.mark.parametrize("language", ["en", "es"])
def test_the_sla_reports_date_pickers_show_their_dates_and_submit_them(sized_page, live_server, size, language):
    UserFactory(username="lucia", role="lead")
    today = desk_today()
    start = today - dt.timedelta(days=DEFAULT_DAYS - 1)
    tab = sized_page(**size, locale=LOCALES[language])
    sign_in(tab, live_server, "lucia")
    tab.goto(f"{live_server.url}/sla/reports/")

    expect(tab.locator("#id_start")).to_have_value(start.isoformat())  # empty if the browser refused it
    expect(tab.locator("#id_end")).to_have_value(today.isoformat())

    new_end = today - dt.timedelta(days=7)
    tab.fill("#id_end", new_end.isoformat())
    tab.locator("#report form button[type=submit]").click()

    expect(tab).to_have_url(re.compile(rf"start={start.isoformat()}&end={new_end.isoformat()}"))
    expect(tab.locator("#id_start")).to_have_value(start.isoformat())  # the start kept
    expect(tab.locator("#id_end")).to_have_value(new_end.isoformat())
    expect(tab.locator(".report-range")).to_be_visible()

    tab.fill("#id_start", (new_end + dt.timedelta(days=1)).isoformat())
    tab.locator("#report form button[type=submit]").click()
    expect(tab.locator("#start-errors")).to_have_text(
        {"en": "The start date is after the end date.", "es": "La fecha inicial es posterior a la fecha final."}[
            language
        ]
    )


@SIZES
def test_a_new_browser_comes_back_in_the_language_chosen(sized_page, live_server, size):
    UserFactory(username="ana", role="analyst")
    first = sized_page(**size, locale="en-US")
    sign_in(first, live_server, "ana")
    expect(first.locator("h1")).to_have_text(QUEUE["en"])
    first.select_option("#language-select", "es")
    expect(first.locator("h1")).to_have_text(QUEUE["es"])

    fresh = sized_page(**size, locale="en-US")  # another browser, asking for English
    sign_in(fresh, live_server, "ana")

    expect(fresh.locator("h1")).to_have_text(QUEUE["es"])
    expect(fresh.locator("html")).to_have_attribute("lang", "es")


@SIZES
@pytest.mark.parametrize("language", ["en", "es"])
def test_the_profile_page_is_accessible_and_its_time_zone_is_grouped(sized_page, live_server, size, language):
    UserFactory(username="ana", role="analyst")
    tab = sized_page(**size, locale=LOCALES[language])
    sign_in(tab, live_server, "ana")
    tab.goto(f"{live_server.url}/accounts/profile/")

    zone = tab.locator("#id_timezone")
    expect(zone).to_have_value("America/Mexico_City")
    groups = zone.locator("optgroup")
    expect(groups.first).to_have_attribute("label", {"en": "Mexico", "es": "México"}[language])
    if size == DESKTOP:
        assert_accessible(tab)
    else:  # the header's own phone layout is another part's work; the page below it is checked
        assert violations_in(tab, {"exclude": [["header.topbar"]]}) == []

    zone.select_option("Europe/Madrid")
    tab.locator("form button[type=submit].primary").click()
    toast = tab.locator("#toasts-status .toast")  # a full page's message, in the same region
    expect(toast).to_contain_text(
        {"en": "Your preferences were saved.", "es": "Sus preferencias se guardaron."}[language]
    )
    expect(toast).to_be_in_viewport()
    assert_fully_in_view(tab, toast)
    expect(tab.locator("#id_timezone")).to_have_value("Europe/Madrid")
    toast.get_by_role("button", name={"en": "Dismiss", "es": "Descartar"}[language]).click()
    expect(toast).to_have_count(0)
