"""Every instant the API writes is valid RFC 3339, and every instant it takes is a sane one.

America/Mexico_City's offset before 1922 is its local mean time, -06:36:36, which RFC 3339 cannot
write (its offsets are whole minutes): such an instant is written in UTC. Instants before 1970
(and after 9998) are refused with a field error, so none is stored from the API in the first place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from cases.models import Incident
from tests.api.helpers import token_client
from tests.factories import IncidentFactory

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

pytestmark = pytest.mark.django_db


def _open(client, **extra):
    body = {"title": "Caída Prosa", "category": "auth_rate", "severity": "sev3", **extra}
    return client.post(reverse("api:incident-list"), body, format="json")


@pytest.mark.parametrize(
    "instant", ["1899-12-31T18:00:00-06:36", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-06-01T00:00:00Z"]
)
def test_an_instant_before_1970_or_after_9998_is_a_field_error(analyst, instant):
    response = _open(token_client(analyst), started_at=instant)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"started_at": ["Give an instant between 1970-01-01 and 9999-01-01."]}
    assert not Incident.objects.exists()


def test_an_instant_from_1970_on_is_taken(analyst):
    response = _open(token_client(analyst), started_at="1970-01-01T00:00:00Z")
    assert response.status_code == 201, response.json()
    assert response.json()["started_at"] == "1969-12-31T18:00:00-06:00"


def test_an_instant_of_local_mean_time_is_written_in_utc(analyst):
    incident = IncidentFactory(started_at=datetime(1900, 1, 1, 12, 0, tzinfo=UTC))
    started = token_client(analyst).get(reverse("api:incident-detail", args=[incident.reference])).json()["started_at"]
    assert started == "1900-01-01T12:00:00Z"


def test_every_instant_of_an_incident_is_rfc3339(analyst):
    incident = IncidentFactory(started_at=datetime(1910, 5, 5, 1, 2, 3, tzinfo=UTC))
    body = token_client(analyst).get(reverse("api:incident-detail", args=[incident.reference])).json()
    instants = {key: value for key, value in body.items() if key.endswith("_at") and value}
    assert {"started_at", "created_at", "updated_at"} <= set(instants)
    assert all(RFC3339.match(value) for value in instants.values()), instants
    assert instants["created_at"].endswith("-06:00")  # today: the desk's zone, as before
