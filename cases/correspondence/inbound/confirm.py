"""Confirming what a partner's reply names: one click takes a folio or ETA candidate
(`Correspondence.candidates`, found by `inbound.understand`) onto the partner's engagement.

`reply_candidate_confirm` is the one write path (the incident page and the API call it): it sets
`PartnerEngagement.folio` or `PartnerEngagement.eta`, marks the candidate confirmed on the reply
(who and when) and records it on the incident's timeline with who confirmed it.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import acting_person, require_permission
from cases.models import Correspondence, Incident, PartnerEngagement
from cases.timeline.events import ReplyFactConfirmed

FACTS = ("folio", "eta")


def _candidate_value(candidate: dict):
    """The engagement value of a stored candidate, or None when it cannot be one."""
    kind, value = candidate.get("kind"), candidate.get("value")
    if not isinstance(value, str) or not value.strip():
        return None
    if kind == "folio":
        value = value.strip()
        return value if len(value) <= PartnerEngagement._meta.get_field("folio").max_length else None
    if kind == "eta":
        try:
            parsed = parse_datetime(value)
        except ValueError:
            return None
        return parsed if parsed is not None and timezone.is_aware(parsed) else None
    return None


@transaction.atomic
def reply_candidate_confirm(*, correspondence: Correspondence, index: int, actor) -> PartnerEngagement:
    """Take candidate `index` of a received reply onto its partner's engagement (folio or ETA)."""
    require_permission(
        actor,
        "cases.change_partnerengagement",
        _("Only analysts, partner managers and leads can confirm a reply's facts."),
    )
    row = (
        Correspondence.objects.select_for_update()
        .filter(pk=correspondence.pk, direction=Correspondence.Direction.INBOUND)
        .first()
    )
    if row is None:
        raise ValidationError({"candidate": _("Only received messages have facts to confirm.")}, code="not_inbound")
    if row.incident_id is None or row.engagement_id is None:
        raise ValidationError(
            {"candidate": _("Attach this reply to a partner's thread before confirming what it says.")},
            code="no_partner",
        )
    candidates = list(row.candidates or [])
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(candidates):
        raise ValidationError({"candidate": _("This reply has no such folio or ETA.")}, code="unknown_candidate")
    candidate = dict(candidates[index]) if isinstance(candidates[index], dict) else {}
    fact, value = candidate.get("kind"), _candidate_value(candidate)
    if fact not in FACTS or value is None:
        raise ValidationError({"candidate": _("This reply has no such folio or ETA.")}, code="unknown_candidate")
    incident = (
        Incident.objects.select_for_update().defer("summary", "root_cause", "search_vector").get(pk=row.incident_id)
    )
    engagement = (
        PartnerEngagement.objects.select_for_update(of=("self",)).select_related("partner").get(pk=row.engagement_id)
    )
    old = getattr(engagement, fact)
    person = acting_person(actor)
    now = timezone.now()
    if old != value:
        setattr(engagement, fact, value)
        engagement.full_clean()
        engagement.save(update_fields=[fact, "updated_at"])
        incident.save(update_fields=["updated_at"])
        confirmed = ReplyFactConfirmed(
            correspondence=row.pk,
            partner=engagement.partner.name,
            code=engagement.partner.code,
            engagement=engagement.pk,
            fact=fact,
            changes={fact: {"from": old, "to": value}},
        )
        timeline.record(confirmed, incident=incident, actor=person)
    candidate["confirmed_at"] = now.isoformat()
    candidate["confirmed_by"] = (person.get_full_name() or person.get_username()) if person is not None else ""
    candidates[index] = candidate
    row.candidates = candidates
    row.save(update_fields=["candidates"])
    return engagement
