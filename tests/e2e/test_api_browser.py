"""The API from a person's side, in a real browser: create a personal token, use it, read the
API reference (Swagger UI and Redoc), all served by PayHealth itself with no request leaving the
host and nothing refused by the pages' Content-Security-Policy (the `page` fixture fails on it)."""

import json
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from playwright.sync_api import expect

from tests.factories import IncidentFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _leaves_the_host(url: str) -> bool:
    if url.startswith(("data:", "blob:")):  # made in the page itself
        return False
    return urlsplit(url).hostname not in ("localhost", "127.0.0.1")


def test_lead_creates_a_token_uses_it_and_reads_the_api_reference(page, live_server, login, screenshot):
    UserFactory(username="lucia", first_name="Lucía", last_name="Méndez", role="lead")
    IncidentFactory(title="Timeouts on Prosa switch", severity="sev2")
    foreign = []
    page.on("request", lambda r: foreign.append(r.url) if _leaves_the_host(r.url) else None)
    login("lucia")

    page.locator(".usermenu > button").click()  # the user menu
    page.get_by_role("link", name="API tokens").click()
    page.fill("#token-name", "monitoring alerts")
    page.get_by_role("button", name="Create token").click()
    token = page.locator(".token-value").inner_text().strip()
    assert token.startswith("ph_")
    screenshot("api-tokens")

    with urlopen(Request(f"{live_server.url}/api/v1/me/", headers={"Authorization": f"Bearer {token}"})) as answer:
        assert json.load(answer)["username"] == "lucia"

    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .title").first).to_contain_text("PayHealth API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    screenshot("api-swagger")
    page.goto(f"{live_server.url}/api/v1/redoc/")
    expect(page.get_by_text("PayHealth API").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    page.goto(f"{live_server.url}/accounts/tokens/")
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("was revoked")).to_be_visible()
    assert foreign == [], f"requests left the host: {foreign}"
