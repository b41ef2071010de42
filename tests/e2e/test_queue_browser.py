"""The dense incident queue in real Chromium: forty incidents at a laptop's and a phone's size in
English and Spanish; the rows above the fold, no sideways scroll, axe-core, the keyboard, the bulk
bar that waits for a ticked row, and the column menu kept on the profile."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from accounts.models import Profile
from cases.models import Incident
from cases.search import refresh_search
from tests.e2e.a11y import (
    DESKTOP,
    PHONE,
    assert_accessible,
    assert_page_fits,
)
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOCALES = {"en": "en-US", "es": "es-MX"}
TEXT = {
    "en": {"queue": "Incident queue", "columns": "Columns", "save": "Save columns", "one": "1 selected incident"},
    "es": {
        "queue": "Bandeja de incidentes",
        "columns": "Columnas",
        "save": "Guardar columnas",
        "one": "1 incidente seleccionado",
    },
}
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
STATUSES = ("new", "triaging", "investigating", "waiting_on_partner", "mitigated")


@pytest.fixture
def forty():
    """Forty open incidents, some with long titles and several partners and merchants."""
    UserFactory(username="ana", first_name="Ana", last_name="Ruiz", role="analyst")
    partners = [
        PartnerFactory(code=code, name=name)
        for code, name in (("bbva", "BBVA México"), ("prosa", "Prosa"), ("visa", "Visa"), ("banorte", "Banorte"))
    ]
    merchants = [
        MerchantFactory(account_id=f"acct_QUEUE{n:06d}", name=name)
        for n, name in enumerate(("Aerolínea Sol", "Tienda Norte", "Farmacia Central", "Cines del Valle"))
    ]
    incidents = []
    for n in range(40):
        title = f"Caída de aprobación en débito {n}" + (" en comercios de viajes y boletos de avión" * (n % 3))
        incident = IncidentFactory(title=title, severity=SEVERITIES[n % 4], status=STATUSES[n % 5])
        for partner in partners[: n % 4]:
            PartnerEngagementFactory(incident=incident, partner=partner)
        for merchant in merchants[: (n + 1) % 4]:
            AffectedMerchantFactory(incident=incident, merchant=merchant)
        incidents.append(incident)
    return incidents


def screenshot_path(name: str):
    """Where `make screenshots` picks the picture up (the `screenshot` fixture's folder)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def open_queue(sized_page, live_server, *, language: str, viewport: dict):
    tab = sized_page(width=viewport["width"], height=viewport["height"], locale=LOCALES[language])
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", "ana")
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")
    expect(tab.locator("h1")).to_have_text(TEXT[language]["queue"])
    expect(tab.locator("#results tbody tr")).to_have_count(25)
    return tab


def rows_within(tab) -> dict:
    return tab.evaluate(
        """() => {
            const rows = [...document.querySelectorAll("#results tbody tr")];
            return {
                visible: rows.filter((row) => row.getBoundingClientRect().bottom <= window.innerHeight).length,
                tallest: Math.max(...rows.map((row) => row.getBoundingClientRect().height)),
                tableWidth: document.querySelector("#results table").getBoundingClientRect().width,
            };
        }"""
    )


def search_of(response) -> list[str] | None:
    """The search text an htmx request for the queue's rows carried (None: not such a request)."""
    if response.request.headers.get("hx-request") != "true":
        return None
    return parse_qs(urlsplit(response.url).query, keep_blank_values=True).get("q")


@pytest.mark.parametrize("language", ["en", "es"])
def test_desktop_shows_fifteen_rows_fits_and_answers_the_keyboard(sized_page, live_server, forty, language):
    text = TEXT[language]
    tab = open_queue(sized_page, live_server, language=language, viewport=DESKTOP)

    measured = rows_within(tab)
    assert measured["visible"] >= 15, measured
    assert measured["tallest"] <= 36, measured
    assert_page_fits(tab)
    # Every default column is on screen: the last header ends inside the viewport.
    last_header = tab.locator("#results thead th").last.bounding_box()
    assert last_header["x"] + last_header["width"] <= DESKTOP["width"]
    # Long lists end in "+N" with the whole list in the title.
    three = tab.locator("#results td.names[title='BBVA México, Prosa, Visa']")
    expect(three.first).to_have_text("BBVA México +2")
    assert_accessible(tab)
    if language == "en":
        tab.screenshot(path=str(screenshot_path("queue-en")), full_page=True)

    # The bulk bar waits for a ticked row, and counts them.
    bar = tab.locator("#bulk-actions")
    expect(bar).to_be_hidden()
    rows = tab.locator("#results tbody tr")

    # j / k move the row focus, x ticks the focused row, Enter opens it.
    tab.locator("body").click(position={"x": 5, "y": 5})
    tab.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bis-current\b"))
    tab.keyboard.press("j")
    tab.keyboard.press("j")
    expect(rows.nth(2)).to_have_class(re.compile(r"\bis-current\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bis-current\b"))
    tab.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bis-current\b"))
    tab.keyboard.press("x")
    expect(rows.nth(1).locator("input[name=incident]")).to_be_checked()
    expect(bar).to_be_visible()
    expect(bar.locator("legend")).to_have_text(text["one"])
    assert_accessible(tab)
    tab.keyboard.press("x")
    expect(rows.nth(1).locator("input[name=incident]")).not_to_be_checked()
    expect(bar).to_be_hidden()

    # Keys typed in the search box stay in the search box. The current row is read as each key comes
    # up: the search the box sends 400 ms after typing swaps in new rows, with none current.
    tab.evaluate(
        """() => {
            window.currentAtKeyUp = [];
            document.addEventListener("keyup", () => window.currentAtKeyUp.push(
                [...document.querySelectorAll("#results tbody tr")].findIndex((row) => row.matches(".is-current"))
            ));
        }"""
    )
    tab.locator("#id_q").click()
    tab.keyboard.type("jk")
    expect(tab.locator("#id_q")).to_have_value("jk")
    assert tab.evaluate("() => window.currentAtKeyUp") == [1, 1]
    # Emptied again, the box searches once more: wait until those rows are in.
    with tab.expect_response(lambda response: search_of(response) == [""]):
        tab.locator("#id_q").fill("")
    expect(tab.locator("#filters")).not_to_have_class(re.compile(r"\bhtmx-request\b"))
    expect(tab).not_to_have_url(re.compile(r"q=jk"))

    # A ticked box shows the bar with the mouse too.
    rows.nth(3).locator("input[name=incident]").check()
    expect(bar).to_be_visible()
    rows.nth(3).locator("input[name=incident]").uncheck()
    expect(bar).to_be_hidden()

    # The row clicked last is the current one: Enter opens it.
    expect(rows.nth(3)).to_have_class(re.compile(r"\bis-current\b"))
    reference = rows.nth(3).locator("td.reference a").inner_text()
    tab.locator("body").click(position={"x": 5, "y": 5})
    tab.keyboard.press("Enter")
    expect(tab).to_have_url(re.compile(rf"/incidents/{reference}/$"))
    expect(tab.locator("h1")).to_contain_text(Incident.objects.get(reference=reference).title[:20])


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_column_menu_is_kept_across_reloads(sized_page, live_server, forty, language):
    text = TEXT[language]
    tab = open_queue(sized_page, live_server, language=language, viewport=DESKTOP)
    headers = tab.locator("#results thead th")
    category = "Category" if language == "en" else "Categoría"
    partners = "Partners" if language == "en" else "Socios"
    expect(headers.filter(has_text=category)).to_have_count(0)

    tab.get_by_text(text["columns"], exact=True).click()
    tab.locator("input[name=column][value=category]").check()
    tab.locator("input[name=column][value=partners]").uncheck()
    tab.get_by_role("button", name=text["save"]).click()
    expect(headers.filter(has_text=category)).to_have_count(1)
    expect(headers.filter(has_text=partners)).to_have_count(0)

    tab.reload()
    expect(headers.filter(has_text=category)).to_have_count(1)
    expect(headers.filter(has_text=partners)).to_have_count(0)
    assert "category" in Profile.objects.get(user__username="ana").queue_columns
    assert_page_fits(tab)


def main_overflow(tab) -> list[str]:
    """The elements of the page's content (not its header) reaching past the viewport's right edge."""
    return tab.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            return [...document.querySelectorAll("main *")]
                .filter((el) => el.getBoundingClientRect().right > width + 1)
                .slice(0, 5)
                .map((el) => `${el.tagName.toLowerCase()}.${el.className} right=${el.getBoundingClientRect().right}`);
        }"""
    )


@pytest.mark.parametrize("language", ["en", "es"])
def test_phone_shows_cards_without_sideways_scroll(sized_page, live_server, forty, language):
    tab = open_queue(sized_page, live_server, language=language, viewport=PHONE)
    assert main_overflow(tab) == []
    first = tab.locator("#results tbody tr").first
    # One card per incident: the title on a line of its own, as wide as the card.
    title, card = first.locator("td.title").bounding_box(), first.bounding_box()
    assert title["width"] >= card["width"] * 0.8
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
    expect(first.locator("td.reference a")).to_be_visible()
    expect(first.locator("td.severity .badge")).to_be_visible()
    expect(first.locator("td.status .badge")).to_be_visible()
    # The column menu opens inside the screen.
    tab.locator(".column-chooser summary").click()
    panel = tab.locator(".column-chooser .queue-menu-panel").bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"]
    tab.locator(".column-chooser summary").click()
    if language == "es":
        tab.screenshot(path=str(screenshot_path("queue-mobile-es")), full_page=True)
    assert_page_fits(tab)
    assert_accessible(tab)


@pytest.mark.parametrize("language", ["en", "es"])
def test_search_forgives_accents_and_finds_a_closed_reference(sized_page, live_server, forty, language):
    """What people type: "pizzeria" finds "Pizzería"; a closed incident's whole reference is found
    with the default filters (open only); a word found only among closed incidents offers every
    status."""
    pizza = IncidentFactory(title="Rechazos en Pizzería Napoli", severity="sev2", status="investigating")
    closed = IncidentFactory(title="Lote de Visa reprocesado", severity="sev3", status="closed")
    refresh_search(incident_ids=[pizza.pk, closed.pk])  # what the services do when they write
    tab = open_queue(sized_page, live_server, language=language, viewport=DESKTOP)
    rows = tab.locator("#results tbody tr")

    tab.fill("#id_q", "pizzeria")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(pizza.reference)

    tab.fill("#id_q", closed.reference.lower())
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(closed.reference)

    tab.fill("#id_q", "reprocesado")
    all_statuses = tab.locator("a[data-all-statuses]")
    expect(all_statuses).to_have_text({"en": "Search all statuses", "es": "Buscar en todos los estados"}[language])
    all_statuses.click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(closed.reference)
    assert_accessible(tab)
