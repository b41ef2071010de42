"""Finding the thread an inbound message belongs to.

In order: a Message-ID named in In-Reply-To, then in References (newest first), that belongs to
correspondence of an incident (→ its incident and partner thread); then the subject token
`[PH-YYYY-NNNNNN]` (→ the incident, and the partner thread when the sender is a contact of an
engaged partner, or shares its mail domain with the contacts of exactly one); else nothing, and
the message waits in the triage inbox. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cases.correspondence.inbound.parse import SUBJECT_TOKEN, ParsedMessage
from cases.models import Correspondence, Incident, PartnerEngagement
from partners.models import PartnerContact


@dataclass(frozen=True)
class Match:
    """Where an inbound message belongs; `how` is "header", "subject" or "unmatched"."""

    how: str
    incident: Incident | None = None
    engagement: PartnerEngagement | None = None
    parent: Correspondence | None = None


def sender_engagement(incident: Incident, sender_email: str) -> PartnerEngagement | None:
    """The engaged partner the sender writes for: one of its contacts, else its contacts' domain."""
    engagements = {
        engagement.partner_id: engagement
        for engagement in PartnerEngagement.objects.filter(incident=incident).select_related("partner")
    }
    contacts = PartnerContact.objects.filter(partner_id__in=list(engagements)).values_list("partner_id", "email")
    domain = sender_email.rpartition("@")[2]
    exact, same_domain = set(), set()
    for partner_id, email in contacts:
        email = email.lower()
        if email == sender_email:
            exact.add(partner_id)
        elif email.rpartition("@")[2] == domain:
            same_domain.add(partner_id)
    for candidates in (exact, same_domain):
        if len(candidates) == 1:
            return engagements[candidates.pop()]
    return None


def find_thread(parsed: ParsedMessage) -> Match:
    """Where the message belongs (see the module's docstring)."""
    wanted = [parsed.in_reply_to, *reversed(parsed.references)]
    wanted = [item for item in dict.fromkeys(wanted) if item and item != parsed.message_id]
    if wanted:
        known = {
            row.message_id: row
            for row in Correspondence.objects.filter(message_id__in=wanted, incident__isnull=False).select_related(
                "incident", "engagement__partner"
            )
        }
        for message_id in wanted:
            if message_id in known:
                parent = known[message_id]
                return Match("header", incident=parent.incident, engagement=parent.engagement, parent=parent)
    for reference in SUBJECT_TOKEN.findall(parsed.subject):
        incident = Incident.objects.filter(reference=reference).only("pk", "reference").first()
        if incident is not None:
            return Match("subject", incident=incident, engagement=sender_engagement(incident, parsed.sender_email))
    return Match("unmatched")
