"""Acknowledgement links: the signed link each notice carries, so a partner can acknowledge, give
its folio and ETA, or send an update without writing an email.

A link is one `AckLink` row per notice, made when the notice is drafted, and its token is the
row's random key signed with the site's secret (`django.core.signing`, salted for this use):
`<key>:<signature>`. The URL also names the incident, so a token shown with another incident's
reference opens nothing. A token opens the page while its row exists, is not revoked and has not
expired (PAYHEALTH_ACK_LINK_DAYS after drafting); anything else is refused with the reason, never
with what exists. Nothing here writes but `ack_link_create`; answering and revoking are
`cases.correspondence.portal`.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from cases.correspondence.context import moment
from cases.models import AckLink, Correspondence
from payhealth.links import absolute_url

SALT = "payhealth.ack-link"
KEY_BYTES = 24  # 32 URL-safe characters
UNSENT = (Correspondence.Status.DRAFT, Correspondence.Status.PENDING_APPROVAL)


class AckLinkRefused(Exception):
    """A token that opens nothing; `reason` is forged, expired or revoked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def ack_token(link: AckLink) -> str:
    return _signer().sign(link.key)


def ack_url(link: AckLink) -> str:
    reference = link.correspondence.incident.reference
    return absolute_url(reverse("cases:ack_page", args=[reference, ack_token(link)]))


def ack_link_create(correspondence: Correspondence, *, now: datetime) -> AckLink:
    """The link of a notice just drafted: for its partner, its incident and its recipients."""
    return AckLink.objects.create(
        correspondence=correspondence,
        engagement_id=correspondence.engagement_id,
        key=secrets.token_urlsafe(KEY_BYTES),
        recipients=list(correspondence.to_addresses),
        expires_at=now + timedelta(days=settings.PAYHEALTH_ACK_LINK_DAYS),
    )


def ack_link_footer(link: AckLink, *, language: str, zone: str) -> str:
    """The notice's last lines, in its language: what the link is for, the link, until when (written
    as the notice writes its other dates: "sábado 24/08/2019, 19:30 h, hora del centro de México…")."""
    with translation.override(language):
        until = moment(link.expires_at, zone, language)["text"]
        return _("Acknowledge, give your folio and ETA, or send an update here: %(url)s\nValid until %(until)s.") % {
            "url": ack_url(link),
            "until": until,
        }


def ack_link_add_to_notice(correspondence: Correspondence, *, now: datetime) -> AckLink:
    """Make the notice's link and append its footer to the text (before the notice is saved again)."""
    link = ack_link_create(correspondence, now=now)
    link.correspondence = correspondence
    zone = correspondence.engagement.partner.timezone
    footer = ack_link_footer(link, language=correspondence.language, zone=zone)
    correspondence.body_text = f"{correspondence.body_text.rstrip()}\n\n--\n{footer}\n"
    correspondence.save(update_fields=["body_text"])
    return link


def ack_link_for_token(token: str, *, reference: str, now: datetime) -> AckLink:
    """The link a token opens on the incident `reference`, or AckLinkRefused saying why."""
    try:
        key = _signer().unsign(token or "")
    except signing.BadSignature:
        raise AckLinkRefused("forged") from None
    link = (
        AckLink.objects.select_related("correspondence", "engagement__partner", "engagement__incident")
        .filter(key=key)
        .first()
    )
    if link is None or link.engagement.incident.reference != reference:
        raise AckLinkRefused("forged")  # signed by us, but not for this incident (or deleted since)
    if link.correspondence.status in UNSENT:
        raise AckLinkRefused("forged")  # only a notice on its way has put the link in a partner's hands
    if link.revoked_at is not None:
        raise AckLinkRefused("revoked")
    if link.expires_at <= now:
        raise AckLinkRefused("expired")
    return link
