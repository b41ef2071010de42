"""Merchants, response codes and saved views over the API."""

from __future__ import annotations

from django.urls import reverse

from cases.models import Merchant, SavedView
from cases.services import saved_view_create
from tests.api.helpers import token_client
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory

MERCHANTS = reverse("api:merchant-list")


def test_merchants_search_by_name_or_account_id_with_counts(analyst):
    sol = MerchantFactory(name="Tienda Sol", account_id="acct_SOL0000001")
    MerchantFactory(name="Luna Market", account_id="acct_LUNA000001")
    AffectedMerchantFactory(merchant=sol, incident=IncidentFactory(status="investigating"))
    client = token_client(analyst)

    by_name = client.get(MERCHANTS, {"q": "sol"})
    by_account = client.get(MERCHANTS, {"q": "LUNA0"})
    one = client.get(reverse("api:merchant-detail", args=["acct_SOL0000001"]))

    assert [row["name"] for row in by_name.json()["results"]] == ["Tienda Sol"]
    assert [row["account_id"] for row in by_account.json()["results"]] == ["acct_LUNA000001"]
    assert one.status_code == 200
    assert one.json()["open_incidents"] == 1 and one.json()["recent_incidents"] == 1


def test_an_analyst_adds_and_corrects_a_merchant(analyst):
    client = token_client(analyst)

    created = client.post(
        MERCHANTS,
        {"account_id": "acct_NEWMERCH01", "name": "Nueva Tienda", "country": "mx", "mcc": "5411"},
        format="json",
    )
    duplicate = client.post(
        MERCHANTS, {"account_id": "acct_NEWMERCH01", "name": "Again", "country": "MX", "mcc": "5411"}, format="json"
    )
    bad_mcc = client.patch(reverse("api:merchant-detail", args=["acct_NEWMERCH01"]), {"mcc": "54"}, format="json")
    renamed = client.patch(
        reverse("api:merchant-detail", args=["acct_NEWMERCH01"]), {"name": "Tienda Renovada"}, format="json"
    )

    assert created.status_code == 201, created.json()
    assert created.json()["country"] == "MX" and created.json()["open_incidents"] == 0
    assert duplicate.status_code == 400
    assert list(duplicate.json()["error"]["fields"]) == ["account_id"]
    assert bad_mcc.status_code == 400
    assert bad_mcc.json()["error"]["fields"]["mcc"] == ["An MCC has four digits."]
    assert renamed.status_code == 200 and renamed.json()["name"] == "Tienda Renovada"
    assert Merchant.objects.get(account_id="acct_NEWMERCH01").mcc == "5411"


def test_response_codes_filter_by_scheme_and_code(analyst):
    response = token_client(analyst).get(reverse("api:response-code-list"), {"scheme": "iso8583", "code": "05"})

    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 1
    assert rows[0]["scheme"] == "iso8583" and rows[0]["code"] == "05"


def test_saved_views_are_private_to_their_owner(analyst, lead):
    theirs = saved_view_create(owner=lead, name="Lead's view", query="severity=sev1")
    client = token_client(analyst)

    created = client.post(
        reverse("api:saved-view-list"), {"name": "My SEV1", "query": "?severity=sev1&page=3&junk=1"}, format="json"
    )
    listed = client.get(reverse("api:saved-view-list"))
    delete_theirs = client.delete(reverse("api:saved-view-detail", args=[theirs.pk]))
    delete_mine = client.delete(reverse("api:saved-view-detail", args=[created.json()["id"]]))

    assert created.status_code == 201
    assert created.json()["query"] == "severity=sev1"
    assert [view["name"] for view in listed.json()] == ["My SEV1"]
    assert delete_theirs.status_code == 404
    assert delete_mine.status_code == 204
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Lead's view"]
