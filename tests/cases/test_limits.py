"""What one incident may list is bounded, by one rule the pages, the API and the services share:
at most 50 BIN prefixes, 50 decline codes, 200 merchants, 50 partners, and 100 incidents in one
bulk action; beyond that a field error, and nothing written."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from cases.models import AffectedMerchant, Incident, PartnerEngagement
from cases.models.incident import (
    MAX_BIN_PREFIXES,
    MAX_DECLINE_CODES,
    MAX_MERCHANTS_PER_INCIDENT,
    MAX_PARTNERS_PER_INCIDENT,
)
from cases.services import engagement_add, incident_open, incident_update_details, incidents_bulk_apply
from cases.services.bulk import MAX_BULK_ROWS
from cases.services.impact import merchant_impact_add
from tests.api.helpers import token_client
from tests.factories import IncidentFactory, MerchantFactory, PartnerFactory

pytestmark = pytest.mark.django_db

PREFIXES = [f"{411000 + n}" for n in range(MAX_BIN_PREFIXES + 1)]
CODES = [f"c{n}" for n in range(MAX_DECLINE_CODES + 1)]


def _open(actor, **extra):
    return incident_open(actor=actor, title="Caída Prosa", category="auth_rate", severity="sev3", **extra)


def test_the_limits_are_the_documented_ones():
    assert (MAX_BIN_PREFIXES, MAX_DECLINE_CODES, MAX_MERCHANTS_PER_INCIDENT, MAX_PARTNERS_PER_INCIDENT) == (
        50,
        50,
        200,
        50,
    )
    assert MAX_BULK_ROWS == 100


def test_opening_takes_the_limit_and_refuses_one_more(analyst):
    incident = _open(analyst, bin_prefixes=PREFIXES[:-1], decline_codes=CODES[:-1])
    assert len(incident.bin_prefixes) == MAX_BIN_PREFIXES
    with pytest.raises(ValidationError) as error:
        _open(analyst, bin_prefixes=PREFIXES, decline_codes=CODES)
    assert error.value.message_dict == {
        "bin_prefixes": ["51 given; at most 50 are allowed."],
        "decline_codes": ["51 given; at most 50 are allowed."],
    }
    assert Incident.objects.count() == 1


def test_five_thousand_prefixes_are_refused_on_a_change_of_details(analyst):
    incident = _open(analyst)
    with pytest.raises(ValidationError) as error:
        incident_update_details(incident=incident, actor=analyst, bin_prefixes=[f"{400000 + n}" for n in range(5000)])
    assert error.value.message_dict["bin_prefixes"] == ["5000 given; at most 50 are allowed."]
    incident.refresh_from_db()
    assert incident.bin_prefixes == []


def test_partners_and_merchants_per_incident(analyst):
    partners = [PartnerFactory() for _ in range(MAX_PARTNERS_PER_INCIDENT + 1)]
    with pytest.raises(ValidationError) as error:
        _open(analyst, partners=partners)
    assert error.value.message_dict == {"partners": ["51 given; at most 50 are allowed."]}
    assert Incident.objects.count() == 0

    incident = _open(analyst, partners=partners[:-1])
    with pytest.raises(ValidationError) as error:
        engagement_add(incident=incident, actor=analyst, partner=partners[-1])
    assert error.value.message_dict == {"partner": ["51 given; at most 50 are allowed."]}
    assert PartnerEngagement.objects.filter(incident=incident).count() == MAX_PARTNERS_PER_INCIDENT


def test_merchants_per_incident(analyst):
    merchants = [MerchantFactory() for _ in range(MAX_MERCHANTS_PER_INCIDENT + 1)]
    with pytest.raises(ValidationError) as error:
        _open(analyst, merchants=merchants)
    assert set(error.value.message_dict) == {"merchants"}
    incident = _open(analyst, merchants=merchants[:-1])
    with pytest.raises(ValidationError) as error:
        merchant_impact_add(incident=incident, actor=analyst, merchant=merchants[-1])
    assert set(error.value.message_dict) == {"merchant"}
    assert AffectedMerchant.objects.filter(incident=incident).count() == MAX_MERCHANTS_PER_INCIDENT


def test_a_bulk_action_covers_one_page_at_most(lead):
    incidents = [IncidentFactory() for _ in range(MAX_BULK_ROWS + 1)]
    with pytest.raises(ValidationError) as error:
        incidents_bulk_apply(actor=lead, incidents=incidents, action="severity", severity="sev1", reason="x")
    assert set(error.value.message_dict) == {"incidents"}
    assert not Incident.objects.filter(severity="sev1").exists()


def test_the_page_shows_the_limit_on_the_field(client, analyst):
    client.force_login(analyst)
    response = client.post(
        "/incidents/new/",
        {
            "title": "Caída Prosa",
            "category": "auth_rate",
            "severity": "sev3",
            "bin_prefixes": ", ".join(PREFIXES),
            "decline_codes": ", ".join(f"c{n}" for n in range(10_000)),
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["bin_prefixes"] == ["51 given; at most 50 are allowed."]
    assert form.errors["decline_codes"] == ["10000 given; at most 50 are allowed."]
    assert Incident.objects.count() == 0


def test_the_api_answers_a_field_error(analyst):
    api = token_client(analyst)
    response = api.post(
        "/api/v1/incidents/",
        {"title": "x", "category": "auth_rate", "severity": "sev3", "decline_codes": CODES},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["decline_codes"]
    incident = IncidentFactory()
    response = api.patch(f"/api/v1/incidents/{incident.reference}/", {"bin_prefixes": PREFIXES * 100}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["bin_prefixes"]
