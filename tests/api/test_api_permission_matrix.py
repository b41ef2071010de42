"""Every API route × every HTTP method it answers × every kind of caller, from the URL resolver.

The routes of the `api` namespace are enumerated from the URL resolver (tests/urlwalk.py) with the methods each one
maps (a viewset's action map, an APIView's handlers), so a new route is checked the day it is
added: it FAILS here until someone writes down who may call it in `EXPECTED`.

Callers: anonymous; a signed-in user without a role; analyst, partner manager and lead; each
signed-in caller twice, through a browser session and through a Bearer token of their own.
- anonymous → 401 (PUBLIC routes: 200);
- not allowed → 403;
- allowed → neither 401, 403 nor a server error (typically 200/201/204, 400 for the empty body
  sent, 404 where the URL names an object the fixture does not have);
- a refused write changes nothing: the row count of every model is the same afterwards.
Allowed requests run in a savepoint that is rolled back, so each caller sees the same world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import api_token_create
from cases.correspondence.compose import notice_compose
from tests.factories import (
    DESK_USERS,
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)
from tests.urlwalk import fill_url, url_patterns

ANALYST, PARTNER_MANAGER, LEAD = "analyst", "partner_manager", "lead"
DESK = frozenset({ANALYST, PARTNER_MANAGER, LEAD})
MANAGERS = frozenset({PARTNER_MANAGER, LEAD})
LEADS = frozenset({LEAD})
ANY_SIGNED_IN = "any signed-in user"  # no role needed (the caller's own things)
PUBLIC = "public"  # no sign-in (the schema and its viewers)

# url name → {HTTP method: who may call it}. A route or method missing here FAILS the test.
EXPECTED: dict[str, dict[str, frozenset[str] | str]] = {
    # The schema and its viewers
    "schema": {"get": PUBLIC},
    "swagger": {"get": PUBLIC},
    "redoc": {"get": PUBLIC},
    # accounts
    "me": {"get": ANY_SIGNED_IN},
    "token-list": {"get": ANY_SIGNED_IN, "post": ANY_SIGNED_IN},
    "token-detail": {"get": ANY_SIGNED_IN},
    "token-revoke": {"post": ANY_SIGNED_IN},
    # cases: incidents and their parts
    "incident-list": {"get": DESK, "post": DESK},
    "incident-detail": {"get": DESK, "patch": DESK},
    "incident-bulk": {"post": DESK},
    "incident-transition": {"post": DESK},
    "incident-severity": {"post": DESK},
    "incident-assign": {"post": DESK},
    "incident-timeline": {"get": DESK},
    "incident-note-list": {"get": DESK, "post": DESK},
    "incident-note-detail": {"get": DESK, "patch": DESK},
    "incident-merchant-list": {"get": DESK, "post": DESK},
    "incident-merchant-detail": {"get": DESK, "patch": DESK, "delete": DESK},
    "incident-decline-code-list": {"get": DESK, "post": DESK},
    "incident-decline-code-detail": {"get": DESK, "delete": DESK},
    "incident-engagement-list": {"get": DESK, "post": DESK},
    "incident-engagement-detail": {"get": DESK, "patch": DESK},
    "incident-rca-list": {"get": DESK},
    "incident-rca-detail": {"get": DESK},
    "incident-rca-status": {"post": DESK},
    "incident-action-item-list": {"get": DESK, "post": DESK},
    "incident-action-item-detail": {"get": DESK, "patch": DESK},
    # cases: reference data and the caller's saved views
    "merchant-list": {"get": DESK, "post": DESK},
    "merchant-detail": {"get": DESK, "patch": DESK},
    "response-code-list": {"get": DESK},
    "saved-view-list": {"get": DESK, "post": DESK},
    "saved-view-detail": {"delete": DESK},
    # cases: notices and correspondence
    "incident-correspondence": {"get": DESK},
    "notice-compose": {"post": DESK},
    "notice-next-kinds": {"get": DESK},
    "incident-account-update": {"post": DESK},
    "incident-sample-list": {"get": DESK, "post": DESK, "delete": DESK},
    "incident-sample-detail": {"get": DESK, "delete": DESK},
    "correspondence-approvals": {"get": LEADS},
    "correspondence-triage": {"get": MANAGERS},
    "correspondence-detail": {"get": DESK, "patch": DESK},
    # An analyst submits only their own drafts; the fixture's notice is the lead's.
    "correspondence-submit": {"post": MANAGERS},
    # Release sends at once below the approval severity (the fixture's SEV3), which needs
    # cases.send_correspondence (the service refuses analysts); a SEV1/2 notice is submitted instead.
    "correspondence-release": {"post": MANAGERS},
    "correspondence-approve": {"post": LEADS},
    "correspondence-reject": {"post": LEADS},
    "correspondence-send": {"post": MANAGERS},
    "correspondence-retry": {"post": MANAGERS},
    "correspondence-revoke-ack-link": {"post": MANAGERS},
    "correspondence-attach": {"post": MANAGERS},
    "correspondence-confirm": {"post": DESK},  # cases.change_partnerengagement: a reply's folio or ETA
    # The post-incident report: desk roles read it; attaching it to a draft is for whoever may edit that draft.
    "incident-report": {"get": DESK},
    "incident-report-pdf": {"get": DESK},
    "correspondence-attach-report": {"post": DESK},
    # cases: SLA clocks, policies and the leads' reports
    "incident-sla": {"get": DESK},
    "sla-at-risk": {"get": DESK},
    "sla-policy-list": {"get": DESK, "post": LEADS},
    "sla-policy-detail": {"get": DESK, "patch": LEADS},
    "sla-policy-deactivate": {"post": LEADS},
    "sla-report-attainment": {"get": LEADS},
    "sla-report-time-to": {"get": LEADS},
    "sla-report-breaches": {"get": LEADS},
    "sla-report-scorecard": {"get": LEADS},
    # partners
    "partner-list": {"get": DESK, "post": MANAGERS},
    "partner-detail": {"get": DESK, "patch": MANAGERS},
    "partner-contact-list": {"get": DESK, "post": MANAGERS},
    "partner-contact-detail": {"get": DESK, "patch": MANAGERS, "delete": MANAGERS},
    "calendar-list": {"get": DESK},
    "calendar-detail": {"get": DESK},
    "calendar-business-time": {"get": DESK},
    "notice-template-list": {"get": DESK, "post": MANAGERS},
    "notice-template-detail": {"get": DESK},
    "notice-template-preview": {"post": MANAGERS},
    # alerts
    "alert-intake": {"post": DESK},
    "alert-batch": {"post": DESK},
    "alert-status": {"get": DESK},  # a sender's own receipts (and any, to those who read receipts)
    "alert-receipt-list": {"get": DESK},
    "alert-receipt-detail": {"get": DESK},
    "alert-rule-list": {"get": DESK, "post": LEADS},
    "alert-rule-detail": {"get": DESK, "put": LEADS, "patch": LEADS, "delete": LEADS},
    # payment data: every desk role posts buckets (a monitoring system, with such a user's token) and reads
    "metrics-buckets": {"post": DESK},
    "segment-list": {"get": DESK},
    "segment-detail": {"get": DESK},
    "segment-series": {"get": DESK},
    "metrics-pull-list": {"get": DESK},
    # partner costs: every desk role reads findings, decides them and runs the checks
    "cost-finding-list": {"get": DESK},
    "cost-finding-detail": {"get": DESK},
    "cost-finding-decide": {"post": DESK},
    "cost-matrix": {"get": DESK},
    "cost-series": {"get": DESK},
    "cost-checks": {"post": DESK},
    # the detector: every desk role reads and triages; leads change its settings and remove windows
    "finding-list": {"get": DESK},
    "finding-detail": {"get": DESK},
    "finding-suppress": {"post": DESK},
    "finding-false-positive": {"post": DESK},
    "finding-open-incident": {"post": DESK},
    "finding-attach": {"post": DESK},
    "monitor-list": {"get": DESK},
    "monitor-detail": {"get": DESK},
    "monitor-summary": {"get": DESK},
    "monitor-settings": {"get": DESK, "patch": LEADS, "put": LEADS},
    "monitor-settings-merchant": {"get": DESK, "patch": LEADS, "put": LEADS, "delete": LEADS},
    "suppression-list": {"get": DESK, "post": DESK},
    "suppression-detail": {"get": DESK, "delete": LEADS},
    # webhooks
    "webhook-subscription-list": {"get": MANAGERS, "post": MANAGERS},
    "webhook-subscription-detail": {"get": MANAGERS, "patch": MANAGERS, "delete": MANAGERS},
    "webhook-subscription-enable": {"post": MANAGERS},
    "webhook-subscription-disable": {"post": MANAGERS},
    "webhook-subscription-ping": {"post": MANAGERS},
    "webhook-subscription-rotate-secret": {"post": MANAGERS},
    "webhook-subscription-secret": {"post": MANAGERS},
    "webhook-delivery-list": {"get": MANAGERS},
    "webhook-delivery-detail": {"get": MANAGERS},
    "webhook-delivery-replay": {"post": MANAGERS},
    # partner costs: every desk role reads, imports and maps; partner managers draft; leads approve and set thresholds
    "rate-card-list": {"get": DESK, "post": MANAGERS},
    "rate-card-detail": {"get": DESK},
    "rate-card-add-rule": {"post": MANAGERS},
    "rate-card-remove-rule": {"post": MANAGERS},
    "rate-card-approve": {"post": LEADS},
    "rate-card-diff": {"get": DESK},
    "rule-match": {"post": DESK},
    "fee-import-list": {"get": DESK, "post": DESK},
    "fee-import-detail": {"get": DESK},
    "fee-import-check": {"post": DESK},
    "fee-import-mapping": {"get": DESK, "put": DESK},
    "cost-thresholds": {"get": DESK, "put": LEADS},
    # costs: billing cases (every desk role opens them and records credit notes)
    "billing-case-list": {"get": DESK, "post": DESK},
    "billing-case-detail": {"get": DESK},
    "billing-case-amend": {"post": DESK},
    "billing-case-credit-notes": {"get": DESK, "post": DESK},
    "billing-case-recovery": {"get": DESK},
}

# An id no row has: the route's permission is checked before its object is looked up, so an
# allowed caller gets 404 and a refused one 403 without the fixture building that object.
MISSING = 987654

# URL kwarg name → its value in the fixture. (url name, kwarg) wins over the kwarg alone.
KWARG_VALUES: dict[str, Callable[[dict], object]] = {
    "reference": lambda w: w["incident"].reference,
    "account_id": lambda w: w["merchant"].account_id,
    "code": lambda w: w["partner"].code,
}
KWARG_VALUES_BY_ENDPOINT: dict[tuple[str, str], Callable[[dict], object]] = {
    ("incident-note-detail", "pk"): lambda w: w["note"].pk,
    ("incident-merchant-detail", "pk"): lambda w: w["affected"].pk,
    ("incident-sample-detail", "pk"): lambda w: MISSING,
    ("incident-account-update", "pk"): lambda w: MISSING,
    ("incident-engagement-detail", "pk"): lambda w: w["engagement"].pk,
    ("incident-decline-code-detail", "pk"): lambda w: w["decline_count"].pk,
    ("incident-rca-detail", "pk"): lambda w: w["rca"].pk,
    ("incident-rca-status", "pk"): lambda w: w["rca"].pk,
    ("incident-action-item-detail", "pk"): lambda w: w["action_item"].pk,
    ("saved-view-detail", "pk"): lambda w: w["saved_view"].pk,
    ("token-detail", "pk"): lambda w: w["token"].pk,
    ("token-revoke", "pk"): lambda w: w["token"].pk,
    ("partner-contact-detail", "pk"): lambda w: w["contact"].pk,
    ("notice-template-detail", "pk"): lambda w: w["notice_template"].pk,
    **{(f"calendar-{name}", "code"): lambda w: w["calendar"].code for name in ("detail", "business-time")},
    **{
        (f"correspondence-{name}", "pk"): lambda w: w["notice"].pk
        for name in (
            *("detail", "submit", "release", "approve", "reject", "send", "retry", "attach"),
            *("confirm", "revoke-ack-link"),
        )
    },
    **{(f"sla-policy-{name}", "pk"): lambda w: MISSING for name in ("detail", "deactivate")},
    ("correspondence-attach-report", "pk"): lambda w: MISSING,  # no PDF made per caller (tests/cases/pir)
    ("alert-receipt-detail", "pk"): lambda w: MISSING,
    ("alert-status", "pk"): lambda w: MISSING,
    ("segment-detail", "pk"): lambda w: MISSING,
    ("segment-series", "pk"): lambda w: MISSING,
    ("alert-rule-detail", "pk"): lambda w: MISSING,
    **{
        (f"finding-{name}", "pk"): lambda w: MISSING
        for name in ("detail", "suppress", "false-positive", "open-incident", "attach")
    },
    **{(f"cost-finding-{name}", "pk"): lambda w: MISSING for name in ("detail", "decide")},
    ("monitor-detail", "pk"): lambda w: MISSING,
    ("suppression-detail", "pk"): lambda w: MISSING,
    **{
        (f"webhook-subscription-{name}", "pk"): lambda w: MISSING
        for name in ("detail", "enable", "disable", "ping", "rotate-secret", "secret")
    },
    **{(f"webhook-delivery-{name}", "pk"): lambda w: MISSING for name in ("detail", "replay")},
    **{
        (f"rate-card-{name}", "pk"): lambda w: MISSING
        for name in ("detail", "add-rule", "remove-rule", "approve", "diff")
    },
    **{(f"fee-import-{name}", "pk"): lambda w: MISSING for name in ("detail", "check")},
    ("fee-import-mapping", "partner_id"): lambda w: MISSING,
    ("fee-import-mapping", "shape"): lambda w: "invoice",
    ("cost-thresholds", "partner_id"): lambda w: MISSING,
    **{(f"billing-case-{name}", "pk"): lambda w: MISSING for name in ("detail", "amend", "credit-notes")},
}

WHO = ("no_role", ANALYST, PARTNER_MANAGER, LEAD)
VIA = ("session", "token")


@dataclass(frozen=True)
class Route:
    name: str  # the url name inside the `api` namespace
    method: str
    kwargs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.name}"


def _methods(callback) -> list[str]:
    """The HTTP methods a route answers: a viewset's action map, else the view's own handlers."""
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(actions)
    view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view is None:
        return ["get"]
    return [m for m in view.http_method_names if m not in ("options", "head", "trace") and hasattr(view, m)]


def api_routes() -> list[Route]:
    routes: dict[tuple[str, str], Route] = {}
    for namespace, pattern, kwargs in url_patterns():
        if namespace != "api":
            continue
        name = pattern.name or f"<unnamed {pattern.pattern}>"
        for method in _methods(pattern.callback):
            routes.setdefault((name, method), Route(name, method, kwargs))
    return sorted(routes.values(), key=lambda r: (r.name, r.method))


ROUTES = api_routes()


def build_world(lead) -> dict:
    """One of each object a route's URL can name, the lead's."""
    from partners.models import BusinessCalendar, NoticeTemplate

    merchant = MerchantFactory(account_id="acct_APIMATRIX01")
    partner = PartnerFactory(code="api-matrix")
    incident = IncidentFactory(title="API matrix incident", owner=lead, created_by=lead)
    engagement = PartnerEngagementFactory(incident=incident, partner=partner)
    from cases.models import ActionItem, IncidentDeclineCode, InvestigationNote, RcaRequest, SavedView

    return {
        "incident": incident,
        "merchant": merchant,
        "partner": partner,
        "contact": PartnerContactFactory(partner=partner),
        "calendar": BusinessCalendar.objects.order_by("pk").first(),
        "notice_template": NoticeTemplate.objects.order_by("pk").first(),
        "notice": notice_compose(incident=incident, actor=lead, kind="breakage").drafts[0],
        "affected": AffectedMerchantFactory(incident=incident, merchant=merchant),
        "engagement": engagement,
        "note": InvestigationNote.objects.create(incident=incident, author=lead, body="A matrix note"),
        "rca": RcaRequest.objects.create(
            incident=incident,
            engagement=engagement,
            requested_at=timezone.now(),
            due_at=timezone.now() + timedelta(days=7),
        ),
        "action_item": ActionItem.objects.create(incident=incident, title="Matrix action"),
        "saved_view": SavedView.objects.create(owner=lead, name="Matrix view", query="status=new"),
        "decline_count": IncidentDeclineCode.objects.create(incident=incident, code="91", count_during=5),
        "token": api_token_create(user=lead, name="matrix fixture token")[0],
    }


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker):
    """The world and each caller's session key and token, built once for this module's walk in
    a transaction rolled back at its end. Each test runs in a savepoint of it (pytest-django's),
    and each request in a savepoint of the test, so every test sees the same world."""
    with django_db_blocker.unblock(), transaction.atomic():
        users = {who: UserFactory(username=name, role=role) for who, (name, role) in DESK_USERS.items()}
        world = build_world(users[LEAD])
        credentials = {}
        for who, user in users.items():
            session = APIClient()
            session.force_login(user)
            credentials[who] = (
                session.cookies[settings.SESSION_COOKIE_NAME].value,
                api_token_create(user=user, name="matrix")[1],
            )
        yield world, credentials
        transaction.set_rollback(True)


@pytest.fixture
def callers(db, matrix_world) -> dict[tuple[str, str], APIClient]:
    """Fresh clients each test (what a response sets on a client stays with that test)."""
    _world, credentials = matrix_world
    clients = {("anonymous", "-"): APIClient()}
    for who in WHO:
        session_key, raw_token = credentials[who]
        session = APIClient()
        session.cookies[settings.SESSION_COOKIE_NAME] = session_key
        clients[(who, "session")] = session
        token = APIClient()
        token.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
        clients[(who, "token")] = token
    return clients


def _url(route: Route, world: dict) -> str:
    return fill_url(
        f"api:{route.name}",
        route.kwargs,
        world,
        by_kwarg=KWARG_VALUES,
        by_endpoint={(f"api:{name}", kwarg): fill for (name, kwarg), fill in KWARG_VALUES_BY_ENDPOINT.items()},
        where="tests/api/test_api_permission_matrix.py (MISSING is fine for a pk)",
    )


def _snapshot() -> dict[str, int]:
    """Row counts of every model of the project's apps: what a refused write must not change."""
    return {
        model._meta.label: model._default_manager.count()
        for app in ("accounts", "cases", "partners", "alerts", "webhooks", "monitoring", "costs")
        if apps.is_installed(app)
        for model in apps.get_app_config(app).get_models()
    }


def _call(client: APIClient, method: str, url: str):
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    return getattr(client, method)(url, {}, format="json")


def test_the_walker_finds_every_api_route_in_the_table():
    missing = sorted({route.name for route in ROUTES} - set(EXPECTED))
    assert not missing, f"API routes without a row in EXPECTED (add who may call them): {missing}"
    assert {"incident-list", "incident-transition", "merchant-detail", "me"} <= {route.name for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_api_permission_matrix(route, matrix_world, callers):
    world, _credentials = matrix_world
    table = EXPECTED.get(route.name)
    if table is None or route.method not in table:
        pytest.fail(
            f"{route} is not in EXPECTED in tests/api/test_api_permission_matrix.py: add "
            f'"{route.name}": {{"{route.method}": DESK | MANAGERS | LEADS | ANY_SIGNED_IN | PUBLIC}}.',
            pytrace=False,
        )
    allowed = table[route.method]
    url = _url(route, world)
    before = _snapshot()
    answers = {}

    for (who, via), client in callers.items():
        with transaction.atomic():
            response = _call(client, route.method, url)
            transaction.set_rollback(True)
        answers[(who, via)] = status = response.status_code
        label = f"{route.method.upper()} {url} as {who} via {via} answered {status}"
        assert status < 500, label
        if allowed == PUBLIC:
            assert status == 200, label
        elif who == "anonymous":
            assert status == 401, label
            assert response.json()["error"]["status"] == 401, label
        elif allowed == ANY_SIGNED_IN or who in allowed:
            assert status not in (401, 403, 405), label
        else:
            assert status == 403, label
            assert response.json()["error"]["code"] in ("permission_denied", "error"), label

    assert _snapshot() == before, f"a refused {route} changed rows: {answers}"
