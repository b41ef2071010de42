"""Billing cases over the API: list and read, open from finding ids, amend, credit notes, the
recovered-amount report; permissions and hostile input."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cases.models import CaseEvent
from costs.billing import billing_case_open, credit_note_record
from costs.models import BillingCase
from tests.api.helpers import session_client, token_client
from tests.costs.test_billing import finding, reader  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
BASE = "/api/v1/billing-cases/"


def test_open_from_finding_ids_read_and_list_with_filters(acquirer, make_partner, analyst):
    first, second = finding(acquirer, "1200.50"), finding(acquirer, "300.25")
    api = token_client(analyst)

    created = api.post(BASE, {"findings": [first.pk, second.pk], "dispute_deadline": "2026-09-01"}, format="json")

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["amount_disputed"] == "1500.75" and body["credited"] == "0.00" and body["open_balance"] == "1500.75"
    assert body["partner"] == "adquirente-mx" and body["dispute_deadline"] == "2026-09-01"
    assert sorted(f["id"] for f in body["findings"]) == sorted([first.pk, second.pk])
    shown = {f["id"]: f["explanation"] for f in body["findings"]}
    assert shown == {row.pk: row.explanation() for row in (first, second)}
    assert "billed Interchange" in shown[first.pk]
    other = make_partner()
    billing_case_open(findings=[finding(other, "10.00", period=date(2026, 7, 1))], actor=analyst)

    assert len(api.get(BASE).json()["results"]) == 2
    assert [c["id"] for c in api.get(BASE, {"partner": "adquirente-mx"}).json()["results"]] == [body["id"]]
    assert [c["partner"] for c in api.get(BASE, {"period": "2026-07-01"}).json()["results"]] == [other.code]
    assert len(api.get(BASE, {"open": "true"}).json()["results"]) == 2
    assert api.get(BASE, {"open": "false"}).json()["results"] == []
    assert api.get(f"{BASE}{body['id']}/").json()["incident"] == body["incident"]


def test_amend_and_credit_notes_with_exact_figures(acquirer, analyst):
    case = billing_case_open(findings=[finding(acquirer, "1000.00")], actor=analyst)
    api = session_client(analyst)

    amended = api.post(f"{BASE}{case.pk}/amend/", {"amount_disputed": "900.10"}, format="json")
    noted = api.post(
        f"{BASE}{case.pk}/credit-notes/",
        {"reference": "NC-1", "amount": "400.05", "issued_on": "2026-08-01"},
        format="json",
    )
    listed = api.get(f"{BASE}{case.pk}/credit-notes/")
    read = api.get(f"{BASE}{case.pk}/")

    assert amended.status_code == 200 and amended.json()["amount_disputed"] == "900.10"
    assert noted.status_code == 201 and noted.json()["amount"] == "400.05" and noted.json()["currency"] == "MXN"
    assert [n["reference"] for n in listed.json()] == ["NC-1"]
    assert read.json()["credited"] == "400.05" and read.json()["open_balance"] == "500.05"
    assert CaseEvent.objects.filter(incident=case.incident, kind="billing_case_amended", actor=analyst).count() == 1


def test_the_recovery_report_as_json(acquirer, analyst):
    case = billing_case_open(findings=[finding(acquirer, "1000.00")], actor=analyst)
    credit_note_record(billing_case=case, reference="A", amount="250.50", issued_on=date(2026, 8, 1), actor=analyst)
    api = token_client(analyst)

    body = api.get(f"{BASE}recovery/", {"start": "2026-01", "end": "2026-12", "partner": "adquirente-mx"}).json()

    assert body["start"] == "2026-01-01" and body["end"] == "2026-12-01"
    assert [(r["period"], r["overbilled"], r["recovered"], r["open_balance"]) for r in body["rows"]] == [
        ("2026-06-01", "1000.00", "250.50", "749.50")
    ]


def test_users_without_the_permission_get_403(acquirer, analyst, reader, outsider):  # noqa: F811
    case = billing_case_open(findings=[finding(acquirer, "1000.00")], actor=analyst)
    mine = finding(acquirer, "5.00")
    api = token_client(reader)
    assert api.get(BASE).status_code == 200  # reading is every desk role's
    assert api.post(BASE, {"findings": [mine.pk]}, format="json").status_code == 403
    assert api.post(f"{BASE}{case.pk}/amend/", {"amount_disputed": "1"}, format="json").status_code == 403
    note = {"reference": "X", "amount": "1", "issued_on": "2026-08-01"}
    assert api.post(f"{BASE}{case.pk}/credit-notes/", note, format="json").status_code == 403
    outside = token_client(outsider)
    for url in (BASE, f"{BASE}{case.pk}/", f"{BASE}{case.pk}/credit-notes/", f"{BASE}recovery/"):
        assert outside.get(url).status_code == 403
    assert BillingCase.objects.count() == 1 and not case.credit_notes.exists()


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("", {"findings": ["abc"]}, "findings"),
        ("", {"findings": []}, "findings"),
        ("", {"findings": [9223372036854775807]}, "findings"),
        ("", {"findings": "1"}, "findings"),
        ("", {"findings": [1], "dispute_deadline": "tomorrow"}, "dispute_deadline"),
        ("amend/", {}, "amount_disputed"),
        ("amend/", {"amount_disputed": "-1"}, "amount_disputed"),
        ("amend/", {"amount_disputed": "1e40"}, "amount_disputed"),
        ("amend/", {"dispute_deadline": "2001-01-01"}, "dispute_deadline"),
        ("credit-notes/", {"reference": "A", "amount": "0", "issued_on": "2026-08-01"}, "amount"),
        ("credit-notes/", {"reference": "A", "amount": "NaN", "issued_on": "2026-08-01"}, "amount"),
        ("credit-notes/", {"reference": "4111111111111111", "amount": "1", "issued_on": "2026-08-01"}, "reference"),
        ("credit-notes/", {"reference": "A", "amount": "1", "issued_on": "2026-02-30"}, "issued_on"),
    ],
)
def test_hostile_input_is_a_400_naming_the_field(acquirer, analyst, url, body, field):
    case = billing_case_open(findings=[finding(acquirer, "1000.00")], actor=analyst)
    api = token_client(analyst)
    target = f"{BASE}{case.pk}/{url}" if url else BASE

    response = api.post(target, body, format="json")

    assert response.status_code == 400, response.content
    assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()
    assert not case.credit_notes.exists()


@pytest.mark.parametrize("query", [{"start": "2026-13"}, {"start": "2026-07", "end": "2026-01"}, {"partner": "nope"}])
def test_a_bad_report_query_is_a_400(analyst, query):
    assert token_client(analyst).get(f"{BASE}recovery/", query).status_code == 400


def test_amounts_stay_exact_decimals(acquirer, analyst):
    case = billing_case_open(findings=[finding(acquirer, "0.10"), finding(acquirer, "0.20")], actor=analyst)

    assert case.amount_disputed == Decimal("0.30")
