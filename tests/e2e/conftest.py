"""Browser journeys in real headless Chromium (Debian's package) driven by Playwright.

Screenshots go to test-output/screenshots/; `make screenshots` copies them into docs/.
"""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the live server and the ORM calls of
# the tests themselves are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("PAYHEALTH_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is needed for browser tests: apt-get install chromium (or set PAYHEALTH_CHROMIUM)")
    return path


# One patience for every wait: page actions and `expect` assertions (whose own default, 5 s, is
# short for a shared 2-core machine running the suite and a worker side by side).
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every page reports what its Content-Security-Policy refused, with the directive and the address
# (Chromium also logs a console error of its own).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
    console.error(`CSP violation: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}`
        + ` (${event.sourceFile || event.documentURI}:${event.lineNumber})`);
});
"""


class BrowserProblems:
    """What the browser reported while a test ran: console errors (CSP violations among them) and
    uncaught exceptions. A test that provokes one on purpose names it with `expect(fragment)`."""

    def __init__(self) -> None:
        self.reported: list[str] = []
        self.expected: list[str] = []

    def console(self, message) -> None:
        if message.type == "error":
            self.reported.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def uncaught(self, error) -> None:
        self.reported.append(f"uncaught exception: {error}")

    def expect(self, fragment: str) -> None:
        self.expected.append(fragment)

    def unexpected(self) -> list[str]:
        return [p for p in self.reported if not any(fragment in p for fragment in self.expected)]


@pytest.fixture
def browser_problems():
    return BrowserProblems()


@pytest.fixture
def page(browser, browser_problems):
    """A fresh browser tab; the test fails if any page it visited logged an error or a CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.on("console", browser_problems.console)
    page.on("pageerror", browser_problems.uncaught)
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()
    problems = browser_problems.unexpected()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(page, live_server):
    def do(username: str, password: str = "secret-pass-123") -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

    return do


@pytest.fixture
def sized_page(browser, browser_problems):
    """A fresh tab at a given viewport and locale: `sized_page(width=390, height=844, locale="es-MX")`.
    Like `page`, the test fails if a page it visited logged an error or a CSP violation."""
    contexts = []

    def make(*, width: int = 1440, height: int = 900, locale: str = "en-US"):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        contexts.append(context)
        tab = context.new_page()
        tab.on("console", browser_problems.console)
        tab.on("pageerror", browser_problems.uncaught)
        tab.set_default_timeout(TIMEOUT_MS)
        return tab

    yield make
    for context in contexts:
        context.close()
    problems = browser_problems.unexpected()
    assert not problems, "the browser reported:\n" + "\n".join(problems)
