"""The first business actions: opening an incident and moving it through its lifecycle."""

import pytest
from django.core.exceptions import ValidationError

from cases.models import CaseEvent, Incident
from cases.services import incident_open, incident_transition
from tests.factories import MerchantFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def open_incident(actor, **extra):
    return incident_open(
        actor=actor, title="Caída de aprobación BBVA débito", category="auth_rate", severity="sev2", **extra
    )


def test_open_generates_reference_defaults_owner_and_records_the_opening(analyst):
    merchant = MerchantFactory()
    partner = PartnerFactory(name="Prosa")
    incident = open_incident(analyst, merchants=[merchant], partners=[partner])
    assert incident.reference.startswith("PH-")
    assert incident.owner == analyst and incident.created_by == analyst
    assert incident.status == "new"
    assert list(incident.events.values_list("kind", "actor__username")) == [
        ("opened", "ana"),
        ("merchant_added", "ana"),
        ("partner_engaged", "ana"),
    ]
    assert incident.affected_merchants.get().merchant == merchant
    assert incident.engagements.get().partner == partner


def test_open_refuses_bad_input_and_writes_nothing(analyst):
    with pytest.raises(ValidationError) as error:
        incident_open(actor=analyst, title="", category="nonsense", severity="sev9", bin_prefixes=["4111111111111111"])
    assert {"title", "category", "severity", "bin_prefixes"} <= set(error.value.message_dict)
    assert Incident.objects.count() == 0
    assert CaseEvent.objects.count() == 0


def test_transition_follows_the_lifecycle_and_stamps_times(analyst):
    incident = open_incident(analyst)
    incident = incident_transition(incident=incident, actor=analyst, to="investigating")
    incident = incident_transition(incident=incident, actor=analyst, to="resolved")
    assert incident.resolved_at is not None
    event = incident.events.filter(kind="status_changed").last()
    assert (event.data, event.actor) == (
        {"from": "investigating", "to": "resolved", "reason": "", "partner": None, "partner_code": None},
        analyst,
    )


def test_refused_transition_changes_nothing(analyst):
    incident = open_incident(analyst)
    with pytest.raises(ValidationError) as error:
        incident_transition(incident=incident, actor=analyst, to="closed")
    assert "to" in error.value.message_dict
    incident.refresh_from_db()
    assert incident.status == "new"
    assert not incident.events.filter(kind="status_changed").exists()


@pytest.mark.parametrize("path", [["triaging", "waiting_on_partner"], ["investigating", "resolved", "investigating"]])
def test_waiting_and_reopen_need_a_reason(analyst, path):
    incident = open_incident(analyst)
    for step in path[:-1]:
        incident = incident_transition(incident=incident, actor=analyst, to=step)
    with pytest.raises(ValidationError) as error:
        incident_transition(incident=incident, actor=analyst, to=path[-1], reason="  ")
    assert "reason" in error.value.message_dict
    incident = incident_transition(incident=incident, actor=analyst, to=path[-1], reason="Prosa folio 4821")
    assert incident.status == path[-1]


def test_reopen_clears_resolution(analyst):
    incident = open_incident(analyst)
    for step in ("investigating", "resolved", "closed"):
        incident = incident_transition(incident=incident, actor=analyst, to=step)
    incident = incident_transition(incident=incident, actor=analyst, to="investigating", reason="Declines are back")
    assert (incident.status, incident.resolved_at, incident.closed_at) == ("investigating", None, None)


def test_assign_records_old_and_new_owner_and_refuses_outsiders(analyst, lead, outsider):
    from cases.services import incident_assign

    incident = open_incident(analyst)
    incident_assign(incident=incident, actor=lead, owner=lead)
    event = incident.events.get(kind="owner_changed")
    assert (event.actor, event.data) == (lead, {"from": "ana", "to": "lucia"})
    with pytest.raises(ValidationError) as error:
        incident_assign(incident=incident, actor=lead, owner=outsider)
    assert "owner" in error.value.message_dict
    incident.refresh_from_db()
    assert incident.owner == lead
    incident_assign(incident=incident, actor=lead, owner=lead)
    assert incident.events.filter(kind="owner_changed").count() == 1


def test_severity_change_needs_a_reason(analyst):
    from cases.services import incident_change_severity

    incident = open_incident(analyst)
    with pytest.raises(ValidationError) as error:
        incident_change_severity(incident=incident, actor=analyst, severity="sev1", reason="")
    assert "reason" in error.value.message_dict
    incident_change_severity(incident=incident, actor=analyst, severity="sev1", reason="Prosa caído para todos")
    incident.refresh_from_db()
    assert incident.severity == "sev1"
    assert incident.events.get(kind="severity_changed").data == {
        "from": "sev2",
        "to": "sev1",
        "reason": "Prosa caído para todos",
    }


def test_update_details_records_each_change_and_validates(analyst):
    from cases.services import incident_update_details

    incident = open_incident(analyst)
    incident_update_details(incident=incident, actor=analyst, title="Nuevo título", bin_prefixes=["415231"])
    event = incident.events.get(kind="details_changed")
    assert event.data["changes"] == {
        "title": {"from": "Caída de aprobación BBVA débito", "to": "Nuevo título"},
        "bin_prefixes": {"from": [], "to": ["415231"]},
    }
    with pytest.raises(ValidationError) as error:
        incident_update_details(incident=incident, actor=analyst, bin_prefixes=["4152313145678901"])
    assert "bin_prefixes" in error.value.message_dict
    incident.refresh_from_db()
    assert incident.bin_prefixes == ["415231"]


def test_open_refuses_an_owner_without_a_desk_role(analyst, outsider):
    with pytest.raises(ValidationError) as error:
        open_incident(analyst, owner=outsider)
    assert "owner" in error.value.message_dict
    assert Incident.objects.count() == 0
