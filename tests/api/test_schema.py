"""The OpenAPI schema validates without a warning, and its viewers are served by the app itself."""

from __future__ import annotations

import re

import yaml
from django.core.management import call_command
from django.urls import reverse


def test_the_schema_validates_without_warnings(tmp_path, capsys):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    captured = capsys.readouterr()
    assert "Warning" not in captured.err + captured.out
    schema = yaml.safe_load(out.read_text())
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/incidents/"])
    assert set(paths["/api/v1/incidents/{reference}/transition/"]) == {"post"}
    assert "Error" in schema["components"]["schemas"]
    list_parameters = {p["name"] for p in paths["/api/v1/incidents/"]["get"]["parameters"]}
    assert {"q", "status", "severity", "category", "partner", "merchant", "owner", "network"} <= list_parameters
    assert {"created_from", "created_to", "cursor", "page_size"} <= list_parameters


def _external_urls(html: str) -> list[str]:
    return [url for url in re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) if re.match(r"^(https?:)?//", url)]


def test_swagger_ui_and_redoc_render_from_the_apps_own_static_files(client, analyst):
    client.force_login(analyst)

    swagger = client.get(reverse("api:swagger"))
    redoc = client.get(reverse("api:redoc"))

    assert swagger.status_code == 200 and redoc.status_code == 200
    swagger_html, redoc_html = swagger.content.decode(), redoc.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in swagger_html
    assert "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in redoc_html
    assert _external_urls(swagger_html) == []
    assert _external_urls(redoc_html) == []
    assert "cdn." not in swagger_html + redoc_html
