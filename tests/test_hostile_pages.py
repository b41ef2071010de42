"""Hostile input never makes a 5xx on the pages either: every desk URL from the URL resolver,
opened and posted to by a lead with crafted query strings and forms. A NUL character anywhere is
a 400 before any view runs; anything else gets a page, a form error, a redirect or a 4xx. Each
request runs in a savepoint rolled back afterwards."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest
from django.db import transaction

from cases.filters import IncidentFilterSet, MerchantFilterSet
from tests.test_permission_matrix import PEOPLE_ENDPOINTS, _url, world  # noqa: F401 - `world` is a fixture

NUL = "a\x00b"
HOSTILE = ["²", "١٢", "99999999999999999999", "-1", "0", "1e400", "NaN", "0001-01-01", "9999-12-31T23:59", "x" * 3000]
POSTED = ["²", "99999999999999999999", "0001-01-01", "x" * 3000]
NAMES = sorted(
    {
        *IncidentFilterSet.base_filters,
        *MerchantFilterSet.base_filters,
        *("page", "per_page", "sort", "q", "ids", "open", "family", "mine", "start", "end", "dimension"),
        *("title", "body", "reason", "to", "severity", "owner", "incidents", "name", "query", "kind", "language"),
        *("email", "code", "partner", "partners", "merchant", "merchants", "subject", "url", "events", "table"),
        *("tab", "state", "until", "note", "incident", "segment", "enabled", "watch_q", "alert_q", "min_drop_pp"),
        *("global-watch_q", "global-alert_q", "global-min_bucket_attempts", "global-enabled", "on"),
        *("against", "from", "shape", "fee_type", "effective_from", "token", "rule-fee_type", "rule-rate_bps"),
    }
)


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    client.raise_request_exception = False
    return client


def _send(client, method: str, url: str, data: dict | None = None):
    with transaction.atomic():
        response = client.get(url, data) if method == "get" else client.post(url, data or {})
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("endpoint", PEOPLE_ENDPOINTS, ids=str)
def test_no_hostile_page_request_makes_a_server_error(lead_client, world, endpoint):  # noqa: F811 - the fixture
    url = _url(endpoint, world)
    failures = []
    for method in ("get", "post"):
        refused = _send(lead_client, method, url, dict.fromkeys(NAMES, NUL))
        if refused.status_code != 400:
            failures.append(f"{method.upper()} {url} with NUL → {refused.status_code}")
        for value in HOSTILE if method == "get" else POSTED:
            response = _send(lead_client, method, url, dict.fromkeys(NAMES, value))
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} with {value[:20]!r} → {response.status_code}")
    for kwarg_value in {str(value) for value in (_kwarg_values(url))}:
        hostile = url.replace(f"/{kwarg_value}/", f"/{quote(NUL, safe='')}/", 1)
        if hostile != url and _send(lead_client, "get", hostile).status_code != 400:
            failures.append(f"GET {hostile} → not 400")
    assert not failures, "\n".join(failures)


def _kwarg_values(url: str) -> list[str]:
    from django.urls import resolve

    return [str(value) for value in resolve(url.split("?")[0]).kwargs.values()]


def test_the_query_string_of_a_nul_refusal_names_nothing_back(lead_client):
    response = lead_client.get(f"/incidents/?{urlencode({'q': NUL})}")
    assert response.status_code == 400
    assert b"\x00" not in response.content
