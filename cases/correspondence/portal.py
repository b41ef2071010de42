"""The partner's answers through a notice's acknowledgement link, and the desk revoking a link.

`portal_answer` is the one write path of the public acknowledgement page: it records the answer
as a received message on the partner's thread (channel "portal", in the page's language, with
the file if one was sent) through the same steps as a mailed reply
(`cases.correspondence.inbound.store`): the reply goes on the timeline, the SLA clocks hear of it
there (the partner's acknowledge clock stops at the answer's time) and the partner's first real
answer acknowledges. The folio and ETA given are set on the engagement, and the timeline says
which contact answered and what changed. All in one transaction: nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import locked_notice, require_permission
from cases.correspondence.context import zone_label
from cases.correspondence.email import new_message_id, subject_with_token, thread_references
from cases.correspondence.inbound.store import _add_to_thread, _locked_incident
from cases.models import AckLink, Attachment, Correspondence, PartnerEngagement
from cases.timeline.events import AckLinkRevoked, PartnerPortalAnswered
from partners.models import PartnerContact
from payhealth.pan import mask_text

# What a partner may send through the page: documents and pictures, nothing a browser would run.
ALLOWED_FILE_TYPES = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "text/plain": ".txt",
    "text/csv": ".csv",
}
TEXT_FILE_TYPES = ("text/plain", "text/csv")


@dataclass(frozen=True)
class PortalFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class PortalAnswer:
    """What a partner contact sent through the page; `contact` is one of the link's recipients."""

    contact: str
    language: str
    folio: str = ""
    eta: datetime | None = None
    update: str = ""
    file: PortalFile | None = None


def _contact_label(link: AckLink, email: str) -> tuple[str, str]:
    """(From header, timeline name) of the contact who answered."""
    contact = PartnerContact.objects.filter(partner=link.engagement.partner, email__iexact=email).first()
    if contact is None or not contact.name:
        return email, email
    return f"{contact.name} <{email}>", f"{contact.name} ({email})"


def _body(answer: PortalAnswer, *, zone: str) -> str:
    lines = [_("Acknowledged through the acknowledgement link.")]
    if answer.folio:
        lines.append(_("Folio: %(folio)s") % {"folio": answer.folio})
    if answer.eta is not None:
        eta = formats.date_format(answer.eta.astimezone(ZoneInfo(zone)), "DATETIME_FORMAT")
        lines.append(_("Estimated resolution: %(eta)s (%(zone)s)") % {"eta": eta, "zone": zone_label(zone)})
    if answer.update:
        lines += ["", answer.update]
    return "\n".join(lines) + "\n"


@transaction.atomic
def portal_answer(*, link: AckLink, answer: PortalAnswer, now: datetime) -> Correspondence:
    """Record a partner's answer through its link (a received message on its thread, the folio and
    ETA on its engagement, the acknowledgement and the timeline); refused once the link is revoked
    or expired, or for an address the notice was not sent to."""
    engagement = link.engagement
    incident = _locked_incident(engagement.incident)
    locked = AckLink.objects.select_for_update().select_related("correspondence").get(pk=link.pk)
    if locked.revoked_at is not None or locked.expires_at <= now:
        raise ValidationError(_("This link is no longer valid."), code="link_closed")
    email = (answer.contact or "").strip().lower()
    if email not in [address.lower() for address in locked.recipients]:
        raise ValidationError({"contact": _("Choose one of the addresses this notice was sent to.")}, code="invalid")
    update, masked = mask_text((answer.update or "").strip())
    file = answer.file
    if file is not None:
        if file.content_type not in ALLOWED_FILE_TYPES:
            raise ValidationError({"file": _("Send a PDF, PNG, JPEG, text or CSV file.")}, code="file_type")
        filename, in_name = mask_text(file.filename[:255] or "file")
        content = file.content
        masked += in_name
        if file.content_type in TEXT_FILE_TYPES:
            text, in_content = mask_text(content.decode("utf-8", errors="replace"))
            content, masked = text.encode(), masked + in_content
        file = PortalFile(filename=filename, content_type=file.content_type, content=content)
    folio = (answer.folio or "").strip()
    zone = engagement.partner.timezone
    from_address, contact_name = _contact_label(locked, email)
    notice = locked.correspondence
    with translation.override(answer.language):
        subject = subject_with_token(_("Answer to: %(subject)s") % {"subject": notice.subject}, incident.reference)[
            :300
        ]
        given = PortalAnswer(contact=email, language=answer.language, folio=folio, eta=answer.eta, update=update)
        body = _body(given, zone=zone)
    row = Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction=Correspondence.Direction.INBOUND,
        channel=Correspondence.Channel.PORTAL,
        language=answer.language,
        subject=subject,
        body_text=body,
        from_address=from_address,
        status=Correspondence.Status.RECEIVED,
        message_id=new_message_id(incident.reference),
        in_reply_to=notice.message_id,
        references=thread_references(notice.references, notice.message_id),
        masked_card_numbers=masked,
        received_at=now,
    )
    if file is not None:
        Attachment.kept(row, filename=file.filename, content_type=file.content_type, content=file.content)
    changes = _set_engagement(engagement.pk, folio=folio, eta=answer.eta)
    answered = PartnerPortalAnswered(
        correspondence=row.pk,
        partner=engagement.partner.name,
        engagement=engagement.pk,
        contact=contact_name,
        changes=changes,
        update=bool(update),
        file=file.filename if file is not None else "",
    )
    timeline.record(answered, incident=incident, actor=None, at=now)
    # A mailed reply's own steps: the timeline (the clocks stop there), masking, the acknowledgement.
    _add_to_thread(row, incident=incident, actor=None, how="link", source="portal")
    locked.uses += 1
    locked.last_used_at = now
    locked.save(update_fields=["uses", "last_used_at"])
    return row


def _set_engagement(engagement_id: int, *, folio: str, eta: datetime | None) -> dict:
    engagement = PartnerEngagement.objects.select_for_update().get(pk=engagement_id)
    changes: dict = {}
    if folio and folio != engagement.folio:
        changes["folio"] = {"from": engagement.folio, "to": folio}
        engagement.folio = folio
    if eta is not None and eta != engagement.eta:
        changes["eta"] = {"from": engagement.eta, "to": eta}
        engagement.eta = eta
    if changes:
        engagement.full_clean(validate_unique=False, validate_constraints=False)
        engagement.save(update_fields=[*changes, "updated_at"])
    return changes


@transaction.atomic
def ack_link_revoke(*, correspondence: Correspondence, actor, now: datetime | None = None) -> AckLink:
    """Close a notice's acknowledgement link for good (partner managers and leads)."""
    require_permission(actor, "cases.send_correspondence", _("Revoking links needs a partner manager or a lead."))
    notice = locked_notice(correspondence)
    link = AckLink.objects.select_for_update().filter(correspondence=notice).first()
    if link is None:
        raise ValidationError(_("This notice has no acknowledgement link."), code="no_link")
    if link.revoked_at is not None:
        raise ValidationError(_("This link is revoked already."), code="already_revoked")
    link.revoked_at = now or timezone.now()
    link.revoked_by = actor if getattr(actor, "pk", None) else None
    link.save(update_fields=["revoked_at", "revoked_by"])
    timeline.record(
        AckLinkRevoked(correspondence=notice.pk, partner=notice.engagement.partner.name),
        incident=notice.incident,
        actor=actor,
        at=link.revoked_at,
    )
    return link
