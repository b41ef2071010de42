"""Opening incidents and moving them through their lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import events
from cases.models import AffectedMerchant, CaseEvent, Incident, Merchant, PartnerEngagement
from cases.models.incident import REOPEN_FROM, Source, Status
from cases.references import next_reference
from cases.search import refresh_search
from partners.models import Partner


@transaction.atomic
def incident_open(
    *,
    actor,
    title: str,
    category: str,
    severity: str,
    summary: str = "",
    owner=None,
    started_at: datetime | None = None,
    detected_at: datetime | None = None,
    card_networks: Iterable[str] = (),
    decline_codes: Iterable[str] = (),
    bin_prefixes: Iterable[str] = (),
    country: str = "",
    source: str = Source.MANUAL,
    fingerprint: str = "",
    merchants: Iterable[Merchant] = (),
    partners: Iterable[Partner] = (),
) -> Incident:
    """Open an incident with a fresh reference; the owner defaults to the author."""
    now = timezone.now()
    incident = Incident(
        title=title,
        category=category,
        severity=severity,
        status=Status.NEW,
        summary=summary,
        owner=owner if owner is not None else (actor if getattr(actor, "pk", None) else None),
        created_by=actor if getattr(actor, "pk", None) else None,
        started_at=started_at,
        detected_at=detected_at or now,
        card_networks=list(card_networks),
        decline_codes=list(decline_codes),
        bin_prefixes=list(bin_prefixes),
        country=country,
        source=source,
        fingerprint=fingerprint,
    )
    incident.reference = "PH-0000-000000"  # placeholder so full_clean checks everything else
    incident.full_clean(exclude=["reference"])
    incident.reference = next_reference(now.year)
    incident.save()
    events.record(
        incident=incident,
        actor=actor,
        kind=CaseEvent.Kind.OPENED,
        reference=incident.reference,
        severity=incident.severity,
        category=incident.category,
        source=incident.source,
    )
    for merchant in merchants:
        AffectedMerchant.objects.create(incident=incident, merchant=merchant)
        events.record(incident=incident, actor=actor, kind=CaseEvent.Kind.MERCHANT_ADDED, merchant=merchant.name)
    for partner in partners:
        PartnerEngagement.objects.create(incident=incident, partner=partner)
        events.record(incident=incident, actor=actor, kind=CaseEvent.Kind.PARTNER_ENGAGED, partner=partner.name)
    refresh_search(incident_ids=[incident.pk])
    return incident


@transaction.atomic
def incident_transition(*, incident: Incident, actor, to: str, reason: str = "") -> Incident:
    """Move an incident along its lifecycle; refuses any step the lifecycle does not allow."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if to not in locked.allowed_transitions():
        raise ValidationError(
            {
                "to": _("%(reference)s cannot move from %(current)s to %(target)s.")
                % {"reference": locked.reference, "current": locked.get_status_display(), "target": to}
            },
            code="invalid_transition",
        )
    reopening = locked.status in REOPEN_FROM and to == Status.INVESTIGATING
    if (to == Status.WAITING_ON_PARTNER or reopening) and not reason.strip():
        raise ValidationError({"reason": _("A reason is required for this transition.")}, code="reason_required")
    now = timezone.now()
    previous = locked.status
    locked.status = to
    fields = ["status", "updated_at"]
    stamp = {Status.MITIGATED: "mitigated_at", Status.RESOLVED: "resolved_at", Status.CLOSED: "closed_at"}.get(to)
    if stamp:
        setattr(locked, stamp, now)
        fields.append(stamp)
    if reopening:
        locked.resolved_at = None
        locked.closed_at = None
        fields += ["resolved_at", "closed_at"]
    locked.save(update_fields=sorted(set(fields)))
    events.record(
        incident=locked,
        actor=actor,
        kind=CaseEvent.Kind.STATUS_CHANGED,
        **{"from": previous, "to": to, "reason": reason},
    )
    return locked
