"""The shell in a real browser: log in, see the overview, switch to Spanish and back."""

import pytest
from playwright.sync_api import expect

from tests.factories import IncidentFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_analyst_logs_in_and_switches_language(page, live_server, login, screenshot):
    UserFactory(username="ana", first_name="Ana", last_name="Ruiz", role="analyst")
    IncidentFactory(title="Caída de aprobación BBVA débito – Visa", severity="sev1", status="investigating")
    IncidentFactory(title="Timeouts on Prosa switch", severity="sev2", status="waiting_on_partner")

    page.goto(f"{live_server.url}/accounts/login/")
    screenshot("login")
    login("ana")
    expect(page.locator("h1")).to_have_text("Incident queue")  # the analysts' home
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.get_by_text("Caída de aprobación BBVA débito – Visa")).to_be_visible()
    expect(page.locator(".tile .figure").first).to_have_text("2")
    screenshot("overview-en")

    page.select_option("#language-select", "es")
    expect(page.locator("h1")).to_have_text("Resumen")  # waits for the page the switch loads
    page.locator(".usermenu > button").click()  # the user menu
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.get_by_text("Esperando al socio")).to_be_visible()
    screenshot("overview-es")

    page.select_option("#language-select", "en")
    expect(page.locator("h1")).to_have_text("Overview")


def test_wrong_password_is_refused_in_the_browser(page, live_server):
    UserFactory(username="ana", role="analyst")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "ana")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    # The click returns before the answer arrives: wait for the refused form, not for the old page.
    expect(page.locator(".errors")).to_be_visible()
    expect(page.locator(".errors")).to_contain_text("correct username and password")
    assert "/accounts/login/" in page.url


def test_the_browser_refuses_inline_code_and_the_journeys_hear_of_it(page, live_server, browser_problems):
    """The policy holds in Chromium, and the `page` fixture sees each violation: every journey fails
    on one it did not expect."""
    page.goto(f"{live_server.url}/accounts/login/")
    injected = """() => {
        const script = document.createElement("script");
        script.textContent = "window.injected = true";
        document.head.append(script);
        document.body.setAttribute("onclick", "window.clicked = true");
        document.body.click();
    }"""

    with page.expect_console_message(lambda message: "script-src-attr" in message.text):
        page.evaluate(injected)

    assert page.evaluate("[window.injected, window.clicked]") == [None, None]
    violations = [p for p in browser_problems.reported if "CSP violation" in p]
    assert any("script-src-elem refused inline" in v for v in violations), browser_problems.reported
    assert any("script-src-attr refused inline" in v for v in violations), browser_problems.reported
    browser_problems.expect("CSP violation")
    browser_problems.expect("violates the following Content Security Policy directive")


def test_a_superuser_uses_the_admin_under_the_policy(page, live_server):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    incident = IncidentFactory(title="Timeouts on Prosa switch", severity="sev2")

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{live_server.url}/admin/cases/incident/")
    expect(page.get_by_role("link", name=incident.reference)).to_be_visible()
    page.get_by_role("link", name=incident.reference).click()
    expect(page.locator("#content h2, #content h1").first).to_be_visible()
    page.goto(f"{live_server.url}/admin/auth/user/")
    expect(page.get_by_role("link", name="root")).to_be_visible()


def test_a_locked_out_visitor_is_told_in_their_language(page, live_server, browser_problems, screenshot):
    UserFactory(username="ana", role="analyst")
    page.goto(f"{live_server.url}/accounts/login/")
    page.select_option("#language-select", "es")
    expect(page.locator("h1")).to_have_text("Inicie sesión en PayHealth")

    for attempt in range(5):
        page.fill("#id_username", "ana")
        page.fill("#id_password", f"adivinanza-{attempt}")
        with page.expect_navigation():  # the answer to this attempt, not the page of the last one
            page.click("button[type=submit]")

    expect(page.locator("h1")).to_have_text("Demasiados intentos fallidos")
    expect(page.locator(".errors")).to_contain_text("queda en pausa durante 15 minutos")
    screenshot("login-locked-es")
    browser_problems.expect("status of 429")  # the lockout answer itself
    page.get_by_role("link", name="Volver a la página de inicio de sesión").click()
    expect(page.locator("h1")).to_have_text("Inicie sesión en PayHealth")
