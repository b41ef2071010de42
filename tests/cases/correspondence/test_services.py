"""Composing, editing, approving, sending and retrying notices; the stuck-notice sweep."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from cases.correspondence.compose import notice_compose, notice_edit
from cases.correspondence.delivery import DELIVER_TASK, correspondence_requeue_stuck
from cases.correspondence.dispatch import (
    notice_approve,
    notice_reject,
    notice_release,
    notice_retry,
    notice_send,
    notice_submit,
    notices_send,
)
from cases.models import CaseEvent, Correspondence, PartnerEngagement
from cases.services import incident_change_severity
from partners.models import NoticeTemplate, PartnerContact
from tests.cases.correspondence.data import drafts_by_address, notice_desk
from tests.factories import PartnerFactory, UserFactory
from tests.support import published

Status = Correspondence.Status
MESSAGE_ID = re.compile(r"^<ph\.PH-2026-\d{6}\.[0-9a-f]{32}@localhost>$")


@pytest.fixture
def desk(db, analyst):
    return notice_desk(owner=analyst)


@pytest.fixture
def other_lead(db):
    return UserFactory(username="leo", role="lead")


def notice_events(incident, *kinds):
    return list(incident.events.filter(kind__in=kinds).order_by("id").values_list("kind", "data"))


def compose_breakage(desk, actor, **kwargs):
    return notice_compose(incident=desk.incident, actor=actor, kind="breakage", **kwargs)


# --- compose ----------------------------------------------------------------------------------


def test_compose_drafts_one_notice_per_partner_and_language_group(desk, analyst):
    result = compose_breakage(desk, analyst, partners=[desk.bbva, desk.visa])

    drafts = drafts_by_address(result.drafts)
    assert result.skipped == []
    assert sorted(drafts) == [("intl@bbva.test",), ("operacion@bbva.test",), ("support@visa.test",)]
    spanish, english, visa = (
        drafts[("operacion@bbva.test",)],
        drafts[("intl@bbva.test",)],
        drafts[("support@visa.test",)],
    )
    assert (spanish.language, english.language, visa.language) == ("es", "en", "en")
    assert [d.engagement for d in (spanish, english, visa)] == [desk.bbva_engagement] * 2 + [desk.visa_engagement]
    for draft in drafts.values():
        assert draft.status == Status.DRAFT
        assert draft.created_by == analyst
        assert draft.kind == "breakage"
        assert draft.template == NoticeTemplate.objects.get(
            kind="breakage", language=draft.language, partner_kind=draft.engagement.partner.kind, active=True
        )
        assert draft.template_version == draft.template.version
        assert draft.subject.startswith(f"[{desk.incident.reference}] SEV3 ")
        assert MESSAGE_ID.match(draft.message_id)
        assert (draft.in_reply_to, draft.references) == ("", "")
        assert draft.from_address == "PayHealth Operations <payhealth@localhost>"
    assert "Aviso de falla" in spanish.subject
    assert "Estimado equipo de BBVA México:" in spanish.body_text
    assert "Su folio: MX-7781" in spanish.body_text
    assert "Hello BBVA México team," in english.body_text
    assert "- Start: Friday 6 Mar 2026, 10:00 EST (US Eastern time, UTC−05:00) / 2026-03-06 15:00 UTC" in visa.body_text
    assert "- Inicio: viernes 06/03/2026, 09:00 h, hora del centro de México (UTC−06:00)" in spanish.body_text
    assert len({d.message_id for d in drafts.values()}) == 3


def test_compose_records_a_drafted_event_per_notice(desk, analyst):
    result = compose_breakage(desk, analyst, partners=[desk.bbva])

    events = notice_events(desk.incident, CaseEvent.Kind.NOTICE_DRAFTED)
    assert [data["correspondence"] for _, data in events] == [d.pk for d in result.drafts]
    assert events[0][1] == {
        "correspondence": result.drafts[0].pk,
        "notice_kind": "breakage",
        "partner": "BBVA México",
        "language": "es",
        "to": ["operacion@bbva.test"],
        "template_version": 1,
    }


def test_only_active_contacts_that_receive_notices_at_the_engagement_level_are_addressed(desk, analyst):
    desk.bbva_engagement.escalation_level = 2
    desk.bbva_engagement.save()

    result = compose_breakage(desk, analyst, partners=[desk.bbva])

    assert sorted(tuple(d.to_addresses) for d in result.drafts) == [
        ("intl@bbva.test",),
        ("operacion@bbva.test", "gerencia@bbva.test"),
    ]


def test_a_contact_without_language_reads_the_partners_and_a_partner_without_one_english(desk, analyst):
    desk.bbva_intl.language = ""
    desk.bbva_intl.save()

    result = compose_breakage(desk, analyst, partners=[desk.bbva])

    assert [(d.language, d.to_addresses) for d in result.drafts] == [("es", ["intl@bbva.test", "operacion@bbva.test"])]


def test_a_partner_with_no_eligible_contact_or_no_engagement_is_reported_not_skipped_silently(desk, analyst):
    PartnerContact.objects.filter(partner=desk.visa).update(receives_notices=False)
    stranger = PartnerFactory(name="Prosa")

    result = compose_breakage(desk, analyst, partners=[desk.visa, stranger, desk.bbva])

    assert [(s.partner, s.code) for s in result.skipped] == [(desk.visa, "no_contacts"), (stranger, "not_engaged")]
    assert result.skipped[0].reason == "Visa has no active contact that receives notices at escalation level 1."
    assert result.skipped[1].reason == f"Prosa is not engaged on {desk.incident.reference}."
    assert {d.engagement.partner for d in result.drafts} == {desk.bbva}


def test_bulk_compose_notifies_every_engaged_partner_except_those_not_involved(desk, analyst):
    third = PartnerFactory(name="Banorte", language="es")
    PartnerContact.objects.create(partner=third, name="Mesa Banorte", email="mesa@banorte.test")
    PartnerEngagement.objects.create(
        incident=desk.incident, partner=third, partner_status=PartnerEngagement.PartnerStatus.NOT_INVOLVED
    )

    result = compose_breakage(desk, analyst)

    assert sorted(d.engagement.partner.name for d in result.drafts) == ["BBVA México", "BBVA México", "Visa"]
    assert result.skipped == []


def test_a_missing_spanish_template_falls_back_to_english(desk, analyst):
    NoticeTemplate.objects.filter(kind="rca_request", language="es").update(active=False)

    result = notice_compose(incident=desk.incident, actor=analyst, kind="rca_request", partners=[desk.bbva])

    assert [d.language for d in result.drafts] == ["en", "en"]
    assert all(d.template.language == "en" for d in result.drafts)


def test_no_template_at_all_is_refused(desk, analyst):
    NoticeTemplate.objects.filter(kind="follow_up").update(active=False)

    with pytest.raises(ValidationError, match="There is no active Follow-up template"):
        notice_compose(incident=desk.incident, actor=analyst, kind="follow_up", partners=[desk.visa])

    assert not Correspondence.objects.exists()


def test_someone_without_a_desk_role_cannot_draft(desk, outsider):
    with pytest.raises(PermissionDenied):
        compose_breakage(desk, outsider)

    assert not Correspondence.objects.exists()
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_DRAFTED) == []


# --- threading --------------------------------------------------------------------------------


def test_a_follow_up_replies_to_the_previous_message_of_that_partner_thread(desk, analyst, partner_manager):
    first = compose_breakage(desk, analyst, partners=[desk.bbva])
    for draft in first.drafts:
        notice_send(correspondence=draft, actor=partner_manager)
    spanish_breakage = next(d for d in first.drafts if d.language == "es")
    english_breakage = next(d for d in first.drafts if d.language == "en")
    reply = Correspondence.objects.create(
        incident=desk.incident,
        engagement=desk.bbva_engagement,
        direction=Correspondence.Direction.INBOUND,
        language="es",
        subject=f"RE: {spanish_breakage.subject}",
        status=Status.RECEIVED,
        message_id="<abc123@mail.bbva.test>",
        in_reply_to=spanish_breakage.message_id,
        references=spanish_breakage.message_id,
        received_at=timezone.now(),
    )

    update = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.bbva])

    spanish, english = (next(d for d in update.drafts if d.language == lang) for lang in ("es", "en"))
    assert (spanish.in_reply_to, spanish.references) == (
        reply.message_id,
        f"{spanish_breakage.message_id} {reply.message_id}",
    )
    assert (english.in_reply_to, english.references) == (english_breakage.message_id, english_breakage.message_id)
    assert spanish.subject.startswith(f"[{desk.incident.reference}] Actualización: ")


def test_drafts_and_failed_notices_are_not_part_of_the_thread(desk, analyst):
    first = compose_breakage(desk, analyst, partners=[desk.visa])
    Correspondence.objects.filter(pk=first.drafts[0].pk).update(status=Status.FAILED)

    follow_up = notice_compose(incident=desk.incident, actor=analyst, kind="follow_up", partners=[desk.visa])

    assert (follow_up.drafts[0].in_reply_to, follow_up.drafts[0].references) == ("", "")


# --- edits ------------------------------------------------------------------------------------


def test_an_edit_is_kept_and_the_subject_token_cannot_be_lost(desk, analyst, partner_manager):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]

    notice_edit(correspondence=draft, actor=analyst, subject="Urgent: debit approvals", body_text="Edited body\n\n")
    notice_send(correspondence=draft, actor=partner_manager)

    draft.refresh_from_db()
    assert draft.subject == f"[{desk.incident.reference}] Urgent: debit approvals"
    assert draft.body_text == "Edited body\n"
    assert draft.status == Status.QUEUED


def test_only_the_author_edits_a_draft_and_only_while_it_is_a_draft(desk, analyst, partner_manager):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    original = (draft.subject, draft.body_text)

    with pytest.raises(PermissionDenied):
        notice_edit(correspondence=draft, actor=partner_manager, subject="x", body_text="y")
    notice_send(correspondence=draft, actor=partner_manager)
    with pytest.raises(ValidationError, match="This notice is Queued"):
        notice_edit(correspondence=draft, actor=analyst, subject="x", body_text="y")

    draft.refresh_from_db()
    assert (draft.subject, draft.body_text) == original


# --- approval and sending ---------------------------------------------------------------------


@pytest.fixture
def sev1_draft(desk, analyst):
    desk.incident.severity = "sev1"
    desk.incident.save()
    return compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]


def test_a_sev1_notice_waits_for_a_lead_and_approving_sends_it(
    desk, sev1_draft, analyst, lead, django_capture_on_commit_callbacks
):
    notice_submit(correspondence=sev1_draft, actor=analyst)
    sev1_draft.refresh_from_db()
    assert sev1_draft.status == Status.PENDING_APPROVAL

    with django_capture_on_commit_callbacks() as callbacks:
        notice_approve(correspondence=sev1_draft, actor=lead, comment="Go")

    sev1_draft.refresh_from_db()
    assert (sev1_draft.status, sev1_draft.approved_by, sev1_draft.sent_by) == (Status.QUEUED, lead, lead)
    assert sev1_draft.approved_at is not None and sev1_draft.queued_at is not None
    assert published(callbacks, DELIVER_TASK) == [[sev1_draft.pk]]
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_APPROVED, CaseEvent.Kind.NOTICE_QUEUED) == [
        ("notice_approved", {"correspondence": sev1_draft.pk, "partner": "Visa", "comment": "Go"}),
        (
            "notice_queued",
            {"correspondence": sev1_draft.pk, "partner": "Visa", "language": "en", "retry": False, "requeued": ""},
        ),
    ]


def test_a_sev1_notice_cannot_be_sent_without_approval(sev1_draft, partner_manager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError, match="submit it"):
        notice_send(correspondence=sev1_draft, actor=partner_manager)

    sev1_draft.refresh_from_db()
    assert sev1_draft.status == Status.DRAFT
    assert callbacks == []


def test_a_lead_cannot_approve_their_own_notice(desk, lead, django_capture_on_commit_callbacks):
    desk.incident.severity = "sev2"
    desk.incident.save()
    draft = compose_breakage(desk, lead, partners=[desk.visa]).drafts[0]
    notice_submit(correspondence=draft, actor=lead)

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(PermissionDenied, match="another lead"):
        notice_approve(correspondence=draft, actor=lead)

    draft.refresh_from_db()
    assert (draft.status, draft.approved_by) == (Status.PENDING_APPROVAL, None)
    assert callbacks == []
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_APPROVED, CaseEvent.Kind.NOTICE_QUEUED) == []


@pytest.mark.parametrize("role", ["analyst", "partner_manager"])
def test_only_leads_approve(request, sev1_draft, analyst, role):
    notice_submit(correspondence=sev1_draft, actor=analyst)
    actor = request.getfixturevalue(role) if role != "analyst" else UserFactory(username="ana2", role="analyst")

    with pytest.raises(PermissionDenied):
        notice_approve(correspondence=sev1_draft, actor=actor)

    sev1_draft.refresh_from_db()
    assert sev1_draft.status == Status.PENDING_APPROVAL


def test_a_rejection_needs_a_comment_and_returns_the_notice_to_its_author(desk, sev1_draft, analyst, lead):
    notice_submit(correspondence=sev1_draft, actor=analyst)

    with pytest.raises(ValidationError):
        notice_reject(correspondence=sev1_draft, actor=lead, comment="  ")
    notice_reject(correspondence=sev1_draft, actor=lead, comment="Add the BIN ranges")

    sev1_draft.refresh_from_db()
    assert sev1_draft.status == Status.DRAFT
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_REJECTED) == [
        ("notice_rejected", {"correspondence": sev1_draft.pk, "partner": "Visa", "comment": "Add the BIN ranges"})
    ]
    notice_edit(correspondence=sev1_draft, actor=analyst, subject=sev1_draft.subject, body_text="With BIN 415231")


def test_sev3_notices_need_no_approval(desk, analyst):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]

    with pytest.raises(ValidationError, match="SEV3 notices need no approval"):
        notice_submit(correspondence=draft, actor=analyst)


# --- the approval follows the notice, not the incident's severity of the moment -----------------


def grade(desk, actor, *severities):
    for severity in severities:
        incident_change_severity(incident=desk.incident, actor=actor, severity=severity, reason="Re-graded")
    desk.incident.refresh_from_db()


def test_lowering_the_incident_does_not_let_a_sev1_draft_skip_its_approval(
    desk, sev1_draft, analyst, partner_manager, django_capture_on_commit_callbacks
):
    grade(desk, analyst, "sev3")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as refusal:
        notice_send(correspondence=sev1_draft, actor=partner_manager)
    grade(desk, analyst, "sev1")  # ... and raising it back afterwards changes nothing

    assert refusal.value.code == "approval_required"
    assert "SEV1" in refusal.value.messages[0] and "submit it for approval" in refusal.value.messages[0]
    sev1_draft.refresh_from_db()
    assert (sev1_draft.status, sev1_draft.queued_at, sev1_draft.sent_by) == (Status.DRAFT, None, None)
    assert callbacks == []
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_QUEUED) == []


def test_a_draft_is_held_to_the_highest_severity_the_incident_had_since_it_was_drafted(desk, analyst, partner_manager):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    assert draft.peak_severity == "sev3"

    grade(desk, analyst, "sev2", "sev4")

    draft.refresh_from_db()
    assert draft.peak_severity == "sev2"
    with pytest.raises(ValidationError, match="submit it for approval"):
        notices_send(correspondences=[draft], actor=partner_manager)
    notice_release(correspondence=draft, actor=partner_manager)
    draft.refresh_from_db()
    assert draft.status == Status.PENDING_APPROVAL


def test_a_draft_made_after_the_incident_was_lowered_needs_no_approval(desk, analyst, partner_manager):
    grade(desk, analyst, "sev1", "sev3")
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]

    notice_send(correspondence=draft, actor=partner_manager)

    draft.refresh_from_db()
    assert (draft.peak_severity, draft.status) == ("sev3", Status.QUEUED)


def test_raising_the_severity_raises_only_the_notices_not_yet_on_their_way(desk, analyst, partner_manager):
    queued, pending, draft = (compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0] for _ in range(3))
    notice_send(correspondence=queued, actor=partner_manager)
    grade(desk, analyst, "sev2")
    notice_submit(correspondence=pending, actor=analyst)

    grade(desk, analyst, "sev1")

    peaks = dict(Correspondence.objects.values_list("pk", "peak_severity"))
    assert (peaks[queued.pk], peaks[pending.pk], peaks[draft.pk]) == ("sev3", "sev1", "sev1")


def test_the_release_of_a_draft_lowered_since_is_a_submission(desk, sev1_draft, analyst):
    grade(desk, analyst, "sev4")

    notice_release(correspondence=sev1_draft, actor=analyst)

    sev1_draft.refresh_from_db()
    assert sev1_draft.status == Status.PENDING_APPROVAL
    assert len(notice_events(desk.incident, CaseEvent.Kind.NOTICE_SUBMITTED)) == 1


def test_a_sev3_draft_of_an_incident_raised_to_sev1_cannot_be_sent_by_a_concurrent_release(
    desk, analyst, partner_manager
):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    stale = Correspondence.objects.select_related("incident").get(pk=draft.pk)  # read before the raise
    grade(desk, analyst, "sev1")

    notice_release(correspondence=stale, actor=partner_manager)

    draft.refresh_from_db()
    assert draft.status == Status.PENDING_APPROVAL


# --- who may submit a draft for approval ------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("author", True), ("other_analyst", False), ("partner_manager", True), ("lead", True), ("outsider", False)],
)
def test_who_may_submit_someone_elses_sev1_draft(request, desk, sev1_draft, analyst, role, allowed):
    actor = {
        "author": analyst,
        "other_analyst": UserFactory(username="andres", role="analyst"),
    }.get(role) or request.getfixturevalue(role)

    if allowed:
        notice_submit(correspondence=sev1_draft, actor=actor)
    else:
        with pytest.raises(PermissionDenied):
            notice_submit(correspondence=sev1_draft, actor=actor)
        with pytest.raises(PermissionDenied):
            notice_release(correspondence=sev1_draft, actor=actor)

    sev1_draft.refresh_from_db()
    assert sev1_draft.status == (Status.PENDING_APPROVAL if allowed else Status.DRAFT)
    assert len(notice_events(desk.incident, CaseEvent.Kind.NOTICE_SUBMITTED)) == (1 if allowed else 0)


def test_an_analyst_cannot_submit_a_draft_payhealth_composed_but_a_partner_manager_can(desk, analyst, partner_manager):
    grade(desk, analyst, "sev2")
    (draft, *_rest) = compose_breakage(desk, None, partners=[desk.visa]).drafts

    with pytest.raises(PermissionDenied):
        notice_submit(correspondence=draft, actor=analyst)
    notice_submit(correspondence=draft, actor=partner_manager)

    draft.refresh_from_db()
    assert draft.status == Status.PENDING_APPROVAL


@pytest.mark.parametrize(
    ("role", "allowed"), [("analyst", False), ("partner_manager", True), ("lead", True), ("outsider", False)]
)
def test_who_may_send(request, desk, analyst, role, allowed, django_capture_on_commit_callbacks):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    actor = request.getfixturevalue(role)

    with django_capture_on_commit_callbacks() as callbacks:
        if allowed:
            notice_send(correspondence=draft, actor=actor)
        else:
            with pytest.raises(PermissionDenied):
                notice_send(correspondence=draft, actor=actor)

    draft.refresh_from_db()
    assert draft.status == (Status.QUEUED if allowed else Status.DRAFT)
    assert len(callbacks) == (1 if allowed else 0)
    assert len(notice_events(desk.incident, CaseEvent.Kind.NOTICE_QUEUED)) == (1 if allowed else 0)


def test_the_bulk_action_queues_every_partners_notice_and_publishes_them_together(
    desk, analyst, partner_manager, django_capture_on_commit_callbacks
):
    drafts = compose_breakage(desk, analyst).drafts

    with django_capture_on_commit_callbacks() as callbacks:
        queued = notices_send(correspondences=drafts, actor=partner_manager)

    assert {row.status for row in queued} == {Status.QUEUED}
    assert Correspondence.objects.filter(status=Status.QUEUED).count() == 3
    assert published(callbacks, DELIVER_TASK) == [sorted(d.pk for d in drafts)]
    assert len(notice_events(desk.incident, CaseEvent.Kind.NOTICE_QUEUED)) == 3


def test_the_bulk_action_is_all_or_nothing(desk, analyst, partner_manager, django_capture_on_commit_callbacks):
    drafts = compose_breakage(desk, analyst).drafts
    notice_send(correspondence=drafts[1], actor=partner_manager)

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError, match="Queued"):
        notices_send(correspondences=drafts, actor=partner_manager)

    assert [Correspondence.objects.get(pk=d.pk).status for d in drafts] == [Status.DRAFT, Status.QUEUED, Status.DRAFT]
    assert callbacks == []


def test_release_sends_a_sev3_notice_and_submits_a_sev2_one(desk, analyst, partner_manager):
    sev3 = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    notice_release(correspondence=sev3, actor=partner_manager)
    desk.incident.severity = "sev2"
    desk.incident.save()
    sev2 = compose_breakage(desk, analyst, partners=[desk.visa], confirm_repeat=True).drafts[0]
    notice_release(correspondence=sev2, actor=analyst)

    sev3.refresh_from_db()
    sev2.refresh_from_db()
    assert (sev3.status, sev2.status) == (Status.QUEUED, Status.PENDING_APPROVAL)


def test_retry_queues_a_failed_notice_again_with_the_same_message_id(
    desk, analyst, partner_manager, django_capture_on_commit_callbacks
):
    draft = compose_breakage(desk, analyst, partners=[desk.visa]).drafts[0]
    notice_send(correspondence=draft, actor=partner_manager)
    Correspondence.objects.filter(pk=draft.pk).update(status=Status.FAILED, last_error="550 5.1.1 no such user")

    with pytest.raises(PermissionDenied):
        notice_retry(correspondence=draft, actor=analyst)
    with django_capture_on_commit_callbacks() as callbacks:
        notice_retry(correspondence=draft, actor=partner_manager)

    retried = Correspondence.objects.get(pk=draft.pk)
    assert (retried.status, retried.message_id) == (Status.QUEUED, draft.message_id)
    assert published(callbacks, DELIVER_TASK) == [[draft.pk]]
    assert notice_events(desk.incident, CaseEvent.Kind.NOTICE_QUEUED)[-1][1]["retry"] is True
    with pytest.raises(ValidationError):
        notice_retry(correspondence=draft, actor=partner_manager)  # queued, not failed


# --- the sweep --------------------------------------------------------------------------------


def test_the_sweep_requeues_notices_stuck_in_queued_or_interrupted_while_sending(
    desk, analyst, partner_manager, django_capture_on_commit_callbacks
):
    drafts = compose_breakage(desk, analyst).drafts
    for draft in drafts:
        notice_send(correspondence=draft, actor=partner_manager)
    stuck, fresh, interrupted = drafts
    now = timezone.now()
    Correspondence.objects.filter(pk=stuck.pk).update(queued_at=now - timedelta(minutes=6))
    Correspondence.objects.filter(pk=interrupted.pk).update(
        status=Status.SENDING, queued_at=now - timedelta(minutes=20), sent_at=now - timedelta(minutes=7)
    )
    sending_recently = compose_breakage(desk, analyst, partners=[desk.visa], confirm_repeat=True).drafts[0]
    Correspondence.objects.filter(pk=sending_recently.pk).update(
        status=Status.SENDING, queued_at=now - timedelta(hours=1), sent_at=now - timedelta(seconds=20)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requeued = correspondence_requeue_stuck()

    assert requeued == 2
    rows = {row.pk: row for row in Correspondence.objects.all()}
    assert [rows[r.pk].status for r in (stuck, fresh, interrupted, sending_recently)] == [
        Status.QUEUED,
        Status.QUEUED,
        Status.QUEUED,
        Status.SENDING,
    ]
    assert rows[interrupted.pk].sent_at is None
    assert (rows[interrupted.pk].possible_duplicates, rows[stuck.pk].possible_duplicates) == (1, 0)
    assert rows[stuck.pk].queued_at > now
    assert len(callbacks) == 1
    queued = notice_events(desk.incident, CaseEvent.Kind.NOTICE_QUEUED)
    reasons = {data["correspondence"]: data["requeued"] for _, data in queued if data["requeued"]}
    assert (reasons[stuck.pk], reasons[interrupted.pk]) == ("stuck_in_queue", "interrupted_while_sending")
    assert fresh.pk not in reasons


def test_the_sweep_works_in_batches(desk, analyst, partner_manager, django_capture_on_commit_callbacks):
    for _round in range(3):
        for draft in compose_breakage(desk, analyst, confirm_repeat=True).drafts:
            notice_send(correspondence=draft, actor=partner_manager)
    Correspondence.objects.update(queued_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        requeued = correspondence_requeue_stuck(batch_size=4)

    assert requeued == 9
    assert len(callbacks) == 3  # batches of 4, 4 and 1, each committed on its own
    assert correspondence_requeue_stuck(batch_size=4) == 0
