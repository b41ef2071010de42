"""The header in real Chromium, as a lead (the role with the most links), on a laptop and a phone,
in English and Spanish: one compact row, every destination reachable through its menu, menus that
work from the keyboard, a skip link, no sideways scroll and no serious accessibility violation."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.a11y import DESKTOP, PHONE, assert_accessible, assert_page_fits
from tests.factories import IncidentFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every destination a lead has, in English and Spanish: (menu, link text = the page's h1, url name).
LEAD_NAV = {
    "en": [
        (None, "Incident queue", "cases:incident_list"),
        (None, "SLA at risk", "cases:sla_at_risk"),
        (None, "Overview", "overview"),
        (None, "Approvals", "cases:notice_approvals"),
        (None, "Reply inbox", "cases:triage_inbox"),
        ("Directory", "Merchants", "cases:merchant_list"),
        ("Directory", "Partners", "partners:partner_list"),
        ("Monitoring", "Detector findings", "monitoring:finding_list"),
        ("Monitoring", "Monitors", "monitoring:monitor_list"),
        ("Monitoring", "Upload payment data", "monitoring:upload_start"),
        ("Costs", "Cost findings", "costs:finding_list"),
        ("Costs", "Rate cards", "costs:ratecard_index"),
        ("Reports", "SLA reports", "cases:sla_report"),
        ("Setup", "Notice templates", "partners:notice_template_list"),
        ("Setup", "Alert severity rules", "alerts:rule_list"),
        ("Setup", "Webhooks", "webhooks:subscription_list"),
        ("Setup", "SLA policies", "cases:sla_policy_list"),
        ("Lupe Lead", "Your preferences", "profile"),
        ("Lupe Lead", "API tokens", "api_tokens"),
    ],
    "es": [
        (None, "Bandeja de incidentes", "cases:incident_list"),
        (None, "SLA en riesgo", "cases:sla_at_risk"),
        (None, "Resumen", "overview"),
        (None, "Aprobaciones", "cases:notice_approvals"),
        (None, "Bandeja de respuestas", "cases:triage_inbox"),
        ("Directorio", "Comercios", "cases:merchant_list"),
        ("Directorio", "Socios", "partners:partner_list"),
        ("Monitoreo", "Hallazgos del detector", "monitoring:finding_list"),
        ("Monitoreo", "Monitores", "monitoring:monitor_list"),
        ("Monitoreo", "Subir datos de pagos", "monitoring:upload_start"),
        ("Costos", "Hallazgos de costos", "costs:finding_list"),
        ("Costos", "Tarifas", "costs:ratecard_index"),
        ("Reportes", "Reportes de SLA", "cases:sla_report"),
        ("Ajustes", "Plantillas de avisos", "partners:notice_template_list"),
        ("Ajustes", "Reglas de severidad de alertas", "alerts:rule_list"),
        ("Ajustes", "Webhooks", "webhooks:subscription_list"),
        ("Ajustes", "Políticas de SLA", "cases:sla_policy_list"),
        ("Lupe Lead", "Sus preferencias", "profile"),
        ("Lupe Lead", "Tokens de API", "api_tokens"),
    ],
}
MENU_BUTTON = {"en": "Menu", "es": "Menú"}
LOCALES = {"en": "en-US", "es": "es-MX"}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
# The header's height: one row on a laptop, and compact on a phone.
MAX_HEADER = {"desktop": 72, "phone": 64}


@pytest.fixture
def lead_user(db):
    return UserFactory(username="lupe", first_name="Lupe", last_name="Lead", role="lead")


def log_in(tab, live_server, username="lupe"):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")


def header(tab):
    return tab.locator("header.topbar")


def open_menu(tab, size, language, menu):
    """Make `menu`'s links visible: on a phone the "Menu" panel first, then the menu's button."""
    if size == "phone":
        toggle = header(tab).get_by_role("button", name=MENU_BUTTON[language], exact=True)
        if toggle.get_attribute("aria-expanded") != "true":
            toggle.click()
        expect(tab.locator("#site-nav")).to_be_visible()
    if menu:
        button = header(tab).get_by_role("button", name=menu, exact=True)
        if button.get_attribute("aria-expanded") != "true":
            button.click()
        expect(button).to_have_attribute("aria-expanded", "true")


def nav_link(tab, text, include_hidden=False):
    # The at-risk link also carries the overdue count: match its label at the start.
    return header(tab).get_by_role("link", name=re.compile(rf"^{re.escape(text)}\d*$"), include_hidden=include_hidden)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_header_is_one_compact_row_and_reaches_every_destination(
    sized_page, live_server, lead_user, size, language
):
    IncidentFactory(title="Timeouts on Prosa switch", severity="sev2")
    tab = sized_page(**SIZES[size], locale=LOCALES[language])
    log_in(tab, live_server)
    expect(tab.locator("h1")).to_be_visible()

    box = header(tab).bounding_box()
    assert box["height"] <= MAX_HEADER[size], f"the header is {box['height']} px tall"
    # One row: the brand, the language switch and the last button of the header share a line.
    tops = [
        header(tab).locator(selector).bounding_box()
        for selector in (".brand", "#language-select", ".usermenu > button" if size == "desktop" else ".nav-toggle")
    ]
    assert all(b is not None and b["y"] + b["height"] <= box["y"] + box["height"] for b in tops), tops
    assert max(b["y"] for b in tops) - min(b["y"] for b in tops) < 24, tops
    assert_page_fits(tab)

    for menu, text, name in LEAD_NAV[language]:
        open_menu(tab, size, language, menu)
        link = nav_link(tab, text)
        expect(link).to_be_visible()
        expect(link).to_have_attribute("href", reverse(name))
        link_box = link.bounding_box()
        assert link_box["x"] >= 0 and link_box["x"] + link_box["width"] <= SIZES[size]["width"], (text, link_box)
        assert_page_fits(tab)
    expect(header(tab).get_by_role("button", name="Log out" if language == "en" else "Cerrar sesión")).to_be_visible()

    # No sideways scroll on the overview and the queue, at this size, with the menus closed again.
    tab.keyboard.press("Escape")
    for url in (reverse("overview"), reverse("cases:incident_list")):
        tab.goto(f"{live_server.url}{url}")
        expect(tab.locator("h1")).to_be_visible()
        assert_page_fits(tab)
        assert header(tab).bounding_box()["height"] <= MAX_HEADER[size]


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_nav_label_is_the_title_of_the_page_it_opens(sized_page, live_server, lead_user, language):
    tab = sized_page(**DESKTOP, locale=LOCALES[language])
    log_in(tab, live_server)
    for menu, text, name in LEAD_NAV[language]:
        open_menu(tab, "desktop", language, menu)
        link = nav_link(tab, text)
        with tab.expect_navigation():
            link.click()
        assert tab.url.split("?")[0] == f"{live_server.url}{reverse(name)}"
        expect(tab.locator("h1")).to_have_text(text)
        expect(tab).to_have_title(f"{text} · PayHealth")
        # The page opened is marked in the header, and so is the menu holding it.
        expect(nav_link(tab, text, include_hidden=True)).to_have_attribute("aria-current", "page")
        if menu:
            expect(header(tab).get_by_role("button", name=menu, exact=True)).to_have_class(re.compile("has-current"))


def test_the_skip_link_comes_first_and_focuses_the_content(sized_page, live_server, lead_user):
    tab = sized_page(**DESKTOP)
    log_in(tab, live_server)
    skip = tab.get_by_role("link", name="Skip to content")
    expect(skip).not_to_be_in_viewport()  # out of sight until it has the focus
    tab.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    tab.keyboard.press("Enter")
    expect(tab.locator("main#content")).to_be_focused()
    # The next Tab continues inside the content, not back in the header.
    tab.keyboard.press("Tab")
    assert tab.evaluate("() => document.activeElement.closest('main') !== null")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_menus_open_and_close_from_the_keyboard_and_outside_clicks(sized_page, live_server, lead_user, size):
    tab = sized_page(**SIZES[size])
    log_in(tab, live_server)
    if size == "phone":
        toggle = tab.get_by_role("button", name="Menu", exact=True)
        expect(tab.locator("#site-nav")).to_be_hidden()
        toggle.focus()
        tab.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(tab.locator("#site-nav")).to_be_visible()
    monitoring = header(tab).get_by_role("button", name="Monitoring", exact=True)
    setup = header(tab).get_by_role("button", name="Setup", exact=True)
    findings = header(tab).get_by_role("link", name="Detector findings")

    monitoring.focus()
    tab.keyboard.press("Enter")
    expect(monitoring).to_have_attribute("aria-expanded", "true")
    expect(findings).to_be_visible()
    tab.keyboard.press("Tab")
    expect(findings).to_be_focused()
    tab.keyboard.press("Escape")
    expect(monitoring).to_have_attribute("aria-expanded", "false")
    expect(findings).to_be_hidden()
    expect(monitoring).to_be_focused()

    tab.keyboard.press(" ")
    expect(monitoring).to_have_attribute("aria-expanded", "true")
    setup.click()  # one menu open at a time
    expect(setup).to_have_attribute("aria-expanded", "true")
    expect(monitoring).to_have_attribute("aria-expanded", "false")
    expect(header(tab).get_by_role("link", name="SLA policies")).to_be_visible()
    setup.click()
    expect(setup).to_have_attribute("aria-expanded", "false")

    monitoring.click()
    expect(findings).to_be_visible()
    if size == "desktop":
        tab.locator("h1").click()  # outside the menu
        expect(monitoring).to_have_attribute("aria-expanded", "false")
        expect(findings).to_be_hidden()
    else:
        tab.keyboard.press("Escape")  # the menu first, then the panel
        expect(monitoring).to_have_attribute("aria-expanded", "false")
        tab.keyboard.press("Escape")
        expect(tab.locator("#site-nav")).to_be_hidden()
        expect(tab.get_by_role("button", name="Menu", exact=True)).to_be_focused()

    # The user menu: name, role, time zone, preferences, tokens and logging out.
    if size == "phone":
        tab.get_by_role("button", name="Menu", exact=True).click()
    user = header(tab).get_by_role("button", name="Lupe Lead")
    user.click()
    menu = tab.locator("#navmenu-user")
    expect(menu).to_contain_text("Lead")
    expect(menu).to_contain_text("America/Mexico_City")
    menu.get_by_role("button", name="Log out").click()
    expect(tab).to_have_url(re.compile(r"/accounts/login/"))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_overview_is_accessible_with_menus_closed_and_open(sized_page, live_server, lead_user, size):
    IncidentFactory(title="Caída de aprobación BBVA débito – Visa", severity="sev1", status="investigating")
    tab = sized_page(**SIZES[size])
    log_in(tab, live_server)
    tab.goto(f"{live_server.url}{reverse('overview')}")
    expect(tab.locator("h1")).to_have_text("Overview")
    assert_accessible(tab)
    open_menu(tab, size, "en", "Setup")
    assert_accessible(tab)
    open_menu(tab, size, "en", "Lupe Lead")
    expect(tab.locator("#navmenu-user")).to_be_visible()
    assert_accessible(tab)
    assert_page_fits(tab)


def test_header_screenshots(page, live_server, login, lead_user, screenshot):
    IncidentFactory(title="Timeouts on Prosa switch", severity="sev2", status="waiting_on_partner")
    page.set_viewport_size(DESKTOP)
    login("lupe")
    header(page).get_by_role("button", name="Monitoring", exact=True).click()
    expect(header(page).get_by_role("link", name="Detector findings")).to_be_visible()
    screenshot("header-en")

    page.select_option("#language-select", "es")
    expect(page.get_by_role("button", name="Monitoreo", exact=True)).to_be_visible()
    page.set_viewport_size(PHONE)
    toggle = page.get_by_role("button", name="Menú", exact=True)
    toggle.click()
    page.get_by_role("button", name="Ajustes", exact=True).click()
    expect(page.get_by_role("link", name="Políticas de SLA")).to_be_visible()
    screenshot("header-mobile-es")
