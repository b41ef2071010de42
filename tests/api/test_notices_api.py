"""Notices and correspondence over the API: compose, edit, submit, approve, reject, send, retry, the
incident's threads and the triage inbox, with the same services and rules as the pages."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import DELIVER_TASK
from cases.models import CaseEvent, Correspondence
from tests.api.helpers import token_client
from tests.cases.correspondence.data import notice_desk
from tests.factories import PartnerFactory, UserFactory
from tests.support import published

Status = Correspondence.Status


def action(row_or_id, name: str) -> str:
    pk = getattr(row_or_id, "pk", row_or_id)
    return reverse(f"api:correspondence-{name}", args=[pk])


def deliveries(callbacks) -> list[list[int]]:
    """The notice ids each on-commit delivery publish was scheduled for."""
    return published(callbacks, DELIVER_TASK)


@pytest.fixture
def other_lead(db):
    return UserFactory(username="leo", role="lead")


def compose(client, incident, **data):
    return client.post(reverse("api:notice-compose", args=[incident.reference]), data)


def test_compose_approve_by_another_lead_queues_the_delivery_after_commit(
    analyst, lead, django_capture_on_commit_callbacks
):
    desk = notice_desk(owner=analyst, severity="sev1")
    stranger = PartnerFactory(code="prosa", name="Prosa")
    client = token_client(analyst)

    composed = compose(client, desk.incident, kind="breakage", partners=["bbva-mx", desk.visa.pk, "prosa"])

    assert composed.status_code == 201, composed.json()
    drafts = composed.json()["drafts"]
    assert sorted((d["partner"]["code"], d["language"], tuple(d["to_addresses"])) for d in drafts) == [
        ("bbva-mx", "en", ("intl@bbva.test",)),
        ("bbva-mx", "es", ("operacion@bbva.test",)),
        ("visa", "en", ("support@visa.test",)),
    ]
    assert {d["status"] for d in drafts} == {"draft"}
    assert {d["created_by"]["username"] for d in drafts} == {analyst.username}
    assert composed.json()["skipped"] == [
        {
            "partner": {"id": stranger.pk, "code": "prosa", "name": "Prosa"},
            "code": "not_engaged",
            "reason": f"Prosa is not engaged on {desk.incident.reference}.",
        }
    ]
    spanish = next(d for d in drafts if d["language"] == "es")

    submitted = client.post(action(spanish["id"], "submit"))
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "pending_approval"

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approved = token_client(lead).post(action(spanish["id"], "approve"), {"comment": "Adelante"})

    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "queued"
    assert approved.json()["approved_by"]["username"] == lead.username
    assert deliveries(callbacks) == [[spanish["id"]]]
    row = Correspondence.objects.get(pk=spanish["id"])
    assert (row.status, row.approved_by, row.sent_by) == (Status.QUEUED, lead, lead)
    assert row.queued_at is not None
    event = desk.incident.events.get(kind=CaseEvent.Kind.NOTICE_APPROVED)
    assert (event.actor, event.data["comment"]) == (lead, "Adelante")


def test_the_author_cannot_approve_their_own_notice_and_nothing_changes(lead, django_capture_on_commit_callbacks):
    desk = notice_desk(severity="sev2")
    (draft, *_rest) = notice_compose(incident=desk.incident, actor=lead, kind="breakage", partners=[desk.visa]).drafts
    client = token_client(lead)
    assert client.post(action(draft, "submit")).status_code == 200

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(action(draft, "approve"))

    assert response.status_code == 403
    assert response.json()["error"]["message"] == "You wrote this notice: another lead must approve it."
    draft.refresh_from_db()
    assert (draft.status, draft.approved_by, draft.approved_at, draft.queued_at) == (
        Status.PENDING_APPROVAL,
        None,
        None,
        None,
    )
    assert deliveries(callbacks) == []
    assert not desk.incident.events.filter(kind=CaseEvent.Kind.NOTICE_APPROVED).exists()


def test_an_analyst_can_neither_send_nor_approve(analyst, other_lead):
    desk = notice_desk(severity="sev3")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    client = token_client(analyst)

    sent = client.post(action(draft, "send"))
    released = client.post(action(draft, "release"))
    approved = client.post(action(draft, "approve"))

    assert (sent.status_code, released.status_code, approved.status_code) == (403, 403, 403)
    assert released.json()["error"]["message"] == "Only partner managers and leads can send notices."
    draft.refresh_from_db()
    assert (draft.status, draft.sent_by, draft.queued_at) == (Status.DRAFT, None, None)
    assert not desk.incident.events.filter(kind=CaseEvent.Kind.NOTICE_QUEUED).exists()


def test_a_partner_manager_sends_a_sev3_draft(analyst, partner_manager, django_capture_on_commit_callbacks):
    desk = notice_desk(severity="sev3")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = token_client(partner_manager).post(action(draft, "send"))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["sent_by"]["username"]) == ("queued", partner_manager.username)
    assert deliveries(callbacks) == [[draft.pk]]


def test_a_sev1_draft_is_sent_by_approval_not_by_send(partner_manager):
    desk = notice_desk(severity="sev1")
    (draft,) = notice_compose(incident=desk.incident, actor=partner_manager, kind="update", partners=[desk.visa]).drafts

    response = token_client(partner_manager).post(action(draft, "send"))

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "SEV1 notices are sent when a lead approves them: submit it for approval."
    )
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_lowering_the_incident_over_the_api_does_not_let_a_sev1_draft_be_sent(
    analyst, partner_manager, django_capture_on_commit_callbacks
):
    desk = notice_desk(severity="sev1")
    (draft,) = notice_compose(incident=desk.incident, actor=partner_manager, kind="update", partners=[desk.visa]).drafts
    client = token_client(partner_manager)
    lowered = client.post(
        reverse("api:incident-severity", args=[desk.incident.reference]), {"severity": "sev3", "reason": "Smaller"}
    )
    assert lowered.status_code == 200, lowered.json()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sent = client.post(action(draft, "send"))
        sent_es = client.post(action(draft, "send"), HTTP_ACCEPT_LANGUAGE="es")
        released = client.post(action(draft, "release"))

    assert (sent.status_code, sent_es.status_code) == (400, 400)
    assert sent.json()["error"]["message"] == (
        "The incident was SEV1 after this notice was drafted, so a lead approves it before it is sent: "
        "submit it for approval."
    )
    assert sent_es.json()["error"]["message"] == (
        "El incidente fue SEV1 después de que se redactó este aviso, por lo que un líder debe aprobarlo antes de "
        "enviarlo: envíelo a aprobación."
    )
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["peak_severity"]) == ("pending_approval", "sev1")
    assert deliveries(callbacks) == []


def test_an_analyst_cannot_submit_another_analysts_sev1_draft(analyst):
    desk = notice_desk(severity="sev1")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    colleague = token_client(UserFactory(username="andres", role="analyst"))

    submitted = colleague.post(action(draft, "submit"))
    released = colleague.post(action(draft, "release"), HTTP_ACCEPT_LANGUAGE="es")

    assert (submitted.status_code, released.status_code) == (403, 403)
    assert submitted.json()["error"]["message"] == (
        "Only the author of a draft, a partner manager or a lead can submit it for approval."
    )
    assert released.json()["error"]["message"] == (
        "Solo el autor del borrador, un gestor de socios o un líder puede enviarlo a aprobación."
    )
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    assert not desk.incident.events.filter(kind=CaseEvent.Kind.NOTICE_SUBMITTED).exists()
    assert token_client(analyst).post(action(draft, "submit")).status_code == 200


def test_only_the_author_edits_a_draft(analyst, partner_manager):
    desk = notice_desk(severity="sev3")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    change = {"subject": "Visa update", "body_text": "Still investigating."}

    refused = token_client(partner_manager).patch(reverse("api:correspondence-detail", args=[draft.pk]), change)
    edited = token_client(analyst).patch(reverse("api:correspondence-detail", args=[draft.pk]), change)

    assert refused.status_code == 403
    assert edited.status_code == 200
    assert edited.json()["subject"] == f"[{desk.incident.reference}] Visa update"
    assert edited.json()["body_text"] == "Still investigating.\n"


def test_rejecting_needs_a_comment(analyst, lead):
    desk = notice_desk(severity="sev1")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    token_client(analyst).post(action(draft, "submit"))
    client = token_client(lead)

    silent = client.post(action(draft, "reject"), {"comment": " "})
    rejected = client.post(action(draft, "reject"), {"comment": "Add the folio"})

    assert silent.status_code == 400
    assert silent.json()["error"]["fields"] == {"comment": ["Say what needs to change."]}
    assert (rejected.status_code, rejected.json()["status"]) == (200, "draft")


def test_a_failed_notice_is_retried_with_the_same_message_id(analyst, partner_manager):
    desk = notice_desk(severity="sev3")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    Correspondence.objects.filter(pk=draft.pk).update(status=Status.FAILED, attempts=3, last_error="550 mailbox")

    response = token_client(partner_manager).post(action(draft, "retry"))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["message_id"]) == ("queued", draft.message_id)
    assert (response.json()["attempts"], response.json()["last_error"]) == (3, "550 mailbox")


def test_the_incidents_correspondence_is_threaded_per_partner(analyst, partner_manager):
    desk = notice_desk(severity="sev3")
    result = notice_compose(incident=desk.incident, actor=analyst, kind="breakage", partners=[desk.visa, desk.bbva])
    Correspondence.objects.create(
        incident=desk.incident,
        engagement=desk.visa_engagement,
        direction=Correspondence.Direction.INBOUND,
        status=Status.RECEIVED,
        subject="Re: Visa",
        body_text="Received, folio V-1",
        body_html="<p>Received<script>alert(1)</script></p>",
        from_address="support@visa.test",
        message_id="<reply-1@visa.test>",
        received_at=timezone.now(),
    )

    response = token_client(analyst).get(reverse("api:incident-correspondence", args=[desk.incident.reference]))

    assert response.status_code == 200
    body = response.json()
    assert body["in_flight"] is False
    assert [t["partner"]["code"] for t in body["threads"]] == ["bbva-mx", "visa"]
    visa = body["threads"][1]["messages"]
    assert [(m["direction"], m["status"]) for m in visa] == [("out", "draft"), ("in", "received")]
    assert visa[0]["message_id"] == next(d for d in result.drafts if d.engagement == desk.visa_engagement).message_id
    assert visa[1]["body_html"] == "<p>Received</p>"
    assert [len(t["messages"]) for t in body["threads"]] == [2, 2]


def test_the_triage_inbox_lists_unmatched_replies_and_attaches_one(partner_manager, analyst):
    desk = notice_desk(severity="sev3")
    message = Correspondence.objects.create(
        direction=Correspondence.Direction.INBOUND,
        status=Status.RECEIVED,
        subject="Our folio",
        body_text="Folio V-9",
        from_address="support@visa.test",
        message_id="<lost-1@visa.test>",
        received_at=timezone.now(),
    )
    client = token_client(partner_manager)

    inbox = client.get(reverse("api:correspondence-triage"))
    assert [row["id"] for row in inbox.json()["results"]] == [message.pk]
    assert token_client(analyst).get(reverse("api:correspondence-triage")).status_code == 403
    assert token_client(analyst).get(reverse("api:correspondence-detail", args=[message.pk])).status_code == 404

    unknown = client.post(action(message, "attach"), {"incident": "PH-2000-000001"})
    not_engaged = client.post(
        action(message, "attach"), {"incident": desk.incident.reference, "partner": PartnerFactory(code="x").pk}
    )
    attached = client.post(action(message, "attach"), {"incident": desk.incident.reference, "partner": "visa"})

    assert unknown.json()["error"]["fields"] == {"incident": ["There is no incident with this reference."]}
    assert list(not_engaged.json()["error"]["fields"]) == ["partner"]
    assert attached.status_code == 200, attached.json()
    assert (attached.json()["incident"], attached.json()["partner"]["code"]) == (desk.incident.reference, "visa")
    message.refresh_from_db()
    assert message.engagement == desk.visa_engagement
    assert client.get(reverse("api:correspondence-triage")).json()["results"] == []
    assert client.post(action(message, "attach"), {"incident": desk.incident.reference}).status_code == 404


def test_approvals_list_pending_notices_for_leads_only(analyst, lead):
    desk = notice_desk(severity="sev2")
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa]).drafts
    token_client(analyst).post(action(draft, "submit"))

    listed = token_client(lead).get(reverse("api:correspondence-approvals"))

    assert [row["id"] for row in listed.json()["results"]] == [draft.pk]
    assert token_client(analyst).get(reverse("api:correspondence-approvals")).status_code == 403


def test_compose_needs_a_partner_a_known_kind_and_a_visible_incident(analyst, outsider):
    desk = notice_desk(severity="sev3")
    client = token_client(analyst)

    nobody = compose(client, desk.incident, kind="breakage")
    bad_kind = compose(client, desk.incident, kind="poem", all_partners=True)
    unknown = compose(client, desk.incident, kind="breakage", partners=["nope"])

    assert nobody.json()["error"]["fields"] == {"non_field_errors": ["Pick at least one partner, or all of them."]}
    assert list(bad_kind.json()["error"]["fields"]) == ["kind"]
    assert unknown.json()["error"]["fields"] == {"partners.0": ["No partner has the id or code nope."]}
    assert compose(token_client(outsider), desk.incident, kind="breakage", all_partners=True).status_code == 403
    assert (
        compose(client, type(desk.incident)(reference="PH-1999-000001"), kind="breakage", all_partners=True).status_code
        == 404
    )
    assert not Correspondence.objects.exists()


def test_compose_for_all_partners_skips_those_without_contacts(analyst):
    desk = notice_desk(severity="sev3")
    desk.visa.contacts.all().delete()

    response = compose(token_client(analyst), desk.incident, kind="breakage", all_partners=True)

    assert response.status_code == 201
    assert [d["partner"]["code"] for d in response.json()["drafts"]] == ["bbva-mx", "bbva-mx"]
    assert [(s["partner"]["code"], s["code"]) for s in response.json()["skipped"]] == [("visa", "no_contacts")]
