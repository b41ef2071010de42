"""The Content-Security-Policy: on every answer, scripts and styles from the site's own files only,
and no template that would need more (the browser journeys in tests/e2e fail on any violation)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.template import engines

from tests.factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

# What a policy without 'unsafe-inline' refuses, as it appears in a template's source.
INLINE = {
    "an inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "an inline <style>": re.compile(r"<style\b", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "an hx-on handler (evaluated code)": re.compile(r"\s(data-)?hx-on", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def page_templates() -> list[Path]:
    """Every HTML template of the project: the DIRS of the template engine and each app's own
    (installed packages are not the project's, even when their environment sits inside the clone)."""
    folders = {Path(folder) for folder in engines["django"].engine.dirs}
    folders |= {
        Path(app.path) / "templates"
        for app in apps.get_app_configs()
        if Path(app.path).is_relative_to(ROOT) and "site-packages" not in Path(app.path).parts
    }
    return sorted(path for folder in folders if folder.is_dir() for path in folder.rglob("*.html"))


def test_the_templates_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in page_templates()}
    assert {"templates/base.html", "templates/cases/incident_list.html", "templates/cases/_sla.html"} <= names


@pytest.mark.parametrize("path", page_templates(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_template_holds_inline_code_or_style(path):
    source = path.read_text()
    found = [
        f"{what} at line {source.count(chr(10), 0, m.start()) + 1}"
        for what, rx in INLINE.items()
        for m in rx.finditer(source)
    ]
    assert not found, f"{path.relative_to(ROOT)}: {', '.join(found)}"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


SITE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_the_desks_pages_carry_the_policy(lead_client):
    incident = IncidentFactory()
    for url in ("/", "/incidents/", f"/incidents/{incident.reference}/", "/accounts/tokens/", "/sla/at-risk/"):
        response = lead_client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == SITE_POLICY, url


def test_htmx_fragments_refusals_and_anonymous_pages_carry_it_too(client, lead_client):
    assert policy(lead_client.get("/incidents/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")) == SITE_POLICY
    assert policy(lead_client.get("/incidents/PH-1999-000001/")) == SITE_POLICY  # 404
    lead_client.logout()
    assert policy(client.get("/accounts/login/")) == SITE_POLICY
    assert policy(client.get("/incidents/")) == SITE_POLICY  # the redirect to the login page


def test_the_admin_carries_it(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.get("/admin/cases/incident/")
    assert response.status_code == 200
    assert policy(response) == SITE_POLICY


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_api_reference_widens_it_for_its_libraries_alone(lead_client, url):
    response = lead_client.get(url)

    assert response.status_code == 200
    assert policy(response) == {
        **SITE_POLICY,
        "style-src": ["'self'", "'unsafe-inline'"],  # Redoc writes its styles as <style> elements
        "img-src": ["'self'", "data:", "blob:"],
        "worker-src": ["'self'", "blob:"],
    }
    html = response.content.decode()
    assert not INLINE["an inline <script>"].search(html)
    assert "https://" not in html  # nothing from a CDN


def test_swagger_uis_start_up_script_is_a_file_of_its_own(lead_client):
    page = lead_client.get("/api/v1/docs/").content.decode()
    script_url = re.search(r'<script src="(/api/v1/docs/\?[^"]*script[^"]*)"', page).group(1)

    script = lead_client.get(script_url.replace("&amp;", "&"))

    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()
    assert '"validatorUrl": null' in script.content.decode()  # no badge image from swagger.io


def test_htmx_is_told_to_evaluate_nothing_and_inject_no_style(lead_client):
    html = lead_client.get("/incidents/").content.decode()
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", html).group(1)

    assert '"allowEval": false' in config
    assert '"includeIndicatorStyles": false' in config
    assert '"attributesToSettle": ["class", "width", "height"]' in config  # never a style attribute
    assert '"historyCacheSize": 0' in config  # no page of the desk kept in localStorage


def test_the_browsable_api_of_development_allows_inline_styles_but_no_inline_script(lead_client):
    """Production answers JSON only (tests/payhealth/test_production_settings.py); elsewhere the
    browsable API's pages keep their inline styles."""
    response = lead_client.get("/api/v1/incidents/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert policy(response) == {**SITE_POLICY, "style-src": ["'self'", "'unsafe-inline'"]}
    assert policy(lead_client.get("/api/v1/incidents/")) == SITE_POLICY  # JSON
