"""Measured impact on merchants and the partners engaged on an incident.

Rates are shares between 0 and 1 here (0.9250 is 92.5%); forms convert from percentages. Failed
attempts given as None are derived from the observed rate; given, they must agree with it within
rounding (`impact_contradiction`), so the rates and the excess declines never tell two stories.
Every service locks the incident first, then the row it changes, so concurrent edits of one
incident queue in the same order and never deadlock.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import AffectedMerchant, Incident, Merchant, PartnerEngagement
from cases.models.incident import (
    MAX_MERCHANTS_PER_INCIDENT,
    MAX_PARTNERS_PER_INCIDENT,
    derived_failed_attempts,
    too_many,
)
from cases.search import refresh_search
from cases.timeline.events import MerchantAdded, MerchantRemoved, MerchantUpdated, PartnerEngaged, PartnerUpdated
from partners.models import Partner

IMPACT_FIELDS = (
    "baseline_rate",
    "observed_rate",
    "attempts",
    "failed_attempts",
    "volume_at_risk",
    "currency",
    "rate_definition",
    "notes",
)
ENGAGEMENT_FIELDS = ("partner_status", "folio", "escalation_level")

# Moving a partner to one of these statuses stamps the matching time once, if still empty.
_ENGAGEMENT_STAMPS = {
    PartnerEngagement.PartnerStatus.NOTIFIED: "first_notified_at",
    PartnerEngagement.PartnerStatus.ACKNOWLEDGED: "acknowledged_at",
    PartnerEngagement.PartnerStatus.RESOLVED: "resolved_at",
}
# The stamped times, which a superuser may correct by hand in the admin (partner metrics read them).
ENGAGEMENT_TIMES = tuple(_ENGAGEMENT_STAMPS.values())


def _locked_incident(incident: Incident) -> Incident:
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _touch(incident: Incident) -> None:
    """Bump the incident's last activity, so lists sorted by it see the change."""
    incident.save(update_fields=["updated_at"])


def _check_fields(changes: dict, allowed: tuple[str, ...]) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")


def _apply(row, changes: dict) -> dict:
    """Set the values that differ on the row; the timeline's `{field: {"from", "to"}}` of them."""
    changed = {}
    for field, value in changes.items():
        old = getattr(row, field)
        if old != value:
            changed[field] = {"from": old, "to": value}
            setattr(row, field, value)
    return changed


def _save_changes(row, changed: dict, *, incident: Incident) -> None:
    """Validate and save the changed fields, and bump the incident."""
    row.full_clean()
    row.save(update_fields=[*changed, "updated_at"])
    _touch(incident)


def _measures(row: AffectedMerchant) -> dict:
    return {field: getattr(row, field) for field in IMPACT_FIELDS if field != "notes"}


@transaction.atomic
def merchant_impact_add(*, incident: Incident, actor, merchant: Merchant, **measures) -> AffectedMerchant:
    """Record a merchant as affected, with whatever impact is measured so far."""
    _check_fields(measures, IMPACT_FIELDS)
    locked = _locked_incident(incident)
    count = AffectedMerchant.objects.filter(incident=locked).count()
    if count >= MAX_MERCHANTS_PER_INCIDENT:
        raise ValidationError({"merchant": too_many(count + 1, MAX_MERCHANTS_PER_INCIDENT)}, code="too_many")
    row = AffectedMerchant(incident=locked, merchant=merchant, **measures)
    if measures.get("failed_attempts") is None:  # not measured: what the observed rate implies
        row.failed_attempts = derived_failed_attempts(attempts=row.attempts, observed_rate=row.observed_rate)
    row.full_clean()  # includes "already on the incident": safe, the incident lock serialises adds
    row.save()
    _touch(locked)
    added = MerchantAdded(merchant=merchant.name, account_id=merchant.account_id, values=_measures(row))
    timeline.record(added, incident=locked, actor=actor)
    refresh_search(incident_ids=[locked.pk])
    row.refresh_from_db(fields=["excess_declines"])  # computed by the database on insert
    return row


@transaction.atomic
def merchant_impact_update(*, affected: AffectedMerchant, actor, **changes) -> AffectedMerchant:
    """Change the measured impact of one merchant; the timeline lists each old and new value."""
    _check_fields(changes, IMPACT_FIELDS)
    locked_incident = _locked_incident(affected.incident)
    row = AffectedMerchant.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=affected.pk)
    if row.incident_id == locked_incident.pk:  # the row just locked: not read again, here or by full_clean
        row.incident = locked_incident
    if "failed_attempts" in changes and changes["failed_attempts"] is None:
        changes["failed_attempts"] = derived_failed_attempts(
            attempts=changes.get("attempts", row.attempts),
            observed_rate=changes.get("observed_rate", row.observed_rate),
        )
    changed = _apply(row, changes)
    if not changed:
        return row
    _save_changes(row, changed, incident=locked_incident)
    updated = MerchantUpdated(merchant=row.merchant.name, account_id=row.merchant.account_id, changes=changed)
    timeline.record(updated, incident=locked_incident, actor=actor)
    # The generated excess-declines column changed in the database: read it back.
    row.refresh_from_db(fields=["excess_declines"])
    return row


@transaction.atomic
def merchant_impact_remove(*, affected: AffectedMerchant, actor) -> None:
    """Take a merchant off the incident; the timeline keeps the last measured values."""
    locked_incident = _locked_incident(affected.incident)
    row = (
        AffectedMerchant.objects.select_for_update(of=("self",))
        .select_related("merchant")
        .filter(pk=affected.pk)
        .order_by("pk")  # the model's ordering would join the incident into the locking read
        .first()
    )
    if row is None:
        raise ValidationError(_("This merchant is no longer on the incident."), code="gone")
    values = _measures(row)
    merchant = row.merchant
    row.delete()
    _touch(locked_incident)
    removed = MerchantRemoved(merchant=merchant.name, account_id=merchant.account_id, values=values)
    timeline.record(removed, incident=locked_incident, actor=actor)
    refresh_search(incident_ids=[locked_incident.pk])


@transaction.atomic
def engagement_add(
    *,
    incident: Incident,
    actor,
    partner: Partner,
    folio: str = "",
    partner_status: str = PartnerEngagement.PartnerStatus.NOT_NOTIFIED,
) -> PartnerEngagement:
    """Engage a partner on the incident (once per partner)."""
    locked = _locked_incident(incident)
    count = PartnerEngagement.objects.filter(incident=locked).count()
    if count >= MAX_PARTNERS_PER_INCIDENT:
        raise ValidationError({"partner": too_many(count + 1, MAX_PARTNERS_PER_INCIDENT)}, code="too_many")
    engagement = PartnerEngagement(incident=locked, partner=partner, folio=folio.strip(), partner_status=partner_status)
    _stamp(engagement, partner_status)
    engagement.full_clean()
    engagement.save()
    _touch(locked)
    engaged = PartnerEngaged(
        partner=partner.name,
        code=partner.code,
        engagement=engagement.pk,
        folio=engagement.folio,
        partner_status=partner_status,
    )
    timeline.record(engaged, incident=locked, actor=actor)
    refresh_search(incident_ids=[locked.pk])
    return engagement


@transaction.atomic
def engagement_update(*, engagement: PartnerEngagement, actor, **changes) -> PartnerEngagement:
    """Record the partner's folio or status; reaching notified/acknowledged/resolved stamps that time.

    A stamped time given here (a correction made in the admin) is kept: a stamp only fills an empty one.
    """
    _check_fields(changes, ENGAGEMENT_FIELDS + ENGAGEMENT_TIMES)
    if "folio" in changes:
        changes["folio"] = (changes["folio"] or "").strip()
    locked_incident = _locked_incident(engagement.incident)
    row = PartnerEngagement.objects.select_for_update(of=("self",)).select_related("partner").get(pk=engagement.pk)
    changed = _apply(row, changes)
    if not changed:
        return row
    if "partner_status" in changed:
        stamped = _stamp(row, row.partner_status)
        if stamped:
            changed[stamped] = {"from": None, "to": getattr(row, stamped)}
    _save_changes(row, changed, incident=locked_incident)
    updated = PartnerUpdated(partner=row.partner.name, code=row.partner.code, engagement=row.pk, changes=changed)
    timeline.record(updated, incident=locked_incident, actor=actor)
    return row


def _stamp(engagement: PartnerEngagement, status: str) -> str | None:
    field = _ENGAGEMENT_STAMPS.get(status)
    if field and getattr(engagement, field) is None:
        setattr(engagement, field, timezone.now())
        return field
    return None
