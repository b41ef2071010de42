"""The parts of one incident over the API: notes, affected merchants, engagements, timeline."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from cases.models import AffectedMerchant, CaseEvent, InvestigationNote, PartnerEngagement
from cases.services import note_add
from tests.api.helpers import token_client
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory, PartnerFactory


def url(name: str, incident, pk=None) -> str:
    if pk is None:
        return reverse(f"api:incident-{name}-list", args=[incident.reference])
    return reverse(f"api:incident-{name}-detail", args=[incident.reference, pk])


# Notes ----------------------------------------------------------------------------------------


def test_notes_add_list_and_edit_by_the_author_only(analyst, lead):
    incident = IncidentFactory()
    ana, lucia = token_client(analyst), token_client(lead)

    added = ana.post(url("note", incident), {"body": "  Prosa confirma el folio 4821  "}, format="json")
    note_id = added.json()["id"]
    listed = lucia.get(url("note", incident))
    by_lead = lucia.patch(url("note", incident, note_id), {"body": "Changed by the lead"}, format="json")
    by_author = ana.patch(url("note", incident, note_id), {"body": "Prosa confirma el folio 4822"}, format="json")

    assert added.status_code == 201
    assert added.json()["body"] == "Prosa confirma el folio 4821"
    assert added.json()["author"]["username"] == "ana"
    assert [note["id"] for note in listed.json()] == [note_id]
    assert by_lead.status_code == 403
    assert by_lead.json()["error"]["message"] == "Only the author of a note can edit it."
    assert by_author.status_code == 200
    assert by_author.json()["body"] == "Prosa confirma el folio 4822"
    assert by_author.json()["edited_at"] is not None
    assert InvestigationNote.objects.get(pk=note_id).body == "Prosa confirma el folio 4822"
    assert list(CaseEvent.objects.filter(incident=incident).values_list("kind", "actor__username")) == [
        ("note_added", "ana"),
        ("note_edited", "ana"),
    ]


def test_an_empty_note_is_a_400(analyst):
    incident = IncidentFactory()

    response = token_client(analyst).post(url("note", incident), {"body": "   "}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["body"]
    assert InvestigationNote.objects.count() == 0


def test_a_note_of_another_incident_is_a_404(analyst):
    one, other = IncidentFactory(), IncidentFactory()
    note = note_add(incident=other, actor=analyst, body="Elsewhere")

    response = token_client(analyst).patch(url("note", one, note.pk), {"body": "moved?"}, format="json")

    assert response.status_code == 404
    assert InvestigationNote.objects.get(pk=note.pk).body == "Elsewhere"


# Affected merchants ---------------------------------------------------------------------------


def test_merchants_add_update_and_remove_with_rates_as_shares(analyst):
    incident = IncidentFactory()
    merchant = MerchantFactory(account_id="acct_IMPACT00001", name="Cines Norte")
    client = token_client(analyst)

    added = client.post(
        url("merchant", incident),
        {
            "merchant": "acct_IMPACT00001",
            "baseline_rate": 0.95,
            "observed_rate": "0.8000",
            "attempts": 2000,
            "failed_attempts": 400,
            "volume_at_risk": "125000.50",
            "currency": "MXN",
        },
        format="json",
    )
    row_id = added.json()["id"]
    updated = client.patch(
        url("merchant", incident, row_id), {"observed_rate": 0.9, "failed_attempts": 200}, format="json"
    )
    too_high = client.patch(url("merchant", incident, row_id), {"baseline_rate": 1.5}, format="json")
    listed = client.get(url("merchant", incident))
    removed = client.delete(url("merchant", incident, row_id))

    assert added.status_code == 201, added.json()
    assert added.json()["baseline_rate"] == 0.95
    assert added.json()["observed_rate"] == 0.8
    assert added.json()["excess_declines"] == 300  # 400 − round(2000 × 0.05)
    assert added.json()["volume_at_risk"] == "125000.50"
    assert added.json()["merchant"]["name"] == "Cines Norte"
    assert updated.status_code == 200
    assert updated.json()["observed_rate"] == 0.9 and updated.json()["excess_declines"] == 100
    assert too_high.status_code == 400
    assert list(too_high.json()["error"]["fields"]) == ["baseline_rate"]
    assert [row["merchant"]["id"] for row in listed.json()] == [merchant.pk]
    assert removed.status_code == 204
    assert not AffectedMerchant.objects.filter(pk=row_id).exists()
    assert list(CaseEvent.objects.filter(incident=incident).values_list("kind", flat=True).order_by("id")) == [
        "merchant_added",
        "merchant_updated",
        "merchant_removed",
    ]


def test_a_contradicting_observed_rate_is_a_400_on_that_field(analyst):
    incident = IncidentFactory()
    MerchantFactory(account_id="acct_IMPACT00002")

    response = token_client(analyst).post(
        url("merchant", incident),
        {"merchant": "acct_IMPACT00002", "observed_rate": 0.417, "attempts": 120000, "failed_attempts": 10000},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["observed_rate"]
    assert not incident.affected_merchants.exists()


def test_a_merchant_is_recorded_once_per_incident(analyst):
    incident = IncidentFactory()
    merchant = MerchantFactory()
    AffectedMerchantFactory(incident=incident, merchant=merchant, baseline_rate=Decimal("0.9"))

    response = token_client(analyst).post(url("merchant", incident), {"merchant": merchant.pk}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "This merchant is already recorded on the incident."
    assert AffectedMerchant.objects.count() == 1


def test_failed_attempts_cannot_exceed_attempts(analyst):
    incident = IncidentFactory()
    merchant = MerchantFactory()

    response = token_client(analyst).post(
        url("merchant", incident), {"merchant": merchant.pk, "attempts": 10, "failed_attempts": 11}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["failed_attempts"] == ["Failed attempts cannot exceed attempts."]


# Engagements ----------------------------------------------------------------------------------


def test_engagements_add_and_update_stamps_the_acknowledgement(analyst):
    incident = IncidentFactory()
    PartnerFactory(code="prosa", name="Prosa")
    client = token_client(analyst)

    added = client.post(url("engagement", incident), {"partner": "prosa", "folio": " F-99 "}, format="json")
    again = client.post(url("engagement", incident), {"partner": "prosa"}, format="json")
    acknowledged = client.patch(
        url("engagement", incident, added.json()["id"]), {"partner_status": "acknowledged"}, format="json"
    )

    assert added.status_code == 201
    assert added.json()["partner"]["name"] == "Prosa" and added.json()["folio"] == "F-99"
    assert again.status_code == 400
    assert again.json()["error"]["message"] == "This partner is already engaged on the incident."
    assert acknowledged.status_code == 200
    assert acknowledged.json()["partner_status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_at"] is not None
    assert PartnerEngagement.objects.count() == 1


# Timeline -------------------------------------------------------------------------------------


def test_the_timeline_is_newest_first_and_read_only(analyst):
    incident = IncidentFactory()
    note_add(incident=incident, actor=analyst, body="first")
    note_add(incident=incident, actor=analyst, body="second")
    client = token_client(analyst)
    timeline = reverse("api:incident-timeline", args=[incident.reference])

    response = client.get(timeline)
    posted = client.post(timeline, {}, format="json")

    events = response.json()["results"]
    assert [event["kind"] for event in events] == ["note_added", "note_added"]
    assert events[0]["data"]["note"] > events[1]["data"]["note"]
    assert events[0]["actor"] == {"id": analyst.pk, "username": "ana", "name": analyst.first_name}
    assert set(events[0]) == {"id", "kind", "actor", "created_at", "data"}
    assert posted.status_code in (403, 405)  # an unmapped method is refused by the permission check first
    assert CaseEvent.objects.count() == 2
