"""Attach the post-incident report, as a PDF in the notice's language, to a draft notice.

One service for the page and the API: only a draft, only by someone who may edit it (its author;
a draft PayHealth composed by itself, anyone with a desk role who may edit notices), only for a
partner engaged on the incident (not one marked "not involved"). Attaching again replaces the
notice's earlier copy of the report (same file name), so a draft carries one, the latest. The PDF
is made before the notice is locked (rendering takes a moment); the checks run again under the lock.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import expect_status, locked_notice, require_permission
from cases.models import Attachment, Correspondence, PartnerEngagement
from cases.pir.render import report_pdf
from cases.pir.report import incident_report, report_filename
from cases.timeline.events import ReportAttached

Status = Correspondence.Status
PDF = "application/pdf"


def _check(row: Correspondence, actor) -> None:
    if row.direction != Correspondence.Direction.OUTBOUND or row.incident_id is None:
        raise ValidationError(_("Only outbound notices of an incident can carry the report."), code="not_a_notice")
    expect_status(row, Status.DRAFT)
    if row.created_by_id is not None and row.created_by_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the author of a notice can change it."))
    engagement = row.engagement
    if engagement is None or engagement.partner_status == PartnerEngagement.PartnerStatus.NOT_INVOLVED:
        raise ValidationError(
            _("The report goes only to a partner engaged on the incident."), code="partner_not_engaged"
        )


def notice_attach_report(*, correspondence: Correspondence, actor) -> Attachment:
    """The report's PDF, in the notice's language, stored with the draft and recorded on the timeline."""
    require_permission(actor, "cases.change_correspondence", _("Attaching the report needs a desk role."))
    current = Correspondence.objects.select_related("incident", "engagement__partner").get(pk=correspondence.pk)
    _check(current, actor)
    language = current.language
    content = report_pdf(incident_report(incident=current.incident, language=language))
    filename = report_filename(current.incident.reference, language)
    with transaction.atomic():
        row = locked_notice(current)
        _check(row, actor)
        if row.language != language:  # changed while the PDF was made: never attach the other language
            raise ValidationError(_("The notice changed meanwhile; try again."), code="changed")
        row.attachments.filter(filename=filename, content_type=PDF).delete()
        attachment = Attachment.kept(row, filename=filename, content_type=PDF, content=content)
        attached = ReportAttached(
            correspondence=row.pk, partner=row.engagement.partner.name, language=language, filename=filename
        )
        timeline.record(attached, incident=row.incident, actor=actor)
    return attachment
