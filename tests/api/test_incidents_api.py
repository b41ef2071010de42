"""The incidents API: the queue's filters and search, cursor pages, detail, create, details,
transitions, severity, owner, bulk, and the timeline every write leaves behind."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import CaseEvent, Incident
from cases.services import engagement_add, incident_transition, note_add
from payhealth.pan import CARD_NUMBER_MESSAGE
from tests.api.helpers import session_client, token_client
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
)

LIST = reverse("api:incident-list")


def detail(reference: str, part: str = "") -> str:
    url = reverse("api:incident-detail", args=[reference])
    return f"{url}{part}/" if part else url


def refs(response) -> list[str]:
    return [row["reference"] for row in response.json()["results"]]


# List: filters, search, pages ------------------------------------------------------------------


def test_list_filters_by_status_severity_partner_and_owner_me(analyst, lead):
    prosa = PartnerFactory(code="prosa", name="Prosa")
    mine_sev1 = IncidentFactory(severity="sev1", owner=analyst)
    other_sev1 = IncidentFactory(severity="sev1", owner=lead)
    mine_sev3 = IncidentFactory(severity="sev3", owner=analyst)
    closed = IncidentFactory(severity="sev1", owner=analyst, status="closed")
    PartnerEngagementFactory(incident=other_sev1, partner=prosa)
    client = token_client(analyst)

    default = client.get(LIST)
    sev1 = client.get(LIST, {"severity": "sev1"})
    sev1_any_status = client.get(LIST, {"severity": "sev1", "status": "all"})
    closed_only = client.get(LIST, {"status": "closed"})
    by_partner = client.get(LIST, {"partner": "prosa"})
    mine = client.get(LIST, {"owner": "me"})

    assert default.status_code == 200
    assert set(refs(default)) == {mine_sev1.reference, other_sev1.reference, mine_sev3.reference}
    assert set(refs(sev1)) == {mine_sev1.reference, other_sev1.reference}
    assert set(refs(sev1_any_status)) == {mine_sev1.reference, other_sev1.reference, closed.reference}
    assert refs(closed_only) == [closed.reference]
    assert refs(by_partner) == [other_sev1.reference]
    assert by_partner.json()["results"][0]["partner_names"] == ["Prosa"]
    assert set(refs(mine)) == {mine_sev1.reference, mine_sev3.reference}
    assert mine.json()["results"][0]["owner"] == {"id": analyst.pk, "username": "ana", "name": analyst.first_name}


def test_list_filters_by_created_range(analyst):
    old, recent = IncidentFactory(), IncidentFactory()
    Incident.objects.filter(pk=old.pk).update(created_at=timezone.make_aware(dt.datetime(2026, 3, 2, 12)))
    Incident.objects.filter(pk=recent.pk).update(created_at=timezone.make_aware(dt.datetime(2026, 3, 20, 12)))
    client = token_client(analyst)

    march_first_half = client.get(LIST, {"created_from": "2026-03-01", "created_to": "2026-03-15"})
    from_tenth = client.get(LIST, {"created_from": "2026-03-10"})
    backwards = client.get(LIST, {"created_from": "2026-03-15", "created_to": "2026-03-01"})

    assert refs(march_first_half) == [old.reference]
    assert refs(from_tenth) == [recent.reference]
    assert backwards.status_code == 400
    assert backwards.json()["error"]["fields"] == {"created_to": ["The end date cannot come before the start date."]}


def test_q_searches_like_the_queue_and_finds_a_notes_text(analyst):
    noted = IncidentFactory(title="Approval drop at checkout")
    IncidentFactory(title="Latency on acquirer")
    note_add(incident=noted, actor=analyst, body="El emisor confirmó un reverso masivo de tokens")
    client = token_client(analyst)

    by_note = client.get(LIST, {"q": "reverso masivo"})
    by_reference = client.get(LIST, {"q": noted.reference.lower()})
    nothing = client.get(LIST, {"q": "inexistente palabra"})

    assert refs(by_note) == [noted.reference]
    assert refs(by_reference) == [noted.reference]
    assert refs(nothing) == []


def test_an_unknown_filter_value_is_a_400_with_the_field(analyst):
    response = token_client(analyst).get(LIST, {"severity": "sev9"})

    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["severity"]


def test_cursor_pages_walk_every_incident_once_newest_first(analyst):
    created = [IncidentFactory() for _ in range(7)]
    client = token_client(analyst)

    seen, pages, url = [], 0, f"{LIST}?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["reference"] for row in body["results"]]
        pages += 1
        url = body["next"]

    assert pages == 3
    assert seen == [incident.reference for incident in reversed(created)]
    assert len(set(seen)) == 7


def _list_queries(client, django_assert_max_num_queries, count: int, limit: int):
    with django_assert_max_num_queries(limit) as captured:
        response = client.get(LIST, {"page_size": 50})
    assert response.status_code == 200
    assert len(response.json()["results"]) == count
    return len(captured.captured_queries)


def test_the_list_costs_the_same_queries_for_5_and_50_incidents(analyst, django_assert_max_num_queries):
    prosa = PartnerFactory()
    client = session_client(analyst)
    for _ in range(5):
        incident = IncidentFactory(owner=analyst)
        PartnerEngagementFactory(incident=incident, partner=prosa)
        AffectedMerchantFactory(incident=incident)
    five = _list_queries(client, django_assert_max_num_queries, 5, 8)
    for _ in range(45):
        incident = IncidentFactory(owner=analyst)
        PartnerEngagementFactory(incident=incident, partner=prosa)
        AffectedMerchantFactory(incident=incident)

    fifty = _list_queries(client, django_assert_max_num_queries, 50, 8)

    assert fifty == five


# Detail ---------------------------------------------------------------------------------------


def test_the_detail_costs_the_same_few_queries_small_or_large(analyst, django_assert_max_num_queries):
    small, large = IncidentFactory(owner=analyst), IncidentFactory(owner=analyst)
    for incident, size in ((small, 1), (large, 20)):
        for _ in range(size):
            PartnerEngagementFactory(incident=incident, partner=PartnerFactory())
            AffectedMerchantFactory(incident=incident)
    client = token_client(analyst)
    client.get(detail(small.reference))  # warm caches that are not per request (content types)
    counts = {}
    # The token with its user's permissions, the incident, its merchants, its partners, and their
    # routes to the merchants (every partner's scope at once).
    for incident in (small, large):
        with django_assert_max_num_queries(5) as captured:
            response = client.get(detail(incident.reference))
        assert response.status_code == 200
        counts[incident.pk] = len(captured.captured_queries)
    assert counts[small.pk] == counts[large.pk]
    assert len(response.json()["merchants"]) == 20 and len(response.json()["engagements"]) == 20


def test_detail_by_reference_nests_merchants_partners_and_links(analyst):
    incident = IncidentFactory(owner=analyst, status="closed")
    merchant = MerchantFactory(name="Tienda Sol", account_id="acct_SOL0000001")
    AffectedMerchantFactory(
        incident=incident,
        merchant=merchant,
        baseline_rate="0.9500",
        observed_rate="0.8000",
        attempts=1000,
        failed_attempts=200,
    )
    PartnerEngagementFactory(incident=incident, partner=PartnerFactory(code="prosa", name="Prosa"))

    response = token_client(analyst).get(detail(incident.reference))

    assert response.status_code == 200
    body = response.json()
    assert body["reference"] == incident.reference
    assert body["status"] == "closed"  # found although the list shows open incidents by default
    assert body["allowed_transitions"] == ["investigating"]
    assert body["merchants"][0]["merchant"] == {
        "id": merchant.pk,
        "account_id": "acct_SOL0000001",
        "name": "Tienda Sol",
    }
    assert body["merchants"][0]["baseline_rate"] == 0.95
    assert body["merchants"][0]["excess_declines"] == 150  # 200 failed − round(1000 × 0.05)
    assert body["excess_declines"] == 150
    assert body["engagements"][0]["partner"]["code"] == "prosa"
    assert body["links"]["notes"] == f"/api/v1/incidents/{incident.reference}/notes/"
    assert body["links"]["timeline"] == f"/api/v1/incidents/{incident.reference}/timeline/"


def test_detail_of_an_unknown_reference_is_a_404_in_the_error_format(analyst):
    response = token_client(analyst).get(detail("PH-2026-999999"))

    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


# Create ---------------------------------------------------------------------------------------


def test_create_opens_an_incident_as_the_tokens_user(analyst):
    merchant = MerchantFactory(account_id="acct_CREATE00001", name="Farmacia Luna")
    partner = PartnerFactory(code="prosa", name="Prosa")
    other = PartnerFactory(name="Evertec")
    payload = {
        "title": "Visa approvals down at Farmacia Luna",
        "category": "auth_rate",
        "severity": "sev2",
        "card_networks": ["visa"],
        "decline_codes": ["05", "91"],
        "bin_prefixes": ["411111", "5555 44"],
        "country": "mx",
        "merchants": ["acct_CREATE00001"],
        "partners": ["prosa", other.pk],
    }

    response = token_client(analyst).post(LIST, payload, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    incident = Incident.objects.get(reference=body["reference"])
    assert incident.owner == analyst and incident.created_by == analyst
    assert incident.source == "api"
    assert incident.country == "MX"
    assert incident.bin_prefixes == ["411111", "555544"]
    assert [m["merchant"]["id"] for m in body["merchants"]] == [merchant.pk]
    assert sorted(e["partner"]["code"] for e in body["engagements"]) == sorted(["prosa", other.code])
    opened = CaseEvent.objects.get(incident=incident, kind="opened")
    assert opened.actor == analyst
    timeline = token_client(analyst).get(body["links"]["timeline"]).json()["results"]
    assert timeline[-1]["kind"] == "opened"
    assert timeline[-1]["actor"]["username"] == "ana"
    assert {event["kind"] for event in timeline} == {"opened", "merchant_added", "partner_engaged"}
    assert partner.engagements.count() == 1


def test_a_card_number_in_bin_prefixes_is_refused_and_never_stored(analyst):
    payload = {"title": "Card typed by mistake", "category": "auth_rate", "severity": "sev3"}

    response = token_client(analyst).post(LIST, {**payload, "bin_prefixes": ["4111 1111 1111 1111"]}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["bin_prefixes"]
    assert error["fields"]["bin_prefixes"] == [str(CARD_NUMBER_MESSAGE)]
    assert "4111111111111111" not in response.content.decode()
    assert not Incident.objects.filter(title="Card typed by mistake").exists()


def test_create_names_unknown_merchants_and_partners(analyst):
    payload = {
        "title": "T",
        "category": "outage",
        "severity": "sev1",
        "merchants": ["acct_NOPE000001"],
        "partners": [999999],
    }

    response = token_client(analyst).post(LIST, payload, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["merchants.0"] == ["No merchant has the id or account id acct_NOPE000001."]
    assert fields["partners.0"] == ["No partner has the id or code 999999."]
    assert Incident.objects.count() == 0


# Details, transitions, severity, owner --------------------------------------------------------


def test_patch_changes_details_through_the_service(analyst):
    incident = IncidentFactory(title="Old title")

    response = token_client(analyst).patch(
        detail(incident.reference), {"title": "New title", "root_cause": "Issuer HSM"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["title"] == "New title"
    event = CaseEvent.objects.get(incident=incident, kind="details_changed")
    assert event.data["changes"]["title"] == {"from": "Old title", "to": "New title"}
    assert event.actor == analyst


def test_an_invalid_transition_is_a_400_with_the_to_field(analyst):
    incident = IncidentFactory(status="new")

    response = token_client(analyst).post(detail(incident.reference, "transition"), {"to": "closed"}, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {"to": [f"{incident.reference} cannot move from New to Closed."]}
    assert error["message"] == f"to: {incident.reference} cannot move from New to Closed."
    incident.refresh_from_db()
    assert incident.status == "new"


def test_waiting_on_partner_needs_an_engaged_partner(analyst):
    incident = IncidentFactory(status="investigating")
    stranger = PartnerFactory(code="stranger")
    client = token_client(analyst)
    url = detail(incident.reference, "transition")

    without_partner = client.post(url, {"to": "waiting_on_partner", "reason": "Asked Prosa"}, format="json")
    not_engaged = client.post(
        url, {"to": "waiting_on_partner", "reason": "Asked", "partner": "stranger"}, format="json"
    )
    engagement_add(incident=incident, actor=analyst, partner=stranger)
    engaged = client.post(url, {"to": "waiting_on_partner", "reason": "Asked", "partner": "stranger"}, format="json")

    assert without_partner.status_code == 400
    assert list(without_partner.json()["error"]["fields"]) == ["partner"]
    assert not_engaged.status_code == 400
    assert not_engaged.json()["error"]["fields"] == {"partner": [f"{stranger.name} is not engaged on this incident."]}
    assert engaged.status_code == 200
    assert engaged.json()["status"] == "waiting_on_partner"
    event = CaseEvent.objects.filter(incident=incident, kind="status_changed").get()
    assert event.data["partner_code"] == "stranger"
    assert event.actor == analyst


def test_reopening_needs_a_reason(analyst):
    incident = IncidentFactory(status="new")
    incident_transition(incident=incident, actor=analyst, to="investigating")
    incident_transition(incident=incident, actor=analyst, to="resolved")

    response = token_client(analyst).post(
        detail(incident.reference, "transition"), {"to": "investigating"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": ["A reason is required for this transition."]}


def test_severity_needs_a_reason_and_records_it(analyst):
    incident = IncidentFactory(severity="sev3")
    client = token_client(analyst)
    url = detail(incident.reference, "severity")

    missing = client.post(url, {"severity": "sev1"}, format="json")
    done = client.post(url, {"severity": "sev1", "reason": "All Visa traffic"}, format="json")

    assert missing.status_code == 400
    assert list(missing.json()["error"]["fields"]) == ["reason"]
    assert done.status_code == 200 and done.json()["severity"] == "sev1"
    assert CaseEvent.objects.get(incident=incident, kind="severity_changed").data == {
        "from": "sev3",
        "to": "sev1",
        "reason": "All Visa traffic",
    }


def test_assign_and_unassign(analyst, lead, outsider):
    incident = IncidentFactory(owner=None)
    client = token_client(analyst)
    url = detail(incident.reference, "assign")

    to_lead = client.post(url, {"owner": lead.pk}, format="json")
    to_outsider = client.post(url, {"owner": outsider.pk}, format="json")
    to_nobody = client.post(url, {"owner": None}, format="json")

    assert to_lead.status_code == 200 and to_lead.json()["owner"]["username"] == "lucia"
    assert to_outsider.status_code == 400
    assert to_outsider.json()["error"]["fields"] == {"owner": ["otto cannot own incidents (no desk role)."]}
    assert to_nobody.status_code == 200 and to_nobody.json()["owner"] is None
    assert list(CaseEvent.objects.filter(incident=incident, kind="owner_changed").values_list("data", flat=True)) == [
        {"from": None, "to": "lucia"},
        {"from": "lucia", "to": None},
    ]


# Bulk -----------------------------------------------------------------------------------------


def test_bulk_reports_every_row_and_changes_only_the_allowed_ones(analyst):
    new = IncidentFactory(status="new")
    resolved = IncidentFactory(status="resolved")

    response = token_client(analyst).post(
        reverse("api:incident-bulk"),
        {"references": [new.reference, resolved.reference], "action": "status", "to": "triaging"},
        format="json",
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {"reference": new.reference, "ok": True, "message": "moved to Triaging"}
    assert results[1]["reference"] == resolved.reference and results[1]["ok"] is False
    assert results[1]["message"] == "cannot move from Resolved to Triaging."
    new.refresh_from_db(), resolved.refresh_from_db()
    assert (new.status, resolved.status) == ("triaging", "resolved")


def test_bulk_refuses_unknown_references_and_missing_arguments(analyst):
    incident = IncidentFactory()
    client = token_client(analyst)
    url = reverse("api:incident-bulk")

    unknown = client.post(url, {"references": ["PH-2026-999999"], "action": "assign", "owner": None}, format="json")
    no_reason = client.post(
        url, {"references": [incident.reference], "action": "severity", "severity": "sev1"}, format="json"
    )

    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"] == {"references": ["No incident PH-2026-999999."]}
    assert no_reason.status_code == 400
    assert no_reason.json()["error"]["fields"] == {"reason": ["Say why the severity changes."]}
    assert CaseEvent.objects.count() == 0


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_a_refused_write_changes_nothing(db, request, who):
    incident = IncidentFactory(status="new", severity="sev3")
    if who == "anonymous":
        from rest_framework.test import APIClient

        client, expected = APIClient(), 401
    else:
        client, expected = token_client(request.getfixturevalue(who)), 403

    responses = [
        client.post(LIST, {"title": "x", "category": "outage", "severity": "sev1"}, format="json"),
        client.patch(detail(incident.reference), {"title": "hacked"}, format="json"),
        client.post(detail(incident.reference, "transition"), {"to": "triaging"}, format="json"),
        client.post(detail(incident.reference, "severity"), {"severity": "sev1", "reason": "x"}, format="json"),
    ]

    assert [r.status_code for r in responses] == [expected] * 4
    assert responses[0].json()["error"]["status"] == expected
    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert (incident.title, incident.status, incident.severity) != ("hacked", "triaging", "sev1")
    assert incident.status == "new" and incident.severity == "sev3"
    assert CaseEvent.objects.count() == 0


def test_an_undecodable_cursor_is_a_400_on_cursor(analyst):
    response = token_client(analyst).get(LIST, {"cursor": "not-a-cursor"})

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"cursor": ["Invalid cursor"]}
