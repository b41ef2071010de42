"""Inbound replies: storing them on their thread, attaching unmatched ones from triage, and
polling the desk's mailbox.

`inbound_receive` is the one write path for mail that arrives, whichever way it came (the
mailbox poller, the mail gateway's POST, a person uploading a message). A Message-ID is stored
once: receiving the same message again answers "duplicate" and changes nothing, so a poller
that dies between the commit and marking the message seen, or a gateway that retries, is
harmless. Auto-replies and bounces are stored and flagged but never acknowledge anything, and
PayHealth never answers any inbound mail, so no mail loop can start here.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from imapclient import FLAGGED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError

from cases import timeline
from cases.correspondence.compose import require_permission
from cases.correspondence.email import message_domain
from cases.correspondence.inbound.match import find_thread
from cases.correspondence.inbound.parse import InboundParseError, ParsedMessage, message_ids, parse_message
from cases.correspondence.inbound.understand import detect_language, own_text, reply_candidates
from cases.models import Attachment, Correspondence, Incident, PartnerEngagement
from cases.timeline.events import CardNumbersMasked, PartnerAcknowledged, ReplyReceived
from payhealth import config

logger = logging.getLogger(__name__)
PartnerStatus = PartnerEngagement.PartnerStatus
# A reply moves the partner to "acknowledged" only from these; later statuses say more already.
BEFORE_ACKNOWLEDGED = (PartnerStatus.NOT_NOTIFIED, PartnerStatus.NOTIFIED)
POLL_BATCH = 50  # messages per poll; the rest wait for the next run a minute later
IMAP_TIMEOUT = 30  # seconds


class InboundTooLargeError(InboundParseError):
    """The message is larger than PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES."""


@dataclass(frozen=True)
class InboundResult:
    """What happened to one message: `how` is header, subject, unmatched or duplicate."""

    correspondence: Correspondence
    created: bool
    how: str
    acknowledged: bool = False

    def as_dict(self) -> dict:
        row = self.correspondence
        return {
            "id": row.pk,
            "result": self.how,
            "message_id": row.message_id,
            "incident": row.incident.reference if row.incident_id else None,
            "partner": row.engagement.partner.code if row.engagement_id else None,
            "auto_reply": row.is_auto_reply,
            "acknowledged": self.acknowledged,
        }


def inbound_receive(*, raw: bytes, source: str) -> InboundResult:
    """Store one raw RFC 822 message on its thread, or for triage; the same Message-ID once.

    `source` says how it came (imap, gateway, upload) and is kept on the timeline. Raises
    InboundParseError for bytes that are not a message, InboundTooLargeError over the limit.
    """
    if len(raw) > settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES:
        raise InboundTooLargeError(
            f"the message has {len(raw)} bytes, more than {settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES}"
        )
    parsed = parse_message(raw)
    existing = _stored(parsed.message_id)
    if existing is not None:
        return InboundResult(existing, created=False, how="duplicate")
    try:
        return _store(parsed, source=source)
    except IntegrityError:
        existing = _stored(parsed.message_id)  # stored by a concurrent receive since we looked
        if existing is None:
            raise
        return InboundResult(existing, created=False, how="duplicate")


def _stored(message_id: str) -> Correspondence | None:
    rows = Correspondence.objects.select_related("incident", "engagement__partner")
    return rows.filter(message_id=message_id).first()


@transaction.atomic
def _store(parsed: ParsedMessage, *, source: str) -> InboundResult:
    match = find_thread(parsed)
    incident = _locked_incident(match.incident) if match.incident is not None else None
    now = timezone.now()
    row = Correspondence(
        incident=incident,
        engagement=match.engagement,
        direction=Correspondence.Direction.INBOUND,
        channel=Correspondence.Channel.EMAIL,
        language=parsed.language,
        subject=parsed.subject,
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        from_address=parsed.from_address,
        to_addresses=parsed.to_addresses,
        cc_addresses=parsed.cc_addresses,
        status=Correspondence.Status.RECEIVED,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references),
        is_auto_reply=parsed.is_auto_reply,
        masked_card_numbers=parsed.masked_card_numbers,
        received_at=now,
        sent_at_header=parsed.sent_at,
    )
    _understand(row)
    row.save(force_insert=True)
    _keep_attachments(row, parsed)
    acknowledged = False
    if incident is not None:
        acknowledged = _add_to_thread(row, incident=incident, actor=None, how=match.how, source=source)
    logger.info("inbound message %s via %s: %s", row.message_id, source, match.how)
    return InboundResult(row, created=True, how=match.how, acknowledged=acknowledged)


def _understand(row: Correspondence) -> None:
    """The reply's language from what the partner wrote (else the partner's), and the folios and
    ETAs it names (ETAs only once its partner, and so its time zone, is known)."""
    partner = row.engagement.partner if row.engagement_id else None
    text = own_text(row.body_text, row.body_html)
    row.language = detect_language(text, fallback=partner.language if partner is not None else row.language)
    written = row.sent_at_header if row.sent_at_header is not None else row.received_at or timezone.now()
    candidates = reply_candidates(
        subject=row.subject,
        text=text,
        sent_at=written,
        partner_timezone=partner.timezone if partner is not None else "",
        language=row.language,
    )
    row.candidates = [item for item in candidates if partner is not None or item["kind"] == "folio"]


def reply_acknowledged_at(row: Correspondence) -> datetime:
    """When the partner answered: the reply's Date header, bounded by its receipt (never later)
    and by the sending of the notice it answers (never earlier); no usable Date, or no notice sent
    to bound it, gives the receipt."""
    received = row.received_at or timezone.now()
    written = row.sent_at_header
    if written is None or written >= received:
        return received
    answered = _answered_notice_sent_at(row, received=received)
    if answered is None:
        return received
    return min(max(written, answered), received)


def _answered_notice_sent_at(row: Correspondence, *, received: datetime) -> datetime | None:
    """When the notice the reply answers was sent: the one its headers name, else the latest
    notice sent to its partner before it arrived."""
    sent = Correspondence.objects.filter(
        direction=Correspondence.Direction.OUTBOUND, sent_at__isnull=False, sent_at__lte=received
    )
    named = [row.in_reply_to, *reversed(message_ids(row.references))]
    named = [item for item in named if item]
    if named:
        by_id = dict(sent.filter(message_id__in=named).values_list("message_id", "sent_at"))
        for message_id in named:
            if message_id in by_id:
                return by_id[message_id]
    if row.engagement_id is None:
        return None
    return sent.filter(engagement_id=row.engagement_id).order_by("-sent_at").values_list("sent_at", flat=True).first()


def _keep_attachments(row: Correspondence, parsed: ParsedMessage) -> None:
    limit = settings.PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES
    Attachment.objects.bulk_create(
        Attachment(
            correspondence=row,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            content=item.content if item.size <= limit else b"",
            omitted=item.size > limit,
        )
        for item in parsed.attachments
    )


def _locked_incident(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().defer("summary", "root_cause", "search_vector").get(pk=incident.pk)


def _sender_email(row: Correspondence) -> str:
    return parseaddr(row.from_address)[1].lower()


def _add_to_thread(row: Correspondence, *, incident: Incident, actor, how: str, source: str) -> bool:
    """The reply on the incident's timeline (the SLA clocks hear of it there), and the partner's
    first real reply acknowledges."""
    engagement = row.engagement
    sender = _sender_email(row)
    from_the_desk = sender.rpartition("@")[2] == message_domain()  # a colleague's copy is no acknowledgement
    partner_reply = engagement is not None and not row.is_auto_reply and not from_the_desk
    received = ReplyReceived(
        correspondence=row.pk,
        partner=engagement.partner.name if engagement is not None else "",
        engagement=engagement.pk if engagement is not None else None,
        subject=row.subject,
        matched_by=how,
        source=source,
        auto_reply=row.is_auto_reply,
        sender=sender,
        partner_reply=partner_reply,
    )
    timeline.record(received, incident=incident, actor=actor)
    if row.masked_card_numbers:
        masked = CardNumbersMasked(origin="mail", count=row.masked_card_numbers, correspondence=row.pk)
        timeline.record(masked, incident=incident, actor=None)
    incident.save(update_fields=["updated_at"])  # the incident's last activity
    if not partner_reply:
        return False
    return _acknowledge(engagement_id=engagement.pk, incident=incident, row=row)


def _acknowledge(*, engagement_id: int, incident: Incident, row: Correspondence) -> bool:
    engagement = (
        PartnerEngagement.objects.select_for_update(of=("self",)).select_related("partner").get(pk=engagement_id)
    )
    if engagement.acknowledged_at is not None:
        return False
    acknowledged_at = reply_acknowledged_at(row)
    changes = {"acknowledged_at": {"from": None, "to": acknowledged_at}}
    engagement.acknowledged_at = acknowledged_at
    if engagement.partner_status in BEFORE_ACKNOWLEDGED:
        changes["partner_status"] = {"from": engagement.partner_status, "to": PartnerStatus.ACKNOWLEDGED}
        engagement.partner_status = PartnerStatus.ACKNOWLEDGED
    engagement.save(update_fields=[*changes, "updated_at"])
    acknowledged = PartnerAcknowledged(
        correspondence=row.pk,
        partner=engagement.partner.name,
        code=engagement.partner.code,
        folio=engagement.folio,
        changes=changes,
    )
    timeline.record(acknowledged, incident=incident, actor=None)
    return True


@transaction.atomic
def inbound_attach(
    *, correspondence: Correspondence, incident: Incident, actor, engagement: PartnerEngagement | None = None
) -> Correspondence:
    """Triage: make an unmatched message part of an incident's thread (and a partner's, if given)."""
    require_permission(actor, "cases.triage_correspondence", _("Only partner managers and leads can triage replies."))
    if engagement is not None and engagement.incident_id != incident.pk:
        message = _("%(partner)s is not engaged on %(reference)s.") % {
            "partner": engagement.partner,
            "reference": incident.reference,
        }
        raise ValidationError({"partner": ValidationError(message, code="not_engaged")})
    locked = _locked_incident(incident)
    row = (
        Correspondence.objects.select_for_update()
        .filter(pk=correspondence.pk, direction=Correspondence.Direction.INBOUND)
        .first()
    )
    if row is None:
        raise ValidationError(_("Only received messages can be attached."), code="not_inbound")
    if row.incident_id is not None:
        raise ValidationError(_("This message is already part of an incident's thread."), code="already_attached")
    row.incident, row.engagement = locked, engagement
    if engagement is not None:
        _understand(row)  # now that its partner is known: its language and time zone
    row.save(update_fields=["incident", "engagement", "language", "candidates"])
    _add_to_thread(row, incident=locked, actor=actor, how="triage", source="triage")
    return row


# --- the mailbox ------------------------------------------------------------------------------


@dataclass
class PollResult:
    stored: int = 0
    duplicates: int = 0
    refused: int = 0  # unparsable or too large: flagged in the mailbox for a person to look at


def mailbox_message_receive(*, client: IMAPClient, uid: int, size: int | None = None) -> str:
    """Take one mailbox message: store it, then mark it seen (only once its row is committed).

    A message that cannot be stored as such (not a message, too large) is marked seen and
    flagged, so it is not fetched again every minute; anything else (the database is down)
    propagates and leaves it unseen for the next poll.
    """
    if size is not None and size > settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES:
        logger.warning("mailbox message %s has %s bytes, over the limit: flagged, not stored", uid, size)
        client.add_flags([uid], [SEEN, FLAGGED])
        return "refused"
    fetched = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)  # PEEK: fetching does not set \Seen
    if not fetched or fetched.get(b"BODY[]") is None:
        return "gone"  # expunged by someone else since the search
    try:
        result = inbound_receive(raw=fetched[b"BODY[]"], source="imap")
    except InboundParseError as exc:
        logger.warning("mailbox message %s refused: %s; flagged", uid, exc)
        client.add_flags([uid], [SEEN, FLAGGED])
        return "refused"
    client.add_flags([uid], [SEEN])
    return "duplicate" if not result.created else "stored"


def inbound_poll_mailbox(*, batch_size: int = POLL_BATCH) -> PollResult:
    """Fetch the UNSEEN messages of the configured mailbox (INBOUND_IMAP_URL), oldest first."""
    result = PollResult()
    mailbox = config.imap_config("INBOUND_IMAP_URL", settings.INBOUND_IMAP_URL)
    if mailbox is None:
        return result
    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.ssl, timeout=IMAP_TIMEOUT)
    try:
        client.login(mailbox.user, mailbox.password)
        client.select_folder(mailbox.folder)
        uids = sorted(client.search(["UNSEEN"]))[:batch_size]
        sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
        for uid in uids:
            outcome = mailbox_message_receive(client=client, uid=uid, size=sizes.get(uid, {}).get(b"RFC822.SIZE"))
            if outcome == "stored":
                result.stored += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "refused":
                result.refused += 1
    finally:
        with contextlib.suppress(IMAPClientError, OSError):  # the connection is gone already
            client.logout()
    return result
