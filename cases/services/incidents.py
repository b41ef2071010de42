"""Opening incidents and moving them through their lifecycle."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import AffectedMerchant, Correspondence, Incident, Merchant, PartnerEngagement
from cases.models.incident import (
    MAX_MERCHANTS_PER_INCIDENT,
    MAX_PARTNERS_PER_INCIDENT,
    REOPEN_FROM,
    Severity,
    Source,
    Status,
    less_severe_than,
    too_many,
)
from cases.numbering import next_reference
from cases.search import refresh_search
from cases.services.decline_counts import decline_counts_follow_codes
from cases.timeline.events import (
    DetailsChanged,
    IncidentOpened,
    MerchantAdded,
    OwnerChanged,
    PartnerEngaged,
    SeverityChanged,
    StatusChanged,
)
from partners.models import Partner
from payhealth.i18n import desk_zone


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
    owner_is_author: bool = True,
) -> Incident:
    """Open an incident with a fresh reference; the owner defaults to the author, unless
    `owner_is_author=False` (an alert from monitoring: the incident waits unowned for triage)."""
    _check_can_own(owner)
    merchants, partners = list(dict.fromkeys(merchants)), list(dict.fromkeys(partners))
    _check_counts(merchants=len(merchants), partners=len(partners))
    now = timezone.now()
    incident = Incident(
        title=title,
        category=category,
        severity=severity,
        status=Status.NEW,
        summary=summary,
        owner=owner if owner is not None else (actor if owner_is_author and getattr(actor, "pk", None) else None),
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
    # The desk's year, not UTC's: 23:30 on 31 December in Mexico City is still that year's incident.
    incident.reference = next_reference(timezone.localtime(now, desk_zone()).year)
    incident.save()
    opened = IncidentOpened(
        reference=incident.reference, severity=incident.severity, category=incident.category, source=incident.source
    )
    timeline.record(opened, incident=incident, actor=actor, at=now)
    for merchant in merchants:
        AffectedMerchant.objects.create(incident=incident, merchant=merchant)
        added = MerchantAdded(merchant=merchant.name, account_id=merchant.account_id, values=None)
        timeline.record(added, incident=incident, actor=actor, at=now)
    for partner in partners:
        engagement = PartnerEngagement.objects.create(incident=incident, partner=partner)
        engaged = PartnerEngaged(
            partner=partner.name,
            code=partner.code,
            engagement=engagement.pk,
            folio="",
            partner_status=engagement.partner_status,
        )
        timeline.record(engaged, incident=incident, actor=actor, at=now)
    if incident.decline_codes:
        decline_counts_follow_codes(incident=incident)
    refresh_search(incident_ids=[incident.pk])
    return incident


@transaction.atomic
def incident_transition(
    *, incident: Incident, actor, to: str, reason: str = "", partner: Partner | None = None
) -> Incident:
    """Move an incident along its lifecycle; refuses any step the lifecycle does not allow.

    Waiting on a partner may name the partner (one engaged on the incident); the timeline row
    keeps its name and code, so SLA pauses and reports can say whom the desk waited on.
    """
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    if to not in locked.allowed_transitions():
        raise ValidationError(
            {
                "to": _("%(reference)s cannot move from %(current)s to %(target)s.")
                % {
                    "reference": locked.reference,
                    "current": locked.get_status_display(),
                    "target": Status(to).label if to in Status.values else to,
                }
            },
            code="invalid_transition",
        )
    reopening = locked.status in REOPEN_FROM and to == Status.INVESTIGATING
    if (to == Status.WAITING_ON_PARTNER or reopening) and not reason.strip():
        raise ValidationError({"reason": _("A reason is required for this transition.")}, code="reason_required")
    if partner is not None:
        if to != Status.WAITING_ON_PARTNER:
            raise ValidationError({"partner": _("Name a partner only when waiting on one.")}, code="partner_unexpected")
        if not locked.engagements.filter(partner=partner).exists():
            raise ValidationError(
                {"partner": _("%(partner)s is not engaged on this incident.") % {"partner": partner.name}},
                code="partner_not_engaged",
            )
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
    changed = StatusChanged(
        was=previous,
        to=to,
        reason=reason,
        partner=partner.name if partner else None,
        partner_code=partner.code if partner else None,
    )
    timeline.record(changed, incident=locked, actor=actor, at=now)
    return locked


def _check_counts(*, merchants: int, partners: int) -> None:
    """At most MAX_MERCHANTS_PER_INCIDENT merchants and MAX_PARTNERS_PER_INCIDENT partners on one incident."""
    errors = {}
    if merchants > MAX_MERCHANTS_PER_INCIDENT:
        errors["merchants"] = too_many(merchants, MAX_MERCHANTS_PER_INCIDENT)
    if partners > MAX_PARTNERS_PER_INCIDENT:
        errors["partners"] = too_many(partners, MAX_PARTNERS_PER_INCIDENT)
    if errors:
        raise ValidationError(errors, code="too_many")


def _check_can_own(owner) -> None:
    if owner is not None and not owner.has_perm("cases.change_incident"):
        raise ValidationError(
            {"owner": _("%(user)s cannot own incidents (no desk role).") % {"user": owner.get_username()}},
            code="owner_without_role",
        )


def _locked(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


@transaction.atomic
def incident_assign(*, incident: Incident, actor, owner) -> Incident:
    """Give the incident to `owner` (None leaves it unowned); a no-op records nothing."""
    _check_can_own(owner)
    locked = _locked(incident)
    if locked.owner_id == (owner.pk if owner else None):
        return locked
    previous = locked.owner.get_username() if locked.owner else None
    locked.owner = owner
    locked.save(update_fields=["owner", "updated_at"])
    changed = OwnerChanged(was=previous, to=owner.get_username() if owner else None)
    timeline.record(changed, incident=locked, actor=actor)
    return locked


@transaction.atomic
def incident_change_severity(*, incident: Incident, actor, severity: str, reason: str) -> Incident:
    """Raise or lower the severity; the reason is required and kept on the timeline.

    Raising it also raises `peak_severity` on the incident's notices not yet on their way, so a
    draft needs the approval of the most severe grade the incident had since it was drafted.
    """
    if severity not in Severity.values:
        raise ValidationError({"severity": _("Unknown severity %(value)s.") % {"value": severity}}, code="invalid")
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why the severity changes.")}, code="reason_required")
    locked = _locked(incident)
    if locked.severity == severity:
        return locked
    previous = locked.severity
    locked.severity = severity
    locked.save(update_fields=["severity", "updated_at"])
    Correspondence.objects.filter(
        incident=locked,
        direction=Correspondence.Direction.OUTBOUND,
        status__in=[Correspondence.Status.DRAFT, Correspondence.Status.PENDING_APPROVAL],
        peak_severity__in=less_severe_than(severity),
    ).update(peak_severity=severity)
    now = timezone.now()
    changed = SeverityChanged(was=previous, to=severity, reason=reason.strip())
    timeline.record(changed, incident=locked, actor=actor, at=now)
    return locked


EDITABLE_DETAILS = (
    "title",
    "category",
    "summary",
    "root_cause",
    "started_at",
    "detected_at",
    "mitigated_at",
    "card_networks",
    "decline_codes",
    "bin_prefixes",
    "country",
    "entry_modes",
    "partner_title_en",
    "partner_title_es",
    "partner_summary_en",
    "partner_summary_es",
)


@transaction.atomic
def incident_update_details(*, incident: Incident, actor, **changes) -> Incident:
    """Change descriptive fields (not status, severity or owner, which have their own actions).

    The timeline row lists each changed field with its old and new value.
    """
    unknown = set(changes) - set(EDITABLE_DETAILS)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")
    locked = _locked(incident)
    changed = {}
    for field, value in changes.items():
        old = getattr(locked, field)
        if field in ("card_networks", "decline_codes", "bin_prefixes", "entry_modes"):
            value = list(value)
        if old != value:
            changed[field] = {"from": old, "to": value}
            setattr(locked, field, value)
    if not changed:
        return locked
    locked.full_clean()
    locked.save(update_fields=[*changed, "updated_at"])
    timeline.record(DetailsChanged(changes=changed), incident=locked, actor=actor)
    if "decline_codes" in changed:
        decline_counts_follow_codes(incident=locked)
    if {"title", "summary", "root_cause"} & set(changed):
        refresh_search(incident_ids=[locked.pk])
    return locked
