"""No card number is ever stored: the class of leaks closed, channel by channel.

Each test feeds one Luhn-valid card number, written three ways (`SHAPES`: plain, spaced, dashed),
into every text input of one channel, then reads every text, varchar, array and JSON column of
every table in the database (from information_schema, so a new column is read the day it is
added) for any of the three: there must be none, and a failure names the table and the column.

The inputs come from the project itself, not from a hand-kept list:
- pages: every form of every page of the desk, found in the HTML the desk serves (the URL
  walker of the permission matrix opens each page), each text input filled in turn;
- the admin: every form of every model's add and change page, inlines included, and every list's
  search;
- the API: every string property of every request body and every string query parameter of the
  OpenAPI schema PayHealth publishes;
- inbound mail: the `receive_mail` command, the gateway endpoint and the mailbox poller, with the
  number in the subject, both bodies, the sender, a copy address, the Message-ID and an
  attachment's name;
- alerts: every string field of the alert payload.

Typed input must answer the card-number error (never a 5xx), without the number in the page,
the API's answer or a redirect; what machines send is stored masked, and the masking is noted on
the incident's timeline.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import unquote_plus, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.forms import BaseForm
from django.forms.formsets import BaseFormSet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.test import APIClient

from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.payload import AlertPayloadSerializer
from cases.correspondence.compose import notice_compose
from cases.correspondence.dispatch import notice_submit
from cases.correspondence.inbound import store as inbound_store
from cases.models import ActionItem, CaseEvent, Correspondence, RcaRequest, SlaPolicy
from partners.models import NoticeTemplate
from payhealth.pan import CARD_NUMBER_CODE, CARD_NUMBER_MESSAGE, contains_card_number
from tests.alerts.conftest import alert_payload
from tests.api.test_api_permission_matrix import ROUTES
from tests.cases.correspondence.test_inbound import FakeMailbox, raw_mail
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    WebhookSubscriptionFactory,
)
from tests.test_permission_matrix import PEOPLE_ENDPOINTS, world  # noqa: F401 - a fixture
from tests.test_permission_matrix import _url as page_url
from tests.urlwalk import fill_url
from webhooks.models import EventType

PAN = "4532015112830366"  # Visa, Luhn-valid
SHAPES = (PAN, "4532 0151 1283 0366", "4532-0151-1283-0366")
MESSAGE = str(CARD_NUMBER_MESSAGE)
OUR_APPS = ("accounts", "partners", "cases", "alerts", "webhooks")
User = get_user_model()


# --- the database ----------------------------------------------------------------------------------


def card_numbers_in_the_database() -> list[str]:
    """'table.column: n rows' for every text, varchar, array or JSON column holding a shape of PAN."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name
            FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
                   OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar', '_bpchar')))
            ORDER BY c.table_name, c.column_name
            """
        )
        columns = cursor.fetchall()
        assert len(columns) > 100, "information_schema lists the project's columns"
        hits = []
        for table, rows in itertools.groupby(columns, key=lambda row: row[0]):
            names = [column for _table, column in rows]
            counts = ", ".join(f'count(*) FILTER (WHERE "{name}"::text LIKE ANY(%s))' for name in names)
            cursor.execute(f'SELECT {counts} FROM "{table}"', [[f"%{shape}%" for shape in SHAPES]] * len(names))
            hits += [f"{table}.{name}: {n} rows" for name, n in zip(names, cursor.fetchone(), strict=True) if n]
    return hits


def assert_no_card_number_stored() -> None:
    hits = card_numbers_in_the_database()
    assert hits == [], "card numbers stored in: " + "; ".join(hits)


def assert_not_echoed(response, what: str) -> None:
    body = response.content.decode(errors="replace")
    location = unquote_plus(response.get("Location", "") or response.get("HX-Push-Url", "") or "")
    for shape in SHAPES:
        assert shape not in body, f"{what}: the answer shows the card number"
        assert shape not in location, f"{what}: the answer's address carries the card number"


def test_the_scan_finds_a_card_number_wherever_it_is(db):
    """The scan itself can fail: a card number written around the guards is found, table and column."""
    PartnerFactory(code="scan")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE partners_partner SET notes = %s WHERE code = 'scan'", [f"x {SHAPES[1]} y"])
        cursor.execute(
            "UPDATE django_content_type SET model = %s WHERE id = (SELECT min(id) FROM django_content_type)",
            [SHAPES[2]],
        )
    assert card_numbers_in_the_database() == ["django_content_type.model: 1 rows", "partners_partner.notes: 1 rows"]


# --- forms in HTML ---------------------------------------------------------------------------------

TEXT_INPUTS = {"text", "search", "email", "url", "tel", "hidden"}
# The CSRF token, and `next`: the address the page itself wrote for Django's language switch to
# go back to (a redirect, nothing stored).
UNTOUCHED = {"csrfmiddlewaretoken", "next"}
# The counters of a formset's management form (the admin's inlines): numbers the page wrote.
COUNTERS = re.compile(r"-(TOTAL|INITIAL|MIN_NUM|MAX_NUM)_FORMS$")
# What a browser user would type where a required text field is empty, so that the card number
# in another field is the only thing the form can refuse.
FILLERS = {"email": "ops@bank.test", "url": "https://hooks.bank.test/payhealth"}


class PageForms(HTMLParser):
    """Every <form> of a page with what a browser would submit: its inputs (those tied to it with
    `form="…"` too), textareas, selects (the selected or first option) and its first named button."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._by_id: dict[str, dict] = {}
        self._open: dict | None = None
        self._textarea: tuple[dict, str] | None = None
        self._select: dict | None = None
        self._late: list[tuple[str, tuple]] = []

    def _owner(self, attrs) -> dict | None:
        if attrs.get("form"):
            return self._by_id.get(attrs["form"]) or {"late": attrs["form"]}
        return self._open

    def _add(self, form, field):
        if form is None:
            return
        if "late" in form:
            self._late.append((form["late"], field))
        else:
            form["fields"].append(field)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            method = (attrs.get("method") or ("post" if attrs.get("hx-post") else "get")).lower()
            action = attrs.get("action") or attrs.get("hx-post") or attrs.get("hx-get") or ""
            self._open = {"method": method, "action": action, "fields": []}
            self.forms.append(self._open)
            if attrs.get("id"):
                self._by_id[attrs["id"]] = self._open
            return
        if tag == "option" and self._select is not None:
            self._select["options"].append((attrs.get("value", ""), "selected" in attrs))
            return
        name = attrs.get("name")
        if not name or "disabled" in attrs:
            return
        form = self._owner(attrs)
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self._add(form, (name, "choice", attrs.get("value", "on"), False))
            elif kind not in ("submit", "button", "image", "reset", "file", "password"):
                self._add(form, (name, kind, attrs.get("value", ""), "required" in attrs))
        elif tag == "button" and (attrs.get("type") or "submit") == "submit":
            if form is not None and not any(f[1] == "button" for f in form.get("fields", [])):
                self._add(form, (name, "button", attrs.get("value", ""), False))
        elif tag == "textarea":
            self._textarea = (form, name, "required" in attrs)
            self._add(form, (name, "textarea", "", "required" in attrs))
        elif tag == "select":
            self._select = {"form": form, "name": name, "multiple": "multiple" in attrs, "options": []}

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            select, self._select = self._select, None
            chosen = [value for value, selected in select["options"] if selected]
            if not chosen and not select["multiple"] and select["options"]:
                chosen = [select["options"][0][0]]  # a browser submits the first option
            for value in chosen:
                self._add(select["form"], (select["name"], "choice", value, False))

    def handle_data(self, data):
        if self._textarea is not None:
            form, name, required = self._textarea
            fields = form["fields"] if form and "fields" in form else []
            for index, field in enumerate(fields):
                if field[0] == name and field[1] == "textarea":
                    fields[index] = (name, "textarea", field[2] + data, required)

    def close(self):
        super().close()
        for form_id, field in self._late:
            if form_id in self._by_id:
                self._by_id[form_id]["fields"].append(field)


def page_forms(html: str) -> list[dict]:
    parser = PageForms()
    parser.feed(html)
    parser.close()
    return parser.forms


def _bound_forms(response) -> list[BaseForm]:
    """The bound forms a response rendered: forms, formsets, FilterSets and the admin's wrappers."""
    found: list[BaseForm] = []

    def visit(value, depth=0):
        if isinstance(value, BaseForm):
            if value.is_bound and value not in found:
                found.append(value)
        elif isinstance(value, BaseFormSet):
            for form in value.forms:
                visit(form)
        elif depth < 2:
            for attribute in ("form", "formset", "filterset", "forms"):
                inner = getattr(value, attribute, None)
                if isinstance(inner, list | tuple):
                    for item in inner:
                        visit(item, depth + 1)
                elif inner is not None and not callable(inner):
                    visit(inner, depth + 1)
            if isinstance(value, list | tuple):
                for item in value:
                    visit(item, depth + 1)

    for context in response.context or []:
        for layer in getattr(context, "dicts", [context]):
            for value in layer.values() if isinstance(layer, dict) else []:
                visit(value)
    return found


def submit_with_card_numbers(client, form: dict, page: str, shape: str) -> tuple[object, list[str]]:
    """Submit `form` as a browser would, with `shape` in every text input and textarea (required
    empty ones otherwise get a plausible value); returns the answer and the inputs that got it."""
    data: dict[str, list[str]] = {}
    fed = []
    for name, kind, value, required in form["fields"]:
        if kind in TEXT_INPUTS | {"textarea"} and name not in UNTOUCHED and not COUNTERS.search(name):
            value = f"{value or FILLERS.get(kind, 'Texto de prueba')} {shape}".strip() if kind != "hidden" else shape
            fed.append(name)
        elif required and not value:
            value = FILLERS.get(kind, "1")
        data.setdefault(name, []).append(value)
    url = form["action"] or page
    response = client.get(url, data) if form["method"] == "get" else client.post(url, data)
    return response, fed


def check_refused(response, fed: list[str], what: str) -> None:
    assert response.status_code < 500, f"{what} answered {response.status_code}"
    assert_not_echoed(response, what)
    for form in _bound_forms(response):
        for name in form.fields:
            if form.add_prefix(name) in fed and form.errors:
                assert form.has_error(name, CARD_NUMBER_CODE), f"{what}: {name} took a card number: {form.errors}"


def text_forms(html: str) -> list[dict]:
    return [
        form
        for form in page_forms(html)
        if any(kind in TEXT_INPUTS | {"textarea"} and name not in UNTOUCHED for name, kind, *_ in form["fields"])
    ]


def _signature(form: dict, page: str) -> tuple:
    return (form["method"], form["action"] or page, tuple(sorted(name for name, *_ in form["fields"])))


def test_every_form_of_every_page_refuses_a_card_number(client, lead, analyst, world):  # noqa: F811 - the fixture
    # A SEV2 notice of someone else's waiting for the lead: the approvals page shows its decision forms.
    engagement = PartnerEngagementFactory(incident=IncidentFactory(severity="sev2"), partner=world["partner"])
    pending = notice_compose(incident=engagement.incident, actor=analyst, kind="breakage").drafts[0]
    notice_submit(correspondence=pending, actor=analyst)
    client.force_login(lead)
    seen, submitted = set(), 0
    for endpoint in PEOPLE_ENDPOINTS:
        url = page_url(endpoint, world)
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        for form in text_forms(response.content.decode()):
            signature = _signature(form, url)
            if signature in seen:
                continue
            seen.add(signature)
            for shape in SHAPES:
                answer, fed = submit_with_card_numbers(client, form, url, shape)
                check_refused(answer, fed, f"{form['method'].upper()} {form['action'] or url} from {url}")
                submitted += 1
    assert len(seen) >= 28, f"only {len(seen)} forms with text inputs: did the walker find the desk's forms?"
    actions = {action for _method, action, _names in seen}
    assert {f"/notices/{pending.pk}/approve/", "/incidents/", "/incidents/new/", "/accounts/tokens/"} <= actions
    assert_no_card_number_stored()


# --- the admin ---------------------------------------------------------------------------------------


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@payhealth.test", "secret-pass-123")


def test_every_admin_form_and_search_refuses_a_card_number(client, superuser, world):  # noqa: F811 - the fixture
    client.force_login(superuser)
    ours = [model for model in admin.site._registry if model._meta.app_label in OUR_APPS] + [User]
    pages = 0
    for model in ours:
        model_admin = admin.site._registry[model]
        urls = [_admin_url(model, "add")]
        row = model._default_manager.order_by("pk").first()
        if row is not None:
            urls.append(_admin_url(model, "change", row.pk))
        for url in urls:
            response = client.get(url)
            if response.status_code != 200:
                continue
            pages += 1
            forms = [form for form in text_forms(response.content.decode()) if form["method"] == "post"]
            for form in forms:
                for shape in SHAPES:
                    answer, fed = submit_with_card_numbers(client, form, url, shape)
                    check_refused(answer, fed, f"POST {url}")
        if model_admin.search_fields:
            changelist = _admin_url(model, "changelist")
            for shape in SHAPES:
                response = client.get(changelist, {"q": shape})
                assert response.status_code == 302, changelist
                assert_not_echoed(client.get(response["Location"]), f"search of {changelist}")
    assert pages >= 20
    assert_no_card_number_stored()


# --- the API -------------------------------------------------------------------------------------------


@pytest.fixture
def api_world(world, lead):  # noqa: F811 - the fixture
    webhook = WebhookSubscriptionFactory(owner=lead, events=list(EventType.values))
    return {
        **world,
        "contact": PartnerContactFactory(partner=world["partner"]),
        "notice_template": NoticeTemplate.objects.order_by("pk").first(),
        "sla_policy": SlaPolicy.objects.get(severity="sev1", partner_kind=""),
        "alert_rule": AlertSeverityRule.objects.get(priority=100),
        "billing_case": _billing_case(world),
        "webhook": webhook,
        "webhook_delivery": webhook.deliveries.create(
            event_type="ping", event_id="00000000-0000-4000-8000-000000000002", payload={"type": "ping"}
        ),
        "rate_card": world["fee_rule"].rate_card,
        "action_item": ActionItem.objects.create(incident=world["incident"], title="Revisar el enlace"),
        "rca": RcaRequest.objects.create(
            incident=world["incident"],
            engagement=world["engagement"],
            requested_at=timezone.now(),
            due_at=timezone.now() + timedelta(days=7),
        ),
    }


def _billing_case(objects: dict):
    from costs.models import BillingCase

    return BillingCase.objects.create(
        incident=IncidentFactory(title="Billing case", category="cost_rate"),
        partner=objects["partner"],
        period="2026-06-01",
        amount_disputed=Decimal("100.00"),
        dispute_deadline="2026-08-29",
    )


API_KWARGS = {
    "reference": lambda w: w["incident"].reference,
    "account_id": lambda w: w["merchant"].account_id,
    "code": lambda w: w["partner"].code,
    "partner_id": lambda w: w["partner"].pk,
    "shape": lambda w: "invoice",
    # Reads without text parameters need no row; a write whose object is missing answers 404 and
    # fails below until API_KWARGS_BY_ROUTE names its object.
    "pk": lambda w: 987654,
}
API_KWARGS_BY_ROUTE = {
    "incident-note-detail": "note",
    "incident-merchant-detail": "affected",
    "incident-account-update": "affected",
    "incident-engagement-detail": "engagement",
    "saved-view-detail": "saved_view",
    "incident-action-item-detail": "action_item",
    **{f"incident-rca-{name}": "rca" for name in ("detail", "status")},
    "partner-contact-detail": "contact",
    "notice-template-detail": "notice_template",
    "sla-policy-detail": "sla_policy",
    "sla-policy-deactivate": "sla_policy",
    "alert-rule-detail": "alert_rule",
    **{
        f"webhook-subscription-{name}": "webhook"
        for name in ("detail", "enable", "disable", "ping", "rotate-secret", "secret")
    },
    **{f"webhook-delivery-{name}": "webhook_delivery" for name in ("detail", "replay")},
    **{
        f"correspondence-{name}": "notice"
        for name in ("detail", "submit", "release", "approve", "reject", "send", "retry")
    },
    "correspondence-attach": "reply",
    **{f"finding-{name}": "finding" for name in ("detail", "suppress", "false-positive", "open-incident", "attach")},
    "suppression-detail": "suppression",
    **{f"cost-finding-{name}": "cost_finding" for name in ("detail", "decide")},
    **{f"rate-card-{name}": "rate_card" for name in ("detail", "add-rule", "remove-rule", "approve", "diff")},
    **{f"fee-import-{name}": "fee_import" for name in ("detail", "check")},
    **{f"billing-case-{name}": "billing_case" for name in ("detail", "amend", "credit-notes")},
}


def _api_url(route, objects: dict) -> str:
    by_endpoint = {(f"api:{name}", "pk"): (lambda w, key=key: w[key].pk) for name, key in API_KWARGS_BY_ROUTE.items()}
    by_endpoint |= {
        ("api:calendar-detail", "code"): lambda w: "mx-banking",
        ("api:calendar-business-time", "code"): lambda w: "mx-banking",
    }
    return fill_url(
        f"api:{route.name}", route.kwargs, objects, by_kwarg=API_KWARGS, by_endpoint=by_endpoint, where=__file__
    )


def _schema_operation(schema: dict, path: str, method: str) -> dict | None:
    for template, operations in schema["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in operations:
            return operations[method]
    return None


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            merged: dict = {"properties": {}}
            for part in node[key]:
                part = _resolve(schema, part)
                merged["properties"].update(part.get("properties", {}))
                if part.get("type") == "string":
                    return part
            return merged
    return node


def string_paths(schema: dict, node: dict, path: tuple = ()) -> list[tuple]:
    """Every place a string goes in a request body: ("title",), ("segment", "merchant"),
    ("bin_prefixes", 0), ("decline_codes", 0, "code")."""
    node = _resolve(schema, node)
    if node.get("readOnly"):
        return []
    if node.get("type") == "string" and node.get("format") not in ("date", "date-time", "time", "binary"):
        return [path]
    if node.get("type") == "array":
        return string_paths(schema, node.get("items", {}), (*path, 0))
    paths = []
    for name, inner in node.get("properties", {}).items():
        paths += string_paths(schema, inner, (*path, name))
    return paths


def body_with(path: tuple, value: str):
    if not path:
        return value
    head, rest = path[0], path[1:]
    return [body_with(rest, value)] if head == 0 else {head: body_with(rest, value)}


def error_key(path: tuple) -> str:
    """Where the API names the refusal: the dotted path down to the first list."""
    names = []
    for part in path:
        if part == 0:
            break
        names.append(part)
    return ".".join(names)


def test_every_api_input_refuses_a_card_number(lead, api_world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    client = APIClient()
    client.force_login(lead)
    fed = 0
    for route in ROUTES:
        if route.name in ("schema", "swagger", "redoc"):
            continue
        url = _api_url(route, api_world)
        operation = _schema_operation(schema, urlsplit(url).path, route.method)
        assert operation is not None, f"{route} is missing from the schema"
        if route.method == "get":
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query" or parameter.get("schema", {}).get("type") != "string":
                    continue
                if parameter["name"] == "cursor":  # the paging token PayHealth wrote: decoded, never kept
                    continue
                for shape in SHAPES:
                    response = client.get(url, {parameter["name"]: shape})
                    what = f"GET {url}?{parameter['name']}="
                    assert response.status_code < 500, what
                    assert_not_echoed(response, what)  # a choice's own error, or the card-number one
                    if route.name == "incident-list" and parameter["name"] == "q":
                        assert response.json()["error"]["fields"] == {"q": [MESSAGE]}, what
                    fed += 1
            continue
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            continue
        for path in string_paths(schema, content["schema"]):
            for shape in SHAPES:
                response = getattr(client, route.method)(url, body_with(path, shape), format="json")
                what = f"{route.method.upper()} {url} with {'.'.join(map(str, path))}"
                assert response.status_code < 500, what
                assert_not_echoed(response, what)
                if route.name not in ("alert-intake", "alert-batch"):  # monitoring's text is masked: below
                    assert response.status_code == 400, f"{what} answered {response.status_code}"
                    assert response.json()["error"]["fields"].get(error_key(path)) == [MESSAGE], (what, response.json())
                fed += 1
    assert fed >= 3 * 60, f"only {fed} inputs fed: did the walker read the schema?"
    assert_no_card_number_stored()


# --- monitoring's alerts --------------------------------------------------------------------------


def _serializer_string_paths(serializer, path: tuple = ()) -> list[tuple]:
    paths = []
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.Serializer):
            paths += _serializer_string_paths(field.child, (*path, name, 0))
        elif isinstance(field, serializers.Serializer):
            paths += _serializer_string_paths(field, (*path, name))
        elif isinstance(field, serializers.CharField | serializers.ChoiceField | serializers.DateTimeField):
            paths.append((*path, name))
    return paths


def _with(payload: dict, path: tuple, value: str) -> dict:
    target = payload
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return payload


def test_every_alert_field_refuses_or_masks_a_card_number(lead):
    MerchantFactory(account_id="acct_ALERTS0001", name="Tienda Norte")
    PartnerFactory(code="prosa", name="Prosa", kind="switch")
    PartnerFactory(code="banco-norte", name="Banco Norte", kind="issuer")
    WebhookSubscriptionFactory(owner=lead, events=list(EventType.values))
    client = APIClient()
    client.force_login(lead)
    paths = _serializer_string_paths(AlertPayloadSerializer())
    assert ("segment", "bin_prefix") in paths and ("decline_codes", 0, "code") in paths and ("source",) in paths
    stored = 0
    for number, (path, shape) in enumerate(itertools.product(paths, SHAPES)):
        # Appended to the field's usual value: the number is what the alert would carry by mistake.
        payload = alert_payload(
            title="Caída de aprobación", severity_hint="", volume_at_risk={"amount": 25000, "currency": "MXN"}
        )
        usual = payload
        for part in path:
            usual = usual[part]
        payload = _with(payload, path, f"{usual if isinstance(usual, str) else ''} {shape}".strip())
        response = client.post(
            reverse("api:alert-intake") + "?wait=true", payload, format="json", HTTP_IDEMPOTENCY_KEY=f"k{number}"
        )
        what = f"alert with {'.'.join(map(str, path))}"
        assert response.status_code < 500, what
        assert_not_echoed(response, what)
        if path in (("title",), ("segment", "bin_prefix")):
            assert response.json()["error"]["fields"][".".join(path)] == [MESSAGE], what
        elif response.status_code in (200, 201):
            stored += 1
    key = client.post(reverse("api:alert-intake"), alert_payload(), format="json", HTTP_IDEMPOTENCY_KEY=SHAPES[1])
    assert key.status_code == 400 and key.json()["error"]["fields"] == {"Idempotency-Key": [MESSAGE]}
    # A batch: the same rules alert by alert (refused in the title, the BIN prefix and the key).
    batch = {
        "alerts": [
            {"idempotency_key": "b1", "alert": alert_payload(title=f"Caída {SHAPES[0]}")},
            {"idempotency_key": "b2", "alert": alert_payload(segment={"bin_prefix": SHAPES[1]})},
            {"idempotency_key": SHAPES[2], "alert": alert_payload()},
            {"idempotency_key": "b4", "alert": alert_payload(source=f"grafana {SHAPES[0]}")},
        ]
    }
    answer = client.post(reverse("api:alert-batch"), batch, format="json")
    assert_not_echoed(answer, "a batch of alerts")
    results = answer.json()["results"]
    assert [result["status"] for result in results] == [400, 400, 400, 202], results
    assert [result["error"]["fields"] for result in results[:3]] == [
        {"title": [MESSAGE]},
        {"segment.bin_prefix": [MESSAGE]},
        {"idempotency_key": [MESSAGE]},
    ]
    assert AlertReceipt.objects.get(idempotency_key="b4").masked_card_numbers == 1
    assert stored >= 3 * 2, "masked text must be stored: the source and the decline codes at least"
    masked = CaseEvent.objects.filter(kind=CaseEvent.Kind.CARD_NUMBERS_MASKED)
    assert masked.count() == stored and all(event.data["origin"] == "alert" for event in masked)
    assert_no_card_number_stored()


# --- inbound mail -----------------------------------------------------------------------------------


def test_every_inbound_channel_masks_card_numbers_and_says_so(client, settings, monkeypatch, tmp_path, lead):
    incident = AffectedMerchantFactory().incident
    partner = PartnerFactory(code="bbva-mx", name="BBVA México")
    PartnerContactFactory(partner=partner, email="ops@bbva.test")
    PartnerEngagementFactory(incident=incident, partner=partner)
    WebhookSubscriptionFactory(owner=lead, events=list(EventType.values))

    def mail(shape: str, n: int) -> bytes:
        return raw_mail(
            subject=f"RE: [{incident.reference}] tarjeta {shape}",
            sender=f"Ops {shape} <ops@bbva.test>",
            message_id=f"<{PAN}.{n}@bbva.test>",
            text=f"El cliente pagó con {shape}, folio 4821.",
            html=f"<p>Tarjeta <b>{shape}</b></p><a href='https://bbva.test/?pan={shape}'>ver</a>",
            headers={"Cc": f"{PAN}@bbva.test"},
            attachments=[(f"voucher {shape}.txt", "text/plain", b"4821")],
        )

    # The command, from a file.
    eml = tmp_path / "reply.eml"
    eml.write_bytes(mail(SHAPES[0], 1))
    call_command("receive_mail", str(eml), stdout=open(tmp_path / "out.txt", "w"))  # noqa: SIM115 - closed by the test's end
    assert not contains_card_number((tmp_path / "out.txt").read_text())
    # The mail gateway's endpoint.
    settings.PAYHEALTH_INBOUND_TOKEN = "gateway-secret-0123456789"
    response = client.post(
        reverse("cases:inbound_raw"),
        data=mail(SHAPES[1], 2),
        content_type="message/rfc822",
        HTTP_AUTHORIZATION="Bearer gateway-secret-0123456789",
    )
    assert response.status_code == 201
    assert_not_echoed(response, "the gateway")
    # The mailbox poller.
    settings.INBOUND_IMAP_URL = "imaps://desk%40ops.test:secret@imap.ops.test/INBOX"
    FakeMailbox.instances, FakeMailbox.messages = [], {7: mail(SHAPES[2], 3)}
    monkeypatch.setattr(inbound_store, "IMAPClient", FakeMailbox)
    assert inbound_store.inbound_poll_mailbox().stored == 1

    replies = Correspondence.objects.filter(direction="in").order_by("pk")
    assert [reply.incident_id for reply in replies] == [incident.pk] * 3
    assert all(reply.masked_card_numbers >= 8 for reply in replies)
    assert "411111" not in replies[0].subject and "453201******0366" in replies[0].subject
    noted = CaseEvent.objects.filter(incident=incident, kind=CaseEvent.Kind.CARD_NUMBERS_MASKED).order_by("pk")
    assert [(event.data["origin"], event.data["correspondence"]) for event in noted] == [
        ("mail", r.pk) for r in replies
    ]
    assert_no_card_number_stored()
