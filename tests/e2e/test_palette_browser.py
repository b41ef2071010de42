"""The command palette in a real browser, on a laptop and a phone, in English and Spanish."""

import re

import pytest
from playwright.sync_api import expect

from cases.models import ReferenceCounter
from cases.search import refresh_search
from tests.e2e.a11y import DESKTOP, PHONE, assert_accessible, assert_page_fits
from tests.factories import IncidentFactory, MerchantFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en-US": {"trigger": "Search or jump to…", "incidents": "Incidents", "pages": "Pages", "overview": "Overview"},
    "es-MX": {"trigger": "Buscar o ir a…", "incidents": "Incidentes", "pages": "Páginas", "overview": "Resumen"},
}


def desk():
    UserFactory(username="ana", role="analyst")
    ReferenceCounter.objects.update_or_create(year=2026, defaults={"last": 200})
    target = IncidentFactory(reference="PH-2026-000183", title="Timeouts en el switch de Prosa")
    other = IncidentFactory(reference="PH-2026-000184", title="Rechazos en Pizzería Napoli")
    MerchantFactory(name="Pizzería Napoli")
    refresh_search(incident_ids=[target.pk, other.pk])
    return target


def assert_palette_fits(tab, size):
    """The trigger, and the dialog when open, lie within the viewport; on a laptop the whole page
    fits. (On a phone the header's user menu is wider than the screen before the palette is
    added: the header's own layout, checked by its own tests.)"""
    for selector in (".palette-trigger", "#palette[open]"):
        box = tab.locator(selector).bounding_box() if tab.locator(selector).count() else None
        if box is not None:
            assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"], (selector, box)
    if size == DESKTOP:
        assert_page_fits(tab)


def signed_in(sized_page, live_server, size, locale):
    tab = sized_page(width=size["width"], height=size["height"], locale=locale)
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", "ana")
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")
    tab.goto(f"{live_server.url}/accounts/profile/")  # a page that fits a phone, whatever the lists do
    return tab


@pytest.mark.parametrize("locale", ["en-US", "es-MX"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_ctrl_k_finds_a_partial_reference_and_enter_opens_it(sized_page, live_server, size, locale):
    target = desk()
    text = TEXT[locale]
    tab = signed_in(sized_page, live_server, size, locale)
    trigger = tab.locator(".palette-trigger")
    expect(trigger).to_contain_text(text["trigger"])
    assert_palette_fits(tab, size)

    dialog = tab.get_by_role("dialog")
    field = dialog.get_by_role("combobox")
    tab.keyboard.press("Control+k")
    expect(dialog).to_be_visible()
    expect(field).to_be_focused()
    # Nothing typed: the pages the analyst may open, in the page's language.
    expect(dialog.get_by_role("group", name=text["pages"])).to_contain_text(text["overview"])
    assert_accessible(tab)
    assert_palette_fits(tab, size)

    field.fill("183")
    incidents = dialog.get_by_role("group", name=text["incidents"])
    option = incidents.get_by_role("option").first
    expect(option).to_contain_text("PH-2026-000183")
    expect(option).to_have_attribute("aria-selected", "true")
    expect(field).to_have_attribute("aria-activedescendant", re.compile(r"palette-option-\d+"))
    assert_accessible(tab)
    field.press("Enter")
    tab.wait_for_url(f"{live_server.url}/incidents/{target.reference}/")
    expect(tab.locator("h1")).to_have_text(target.title)


@pytest.mark.parametrize("locale", ["en-US", "es-MX"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_slash_opens_arrows_move_and_escape_gives_focus_back(sized_page, live_server, size, locale):
    desk()
    tab = signed_in(sized_page, live_server, size, locale)
    dialog = tab.get_by_role("dialog")
    field = dialog.get_by_role("combobox")

    # "/" opens the palette, but not while typing in a field.
    tab.locator("body").click(position={"x": 5, "y": 300})
    tab.keyboard.press("/")
    expect(dialog).to_be_visible()
    expect(field).to_be_focused()
    field.fill("pizzeria")  # no accent typed, the accented names found
    options = dialog.get_by_role("option")
    expect(options.first).to_contain_text("Pizzería Napoli")
    expect(options).to_have_count(2)  # the incident and the merchant
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    field.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    field.press("ArrowDown")  # wraps round
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    field.press("ArrowUp")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    field.press("Escape")
    expect(dialog).to_be_hidden()

    tab.goto(f"{live_server.url}/merchants/")
    search = tab.locator("#id_q")
    search.fill("")
    search.press("/")
    expect(dialog).to_be_hidden()
    expect(search).to_have_value("/")

    # Opened from the trigger, closed with Escape: focus goes back to the trigger.
    trigger = tab.locator(".palette-trigger")
    trigger.click()
    expect(dialog).to_be_visible()
    expect(field).to_be_focused()
    expect(field).to_have_value("")
    tab.keyboard.press("Tab")  # Tab stays in the dialog
    expect(tab.locator(".palette-close")).to_be_focused()
    tab.keyboard.press("Tab")
    expect(field).to_be_focused()
    tab.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(trigger).to_be_focused()
    assert_palette_fits(tab, size)
