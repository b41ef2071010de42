"""Partner notices on their way out: approval, sending and retry.

A notice needs a lead's approval when its incident was SEV1 or SEV2 at any moment since the
notice was drafted (`Correspondence.peak_severity`, raised by the severity-change service) or is
now: lowering the incident for a moment does not let a SEV1 draft out unapproved. Approving a
notice sends it; the approver is never the author. A draft is submitted for approval by its
author, by anyone who may send notices (partner managers and leads) or by PayHealth itself, so
an analyst submits only their own drafts. Sending needs `cases.send_correspondence`. Queued rows
are handed to Celery after the transaction commits by name (`payhealth.outbox`); delivery itself
is `cases.correspondence.delivery`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import (
    NEEDS_APPROVAL,
    acting_person,
    expect_status,
    locked_notice,
    notice_addressee,
    require_permission,
)
from cases.correspondence.delivery import DELIVER_TASK
from cases.models import Correspondence, Incident
from cases.models.incident import most_severe
from cases.timeline.events import NoticeApproved, NoticeQueued, NoticeRejected, NoticeSubmitted
from payhealth.outbox import publish_on_commit

Status = Correspondence.Status


def notice_approval_severity(row: Correspondence) -> str:
    """The severity a notice answers to: the most severe its incident was since it was drafted, or is now."""
    return most_severe(row.peak_severity, row.incident.severity)


def notice_needs_approval(row: Correspondence) -> bool:
    return notice_approval_severity(row) in NEEDS_APPROVAL


def notice_may_submit(actor, row: Correspondence) -> bool:
    """The draft's author, someone who may send notices (partner managers and leads) or PayHealth itself."""
    if actor is None:
        return True
    if not actor.has_perm("cases.add_correspondence"):
        return False
    return row.created_by_id == actor.pk or actor.has_perm("cases.send_correspondence")


def notice_may_release(actor, row: Correspondence) -> bool:
    """Whether `notices_release` would let `actor` send or submit this draft (pages show the button by it)."""
    if notice_needs_approval(row):
        return notice_may_submit(actor, row)
    return actor is None or actor.has_perm("cases.send_correspondence")


@transaction.atomic
def notice_submit(*, correspondence: Correspondence, actor) -> Correspondence:
    """Ask a lead to approve a draft that needs it (see the module's rule on who may ask)."""
    require_permission(actor, "cases.add_correspondence", _("Submitting notices needs a desk role."))
    row = locked_notice(correspondence)
    if not notice_may_submit(actor, row):
        raise PermissionDenied(_("Only the author of a draft, a partner manager or a lead can submit it for approval."))
    expect_status(row, Status.DRAFT)
    _require_partner_text(row, actor)
    severity = notice_approval_severity(row)
    if severity not in NEEDS_APPROVAL:
        raise ValidationError(
            _("%(severity)s notices need no approval: send it.") % {"severity": severity.upper()},
            code="no_approval_needed",
        )
    row.status = Status.PENDING_APPROVAL
    row.save(update_fields=["status"])
    submitted = NoticeSubmitted(correspondence=row.pk, partner=notice_addressee(row), language=row.language)
    timeline.record(submitted, incident=row.incident, actor=actor)
    return row


@transaction.atomic
def notice_approve(*, correspondence: Correspondence, actor, comment: str = "") -> Correspondence:
    """A lead approves a pending notice, which sends it. The author cannot approve it."""
    if acting_person(actor) is None or not actor.has_perm("cases.approve_correspondence"):
        raise PermissionDenied(_("Only a lead can approve notices."))
    require_permission(
        actor, "cases.send_correspondence", _("Approving sends the notice, which needs the send permission.")
    )
    row = locked_notice(correspondence)
    expect_status(row, Status.PENDING_APPROVAL)
    if row.created_by_id == actor.pk:
        raise PermissionDenied(_("You wrote this notice: another lead must approve it."))
    _require_partner_text(row, actor)
    now = timezone.now()
    row.approved_by, row.approved_at = actor, now
    row.save(update_fields=["approved_by", "approved_at"])
    approved = NoticeApproved(correspondence=row.pk, partner=notice_addressee(row), comment=(comment or "").strip())
    timeline.record(approved, incident=row.incident, actor=actor, at=now)
    _queue(row, actor=actor, now=now)
    return row


@transaction.atomic
def notice_reject(*, correspondence: Correspondence, actor, comment: str) -> Correspondence:
    """A lead sends a pending notice back to draft, saying why. The author cannot reject it."""
    if acting_person(actor) is None or not actor.has_perm("cases.approve_correspondence"):
        raise PermissionDenied(_("Only a lead can reject notices."))
    comment = (comment or "").strip()
    if not comment:
        raise ValidationError({"comment": _("Say what needs to change.")}, code="required")
    row = locked_notice(correspondence)
    expect_status(row, Status.PENDING_APPROVAL)
    if row.created_by_id == actor.pk:
        raise PermissionDenied(_("You wrote this notice: another lead must review it."))
    row.status = Status.DRAFT
    row.save(update_fields=["status"])
    rejected = NoticeRejected(correspondence=row.pk, partner=notice_addressee(row), comment=comment)
    timeline.record(rejected, incident=row.incident, actor=actor)
    return row


@transaction.atomic
def notice_send(*, correspondence: Correspondence, actor) -> Correspondence:
    """Queue a draft for delivery. SEV1/SEV2 notices are sent by approving them instead."""
    return notices_send(correspondences=[correspondence], actor=actor)[0]


@transaction.atomic
def notices_send(*, correspondences: Iterable[Correspondence], actor) -> list[Correspondence]:
    """Queue several drafts at once (the bulk action: every partner of an incident), all or none.

    Their incidents are locked, then the notices, in id order; the delivery tasks are published
    together after the commit.
    """
    require_permission(actor, "cases.send_correspondence", _("Only partner managers and leads can send notices."))
    ids = sorted({correspondence.pk for correspondence in correspondences})
    incident_ids = Correspondence.objects.filter(pk__in=ids).values_list("incident_id", flat=True).distinct()
    incidents = {
        incident.pk: incident
        for incident in Incident.objects.select_for_update()
        .filter(pk__in=list(incident_ids))
        .defer("summary", "root_cause", "search_vector")
        .order_by("pk")
    }
    rows = list(
        Correspondence.objects.select_for_update(of=("self",))
        .select_related("engagement__partner", "merchant")
        .filter(pk__in=ids, direction=Correspondence.Direction.OUTBOUND, incident_id__in=list(incidents))
        .order_by("pk")
    )
    if len(rows) != len(ids):
        raise ValidationError(_("Only outbound notices of an incident can be changed here."), code="not_a_notice")
    for row in rows:
        row.incident = incidents[row.incident_id]
        expect_status(row, Status.DRAFT)
        _require_partner_text(row, actor)
        if notice_needs_approval(row):
            raise ValidationError(_approval_required(row), code="approval_required")
    now = timezone.now()
    for row in rows:
        _queue(row, actor=actor, now=now, publish=False)
    _publish_on_commit([row.pk for row in rows])
    return rows


# Notices about something else than the incident's outage: a billing dispute speaks of the charges.
PARTNER_TEXT_NOT_USED = ("billing_discrepancy",)


def partner_text_missing(incident: Incident, language: str) -> str:
    """Why a notice in `language` cannot be sent yet: the incident's partner-facing title or summary
    in that language is empty ("" when both are there)."""
    missing = incident.missing_partner_text(language)
    if not missing:
        return ""
    names = ", ".join(str(Incident._meta.get_field(field).verbose_name) for field in missing)
    return _("Before this notice can be sent, fill in the incident's %(fields)s.") % {"fields": names}


def _require_partner_text(row: Correspondence, actor) -> None:
    """A person sends a notice only with the title and summary partners read in its language.
    PayHealth itself (an SLA escalation) asks `partner_text_missing` before it releases a draft,
    and leaves the draft for a person when the text is missing (`cases.sla.notify.sla_escalate`)."""
    if acting_person(actor) is None or row.kind in PARTNER_TEXT_NOT_USED:
        return
    reason = partner_text_missing(row.incident, row.language)
    if reason:
        raise ValidationError(reason, code="partner_text_missing")


def _approval_required(row: Correspondence) -> str:
    severity = notice_approval_severity(row)
    if severity == row.incident.severity:
        return _("%(severity)s notices are sent when a lead approves them: submit it for approval.") % {
            "severity": severity.upper()
        }
    return _(
        "The incident was %(severity)s after this notice was drafted, so a lead approves it before it is sent: "
        "submit it for approval."
    ) % {"severity": severity.upper()}


def notice_release(*, correspondence: Correspondence, actor) -> Correspondence:
    """Send a draft now, or submit it for approval when it needs one."""
    return notices_release(correspondences=[correspondence], actor=actor)[0]


@transaction.atomic
def notices_release(*, correspondences: Iterable[Correspondence], actor) -> list[Correspondence]:
    """The review page's one button: send the drafts, and submit those that need approval; all or none.

    Which way each one goes is decided with its incident locked, so a severity change cannot slip
    in between the decision and the send.
    """
    given = list(correspondences)
    ids = [row.pk for row in given]
    incident_ids = sorted({row.incident_id for row in given if row.incident_id is not None})
    list(Incident.objects.select_for_update().filter(pk__in=incident_ids).order_by("pk").values_list("pk", flat=True))
    current = {
        row.pk: row
        for row in Correspondence.objects.select_related("incident").filter(pk__in=ids, incident__isnull=False)
    }
    needing = {pk for pk, row in current.items() if notice_needs_approval(row)}
    to_send = [row for row in given if row.pk not in needing]
    released = {row.pk: notice_submit(correspondence=row, actor=actor) for row in given if row.pk in needing}
    if to_send:
        released.update((row.pk, row) for row in notices_send(correspondences=to_send, actor=actor))
    return [released[pk] for pk in ids]


@transaction.atomic
def notice_retry(*, correspondence: Correspondence, actor) -> Correspondence:
    """Queue a failed notice again, with the same Message-ID (the error stays until it is sent)."""
    require_permission(actor, "cases.send_correspondence", _("Only partner managers and leads can send notices."))
    row = locked_notice(correspondence)
    expect_status(row, Status.FAILED)
    _queue(row, actor=actor, now=timezone.now(), retry=True)
    return row


def _queue(row: Correspondence, *, actor, now, retry: bool = False, publish: bool = True) -> None:
    row.status = Status.QUEUED
    row.queued_at = now
    row.next_attempt_at = None
    row.sent_by = acting_person(actor)
    row.save(update_fields=["status", "queued_at", "next_attempt_at", "sent_by"])
    queued = NoticeQueued(
        correspondence=row.pk, partner=notice_addressee(row), language=row.language, retry=retry, requeued=""
    )
    timeline.record(queued, incident=row.incident, actor=actor, at=now)
    if publish:
        _publish_on_commit([row.pk])


def _publish_on_commit(correspondence_ids: list[int]) -> None:
    publish_on_commit(DELIVER_TASK, correspondence_ids)
