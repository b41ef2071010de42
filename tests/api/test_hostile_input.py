"""Hostile input never makes a 5xx: the findings of the security review one by one, then every API
route walked with them (every path kwarg, every query parameter and every body field the OpenAPI
schema names), as a lead through a Bearer token. Each request runs in a savepoint rolled back
afterwards, so the walk leaves the fixture as it found it."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator

from cases.models import SavedView
from tests.api.helpers import token_client
from tests.api.test_api_permission_matrix import ROUTES, Route, _url, build_world
from tests.factories import IncidentFactory, MerchantFactory, PartnerFactory, UserFactory

NUL = "a\x00b"
SUPERSCRIPT_TWO = "²"  # str.isdigit() says yes, int() says no
FORGED_CURSOR = "cD0yMDI2LTEyLTA0"  # base64 of "p=2026-12-04": well encoded, not issued by the list
HUGE = "99999999999999999999"  # beyond bigint
LONE_SURROGATE = "\ud800"  # valid in JSON text, not encodable as UTF-8

# What a crafted request puts in a path segment, a query parameter or a body field.
HOSTILE_TEXT = [NUL, SUPERSCRIPT_TWO, "١٢", HUGE, "-" + HUGE, "0", "-1", "1e400", "NaN", FORGED_CURSOR, "x" * 3000]
HOSTILE_QUERY = [*HOSTILE_TEXT, "0001-01-01", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", ""]
HOSTILE_JSON = [
    *HOSTILE_QUERY,
    LONE_SURROGATE,
    2**70,
    -(2**70),
    1e308,
    True,
    None,
    [NUL],
    [SUPERSCRIPT_TWO],
    ["x"] * 500,
    {"a": NUL},
]


def _error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()["error"]
    assert body["status"] == status
    assert body["message"]
    return body


@pytest.fixture(scope="class")
def world(django_db_setup, django_db_blocker):
    """The API walk's objects (tests/api/test_api_permission_matrix.py), built once for a class's
    tests in a transaction rolled back after them; each test runs in a savepoint of it, and each
    walked request in a savepoint of the test, so every test sees the same world."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world(UserFactory(username="lucia", role="lead"))
        transaction.set_rollback(True)


@pytest.fixture
def api(lead):
    client = token_client(lead)
    client.raise_request_exception = False
    return client


# The findings -----------------------------------------------------------------------------------


def test_a_nul_byte_in_a_contact_partner_is_a_400_naming_it(api):
    response = api.post("/api/v1/contacts/", {"partner": NUL, "email": "x@example.com"}, format="json")
    assert "partner" in _error(response, 400)["fields"]


def test_a_nul_byte_in_a_query_parameter_is_a_400_naming_it(api):
    PartnerFactory(code="prosa")
    IncidentFactory()
    assert _error(api.get("/api/v1/incidents/", {"search": NUL}), 400)["fields"] == {
        "search": ["Text cannot contain NUL characters or invalid Unicode."]
    }


def test_a_nul_byte_in_a_path_is_a_json_400(api):
    _error(api.get("/api/v1/partners/a%00b/"), 400)


def test_a_lone_surrogate_in_a_body_is_a_400_naming_the_field(api):
    response = api.generic(
        "POST", "/api/v1/merchants/", '{"account_id": "acct_1", "name": "\\ud800"}', content_type="application/json"
    )
    assert "name" in _error(response, 400)["fields"]


def test_a_nul_byte_in_a_page_query_or_form_is_a_400(client, lead):
    client.force_login(lead)
    assert client.get("/incidents/", {"q": NUL}).status_code == 400
    assert client.get("/sla/at-risk/", {"partner": NUL}).status_code == 400
    assert client.post("/incidents/new/", {"title": NUL}).status_code == 400


def test_superscript_digits_in_partners_are_a_400(api):
    response = api.post(
        "/api/v1/incidents/",
        {"title": "x", "category": "processor_outage", "severity": "sev3", "partners": [SUPERSCRIPT_TWO]},
        format="json",
    )
    assert "partners.0" in _error(response, 400)["fields"]


def test_superscript_digits_in_a_saved_view_id_are_a_404_and_delete_nothing(api, lead):
    SavedView.objects.create(owner=lead, name="Mine", query="status=new")
    _error(api.delete(f"/api/v1/saved-views/{SUPERSCRIPT_TWO}/"), 404)
    assert SavedView.objects.count() == 1


def test_superscript_digits_in_notice_ids_are_ignored(client, lead):
    incident = IncidentFactory(owner=lead, created_by=lead)
    client.force_login(lead)
    client.raise_request_exception = False
    response = client.get(f"/incidents/{incident.reference}/notices/review/", {"ids": f"{SUPERSCRIPT_TWO},١٢,{HUGE}"})
    assert response.status_code < 500
    response = client.post(f"/incidents/{incident.reference}/notices/send/", {"ids": f"{SUPERSCRIPT_TWO},{HUGE}"})
    assert response.status_code < 500


CURSOR_LISTS = [route for route in ROUTES if route.method == "get" and route.name.endswith("-list")]


class TestForgedCursor:
    @pytest.mark.parametrize("route", CURSOR_LISTS, ids=str)
    def test_a_forged_cursor_is_a_400_naming_cursor(self, api, world, route):
        response = api.get(_url(route, world), {"cursor": FORGED_CURSOR})
        view = resolve(_url(route, world)).func.cls
        if view.pagination_class is None:  # a handful of rows: one answer, no cursor to forge
            assert response.status_code == 200
            return
        assert _error(response, 400)["fields"] == {"cursor": ["Invalid cursor"]}


def test_a_cursor_the_list_issued_still_pages(api):
    for n in range(3):
        MerchantFactory(account_id=f"acct_PAGE{n:07d}")
    first = api.get("/api/v1/merchants/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1
    # A cursor issued by one list is refused by another.
    cursor = first["next"].split("cursor=")[1].split("&")[0]
    _error(api.get(f"/api/v1/partners/?cursor={cursor}"), 400)


def test_deeply_nested_json_is_a_400(api):
    deep = "[" * 10000 + "]" * 10000
    assert _error(api.generic("POST", "/api/v1/incidents/", deep, content_type="application/json"), 400)
    nested = json.dumps({"title": json.loads("[" * 40 + "]" * 40)})
    assert _error(api.generic("POST", "/api/v1/incidents/", nested, content_type="application/json"), 400)


@pytest.mark.parametrize(
    "url", ["/api/v1/nope/", "/api/v1/incidents/abc/notes/x/", "/api/whatever", "/api/v1/webhooks/subscriptions/abc/"]
)
def test_unknown_api_paths_are_a_json_404(api, url):
    assert _error(api.get(url), 404)["code"] == "not_found"
    assert _error(api.delete(url), 404)["code"] == "not_found"


def test_a_method_the_route_does_not_answer_is_a_json_405(api):
    assert _error(api.put("/api/v1/incidents/", {}, format="json"), 405)["code"] == "method_not_allowed"


def test_an_unacceptable_media_type_is_a_json_406(api):
    response = api.get("/api/v1/incidents/", HTTP_ACCEPT="application/xml")
    assert _error(response, 406)["code"] == "not_acceptable"


def test_the_pages_keep_their_html_404(client, lead):
    client.force_login(lead)
    response = client.get("/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "url", ["/sla/at-risk/", "/incidents/", "/sla/reports/", "/webhooks/", "/inbound/triage/", "/merchants/"]
)
def test_huge_page_numbers_on_the_pages(client, lead, url):
    client.force_login(lead)
    client.raise_request_exception = False
    for page in (HUGE, "-1", SUPERSCRIPT_TWO, "0"):
        response = client.get(url, {"page": page})
        assert response.status_code in (200, 400, 404), (page, response.status_code)


@pytest.mark.parametrize("url", ["/api/v1/sla/at-risk/", "/api/v1/reports/sla/breaches/"])
def test_huge_page_numbers_on_the_api_are_a_400(api, url):
    assert "page" in _error(api.get(url, {"page": HUGE}), 400)["fields"]


# Every route, walked ----------------------------------------------------------------------------


def _schema_names() -> tuple[list[str], list[str]]:
    """Every query parameter and every request body property the OpenAPI schema names."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    query, body = {"cursor", "page", "page_size", "ids", "search", "q"}, set()
    components = schema["components"]["schemas"]

    def properties(ref_or_schema) -> set[str]:
        found = set()
        if "$ref" in ref_or_schema:
            ref_or_schema = components[ref_or_schema["$ref"].rsplit("/", 1)[1]]
        found |= set(ref_or_schema.get("properties", {}))
        for key in ("allOf", "oneOf", "anyOf"):
            for inner in ref_or_schema.get(key, []):
                found |= properties(inner)
        return found

    for operations in schema["paths"].values():
        for operation in operations.values():
            query |= {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            for content in operation.get("requestBody", {}).get("content", {}).values():
                body |= properties(content["schema"])
    return sorted(query), sorted(body)


def _hostile_urls(route: Route, world: dict) -> list[str]:
    """The route's URL with each path kwarg replaced in turn by each hostile text."""
    from urllib.parse import quote

    url = _url(route, world)
    urls = []
    for kwarg in route.kwargs:
        marker = {**world}
        good = _url(route, marker)
        value = str(_kwarg_value(route, kwarg, world))
        for hostile in HOSTILE_TEXT:
            urls.append(good.replace(f"/{value}/", f"/{quote(hostile, safe='')}/", 1))
    return urls or [url]


def _kwarg_value(route: Route, kwarg: str, world: dict):
    from tests.api.test_api_permission_matrix import KWARG_VALUES, KWARG_VALUES_BY_ENDPOINT

    fill = KWARG_VALUES_BY_ENDPOINT.get((route.name, kwarg)) or KWARG_VALUES[kwarg]
    return fill(world)


def _send(client, method: str, url: str, **kwargs):
    with transaction.atomic():
        if method in ("get", "delete"):
            response = getattr(client, method)(url, kwargs.get("query"))
        elif "raw" in kwargs:
            response = client.generic(method.upper(), url, kwargs["raw"], content_type="application/json")
        else:  # ASCII JSON, so that a lone surrogate travels as its escape
            body = json.dumps(kwargs.get("body", {}))
            response = client.generic(method.upper(), url, body, content_type="application/json")
        transaction.set_rollback(True)
    return response


FILE_ROUTES = {"incident-report-pdf": "application/pdf"}
WALKED = [route for route in ROUTES if route.name not in ("schema", "swagger", "redoc")]


class TestWalk:
    @pytest.mark.parametrize("route", WALKED, ids=str)
    def test_no_hostile_input_makes_a_server_error(self, route, world, api):
        query_names, body_names = _schema_names_cached()
        url = _url(route, world)
        failures = []

        # A file endpoint answers its file when the hostile value is harmless; errors are still JSON.
        expected = FILE_ROUTES.get(route.name, "application/json")

        def check(response, what: str) -> None:
            content_type = response.get("Content-Type", "application/json")
            ok_type = content_type.startswith("application/json") or (
                response.status_code == 200 and content_type.startswith(expected)
            )
            if response.status_code >= 500 or not ok_type:
                failures.append(f"{route} {what} → {response.status_code} {response.content[:200]!r}")

        for hostile_url in _hostile_urls(route, world):
            check(_send(api, route.method, hostile_url), f"path {hostile_url!r}")
        for value in HOSTILE_QUERY:
            check(
                _send(api, "get" if route.method == "get" else route.method, f"{url}?{_query(query_names, value)}"),
                f"query {value[:20]!r}",
            )
        if route.method in ("post", "put", "patch"):
            for value in HOSTILE_JSON:
                body = dict.fromkeys(body_names, value)
                check(_send(api, route.method, url, body=body), f"body {str(value)[:20]!r}")
            for raw in ("[" * 5000 + "]" * 5000, "[]", '"text"', "1e999", '{"a": 1', "\x00"):
                check(_send(api, route.method, url, raw=raw), f"raw body {raw[:20]!r}")
        assert not failures, "\n".join(failures)


def _query(names: list[str], value: str) -> str:
    from urllib.parse import urlencode

    return urlencode(dict.fromkeys(names, value))


_names: list = []


def _schema_names_cached() -> tuple[list[str], list[str]]:
    if not _names:
        _names.append(_schema_names())
    return _names[0]


# What the schema refuses, the API refuses (schemathesis's negative data rejection) --------------


@pytest.mark.parametrize("page_size", ["abc", "0", "201", SUPERSCRIPT_TWO, HUGE])
def test_a_page_size_the_schema_refuses_is_a_400(api, page_size):
    body = _error(api.get("/api/v1/merchants/", {"page_size": page_size}), 400)
    assert body["fields"] == {"page_size": ["Give a whole number from 1 to 200, once."]}


def test_the_schema_documents_the_page_size_bounds():
    (page_size,) = [
        parameter
        for parameter in SchemaGenerator().get_schema(request=None, public=True)["paths"]["/api/v1/merchants/"]["get"][
            "parameters"
        ]
        if parameter["name"] == "page_size"
    ]
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 200)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("active=-4584", "active", "Give true or false."),
        ("active=true&active=false", "active", "Give this parameter once."),
        ("language=", "language", "Give a value, or leave the parameter out."),
        ("page_size=5&page_size=6", "page_size", "Give a whole number from 1 to 200, once."),
    ],
)
def test_a_query_parameter_the_schema_refuses_is_a_400(api, query, field, message):
    assert _error(api.get(f"/api/v1/partners/?{query}"), 400)["fields"] == {field: [message]}


@pytest.mark.parametrize("query", ["end=&family=", "family=ours&family=partners"])
def test_the_report_parameters_the_schema_refuses_are_a_400(api, query):
    assert _error(api.get(f"/api/v1/reports/sla/time-to/?{query}"), 400)["fields"]


def test_a_number_for_a_text_field_is_a_400(api):
    body = _error(api.post("/api/v1/tokens/", {"name": -122826}, format="json"), 400)
    assert body["fields"] == {"name": ["Not a valid string."]}


def test_text_longer_than_its_field_as_sent_is_a_400(api):
    body = _error(api.post("/api/v1/saved-views/", {"name": "\f" + "*" * 80, "query": ""}, format="json"), 400)
    assert body["fields"] == {"name": ["Ensure this field has no more than 80 characters."]}
