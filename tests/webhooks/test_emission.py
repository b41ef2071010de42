"""Timeline rows become webhook deliveries: one per event and listening subscription, nothing
(not even a query) when nobody listens."""

from uuid import UUID

import pytest

from cases import timeline
from cases.models import CaseEvent
from cases.services import incident_change_severity, incident_transition
from cases.timeline.events import NoteAdded, StatusChanged
from tests.factories import IncidentFactory, WebhookSubscriptionFactory
from webhooks.models import WebhookDelivery
from webhooks.services import EVENT_TYPES_BY_KIND, event_id_for, webhook_emit_for_case_events

pytestmark = pytest.mark.django_db


def test_every_subscribable_event_type_has_a_timeline_kind():
    assert EVENT_TYPES_BY_KIND == {
        "opened": "incident.opened",
        "status_changed": "incident.status_changed",
        "severity_changed": "incident.severity_changed",
        "notice_sent": "notice.sent",
        "notice_failed": "notice.failed",
        "reply_received": "reply.received",
        "sla_warning": "sla.warning",
        "sla_breached": "sla.breach",
    }


def test_a_status_change_makes_one_delivery_per_listening_subscription(
    analyst, django_capture_on_commit_callbacks, settings
):
    settings.PAYHEALTH_SITE_URL = "https://desk.example.test/"
    incident = IncidentFactory(title="Visa declines in MX")
    chat = WebhookSubscriptionFactory(name="chat", events=["incident.status_changed", "incident.opened"])
    tickets = WebhookSubscriptionFactory(name="tickets", events=["incident.status_changed"])
    WebhookSubscriptionFactory(name="sla only", events=["sla.breach"])
    WebhookSubscriptionFactory(name="off", events=["incident.status_changed"], active=False)

    with django_capture_on_commit_callbacks() as callbacks:
        incident_transition(incident=incident, actor=analyst, to="triaging")

    deliveries = list(WebhookDelivery.objects.order_by("subscription_id"))
    assert [d.subscription_id for d in deliveries] == [chat.pk, tickets.pk]
    event = CaseEvent.objects.get(incident=incident, kind="status_changed")
    assert {d.event_id for d in deliveries} == {event_id_for(event)}
    assert all(d.status == "pending" and d.event_type == "incident.status_changed" for d in deliveries)
    payload = deliveries[0].payload
    assert payload == {
        "id": str(event_id_for(event)),
        "type": "incident.status_changed",
        "occurred_at": event.created_at.isoformat(),
        "incident": {
            "reference": incident.reference,
            "title": "Visa declines in MX",
            "severity": "sev3",
            "status": "triaging",
            "url": f"https://desk.example.test/incidents/{incident.reference}/",
        },
        "data": {"from": "new", "to": "triaging", "reason": "", "partner": None, "partner_code": None},
        "actor": "ana",
    }
    assert len(callbacks) == 1  # one publish for both deliveries, after the commit


def test_kinds_nobody_listens_to_make_no_delivery(analyst):
    incident = IncidentFactory()
    WebhookSubscriptionFactory(events=["incident.status_changed"])

    incident_change_severity(incident=incident, actor=analyst, severity="sev2", reason="Wider impact")
    timeline.record(NoteAdded(note=1), incident=incident, actor=analyst)

    assert WebhookDelivery.objects.count() == 0


def test_bulk_emission_reads_incidents_and_actors_once(analyst, lead, django_assert_num_queries):
    """What the SLA sweep does: rows inserted in bulk, then emitted in one call."""
    first, second = IncidentFactory(), IncidentFactory()
    hook = WebhookSubscriptionFactory(events=["sla.warning", "sla.breach"])
    rows = CaseEvent.objects.bulk_create(
        [
            CaseEvent(incident_id=first.pk, kind="sla_warning", data={"metric": "acknowledge"}),
            CaseEvent(incident_id=second.pk, actor_id=lead.pk, kind="sla_breached", data={"metric": "resolve"}),
            CaseEvent(incident_id=second.pk, kind="sla_paused", data={}),
        ]
    )
    rows = list(CaseEvent.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk"))

    # subscribed types (cache miss), subscriptions, incidents, actors, the insert
    with django_assert_num_queries(5):
        created = webhook_emit_for_case_events(rows)

    assert [(d.subscription_id, d.event_type, d.payload["incident"]["reference"]) for d in created] == [
        (hook.pk, "sla.warning", first.reference),
        (hook.pk, "sla.breach", second.reference),
    ]
    assert [d.payload["actor"] for d in created] == [None, "lucia"]
    assert UUID(created[0].payload["id"]) == event_id_for(rows[0])


def _record(incident, analyst):
    changed = StatusChanged(was="new", to="triaging", reason="", partner=None, partner_code=None)
    return timeline.record(changed, incident=incident, actor=analyst)


def test_record_costs_no_extra_query_without_subscriptions(analyst, django_assert_num_queries, settings):
    settings.PAYHEALTH_TIMELINE_LISTENERS = ["webhooks.services.webhook_emit_for_case_events"]
    incident = IncidentFactory()
    _record(incident, analyst)  # fills the cached set (empty)

    with django_assert_num_queries(1):  # the INSERT of the timeline row: webhooks add nothing
        _record(incident, analyst)
    with django_assert_num_queries(1):
        timeline.record(NoteAdded(note=1), incident=incident, actor=analyst)

    assert WebhookDelivery.objects.count() == 0


def test_a_new_subscription_is_heard_at_once_through_the_service(partner_manager, analyst):
    from webhooks.services import webhook_subscription_create

    incident = IncidentFactory()
    _record(incident, analyst)  # caches "nobody listens"
    hook = webhook_subscription_create(
        actor=partner_manager, name="chat", url="https://chat.example.test/in", events=["incident.status_changed"]
    )

    _record(incident, analyst)

    assert list(WebhookDelivery.objects.values_list("subscription_id", flat=True)) == [hook.pk]


def test_the_documented_data_keys_are_the_timeline_payloads_keys():
    """docs/webhooks.md lists each event type's `data` keys; they are the payload class's keys."""
    import re
    from pathlib import Path

    from cases.timeline.events import PAYLOADS

    documented = {}
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    for types, keys in re.findall(r"^\| (`[a-z._`/ ]+`) \| (`[a-z_`, ]+`.*?) \|$", text, re.MULTILINE):
        names = tuple(re.findall(r"`([a-z_]+)`", keys.split(" (")[0]))
        for event_type in re.findall(r"`([a-z._]+)`", types):
            documented[event_type] = names

    expected = {event_type: PAYLOADS[kind].keys() for kind, event_type in EVENT_TYPES_BY_KIND.items()}
    assert documented == expected
