"""Partner notices on their way out: approval, sending and retry.

SEV1 and SEV2 notices wait for a lead's approval, and approving one sends it; the approver is
never the author. Sending needs `cases.send_correspondence` (partner managers and leads);
analysts draft and submit. Queued rows are handed to Celery after the transaction commits
by name (`payhealth.outbox`); delivery itself is `cases.correspondence.delivery`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import NEEDS_APPROVAL, acting_person, expect_status, locked_notice, require_permission
from cases.correspondence.delivery import DELIVER_TASK
from cases.models import Correspondence, Incident
from cases.timeline.events import NoticeApproved, NoticeQueued, NoticeRejected, NoticeSubmitted
from payhealth.outbox import publish_on_commit

Status = Correspondence.Status


@transaction.atomic
def notice_submit(*, correspondence: Correspondence, actor) -> Correspondence:
    """Ask a lead to approve a SEV1/SEV2 draft."""
    require_permission(actor, "cases.add_correspondence", _("Submitting notices needs a desk role."))
    row = locked_notice(correspondence)
    expect_status(row, Status.DRAFT)
    if row.incident.severity not in NEEDS_APPROVAL:
        raise ValidationError(
            _("%(severity)s notices need no approval: send it.") % {"severity": row.incident.severity.upper()},
            code="no_approval_needed",
        )
    row.status = Status.PENDING_APPROVAL
    row.save(update_fields=["status"])
    submitted = NoticeSubmitted(correspondence=row.pk, partner=row.engagement.partner.name, language=row.language)
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
    now = timezone.now()
    row.approved_by, row.approved_at = actor, now
    row.save(update_fields=["approved_by", "approved_at"])
    approved = NoticeApproved(
        correspondence=row.pk, partner=row.engagement.partner.name, comment=(comment or "").strip()
    )
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
    rejected = NoticeRejected(correspondence=row.pk, partner=row.engagement.partner.name, comment=comment)
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
        .select_related("engagement__partner")
        .filter(pk__in=ids, direction=Correspondence.Direction.OUTBOUND, incident_id__in=list(incidents))
        .order_by("pk")
    )
    if len(rows) != len(ids):
        raise ValidationError(_("Only outbound notices of an incident can be changed here."), code="not_a_notice")
    for row in rows:
        row.incident = incidents[row.incident_id]
        expect_status(row, Status.DRAFT)
        if row.incident.severity in NEEDS_APPROVAL:
            raise ValidationError(
                _("%(severity)s notices are sent when a lead approves them: submit it for approval.")
                % {"severity": row.incident.severity.upper()},
                code="approval_required",
            )
    now = timezone.now()
    for row in rows:
        _queue(row, actor=actor, now=now, publish=False)
    _publish_on_commit([row.pk for row in rows])
    return rows


def notice_release(*, correspondence: Correspondence, actor) -> Correspondence:
    """The compose page's one button: send now, or submit for approval when the severity needs it."""
    if correspondence.incident.severity in NEEDS_APPROVAL:
        return notice_submit(correspondence=correspondence, actor=actor)
    return notice_send(correspondence=correspondence, actor=actor)


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
    row.sent_by = acting_person(actor)
    row.save(update_fields=["status", "queued_at", "sent_by"])
    queued = NoticeQueued(
        correspondence=row.pk, partner=row.engagement.partner.name, language=row.language, retry=retry, requeued=""
    )
    timeline.record(queued, incident=row.incident, actor=actor, at=now)
    if publish:
        _publish_on_commit([row.pk])


def _publish_on_commit(correspondence_ids: list[int]) -> None:
    publish_on_commit(DELIVER_TASK, correspondence_ids)
