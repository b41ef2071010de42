"""What happens to a finding after the detector writes it: the incident flow (through the
alert-intake service), impact from the buckets, partner engagement, webhooks (docs/findings.md).

The detector calls the four hooks after each change, inside its transaction; people call
`finding_open_incident` and `finding_attach` from the findings pages and API. Everything the
detector does to an incident is done as the detector's own user (`detector_user`), so the
timeline says who.

Fingerprints of detector incidents (recipe v1; posted alerts keep `alert_fingerprint`'s):

    finding:v1:sha256("v1|partner|<partner code>")    a finding whose partner is engaged
    finding:v1:sha256("v1|merchant|<account id>")     a finding without one (a mix shift)

so the findings of one run whose top slice maps to the same partner (a switch outage hitting many
merchants) land on ONE open incident with that partner engaged and every merchant affected;
once it is resolved or closed, the next finding opens a new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.roles import ANALYST
from alerts.services import AlertApplied, alert_apply, alert_apply_to_incident
from cases import timeline
from cases.models import Incident
from cases.models.incident import OPEN_STATUSES
from cases.timeline.events import FindingLinked, ResolutionProposed
from monitoring.attribution import attribution_rows_json, attribution_sentence, finding_attribution
from monitoring.detection.config import detector_config
from monitoring.impact import Impact, combined_impact, finding_impact
from monitoring.models import ACTIVE_FINDING_STATES, AttributionKind, Finding, FindingState, SegmentMonitor
from partners.models import Partner
from webhooks.models import EventType
from webhooks.selectors import subscribed_event_types
from webhooks.services import webhook_event_emit, webhook_event_id

FINGERPRINT_VERSION = "v1"
MEASURED_STATES = (*ACTIVE_FINDING_STATES, FindingState.RECOVERED)  # what counts in a merchant's figures
DETECTOR_USERNAME = "payhealth-detector"
DETECTOR_SOURCE = "PayHealth detector"


# --- the hooks the detector calls -------------------------------------------------------------


def finding_opened(finding: Finding) -> None:
    """A new finding (watch or alerted): `finding.created` to the webhooks that listen."""
    _emit(finding, EventType.FINDING_CREATED, "created")


@transaction.atomic
def finding_escalated(finding: Finding) -> None:
    """A watch finding became an alert (or a new finding opened straight as an alert): it opens
    the incident of its fingerprint or updates the open one (or the one a person already opened
    from it)."""
    _link(finding, actor=detector_user(), how="alerted")


@transaction.atomic
def finding_refreshed(finding: Finding) -> None:
    """An active finding's window grew or its figures changed: its incident's impact is measured
    again from the buckets (the merchant's figures replaced; severity only goes up)."""
    incident = _open_incident_of(finding)
    if incident is None:
        return
    _apply(finding, actor=detector_user(), incident=incident)


@transaction.atomic
def finding_recovered(finding: Finding) -> None:
    """An active finding recovered: its open incident gets a proposal to resolve (people decide),
    and `finding.recovered` goes to the webhooks that listen."""
    incident = _open_incident_of(finding)
    if incident is not None:
        config = detector_config(finding.segment.merchant_id)
        monitor = SegmentMonitor.objects.filter(segment_id=finding.segment_id).first()
        baseline = monitor.baseline_rate if monitor and monitor.baseline_rate is not None else finding.baseline_rate
        observed = monitor.observed_rate if monitor and monitor.observed_rate is not None else finding.observed_rate
        still_active = incident.findings.filter(state__in=ACTIVE_FINDING_STATES).exclude(pk=finding.pk).count()
        proposal = ResolutionProposed(
            finding=finding.pk,
            merchant=finding.segment.merchant.name,
            segment=_label(finding.segment, "en"),
            segment_es=_label(finding.segment, "es"),
            baseline_rate=str(baseline),
            observed_rate=str(observed),
            buckets=config.recovery_buckets,
            within_pp=str(config.recovery_within_pp),
            open_findings=still_active,
        )
        timeline.record(proposal, incident=incident, actor=detector_user())
    _emit(finding, EventType.FINDING_RECOVERED, "recovered")


# --- what people do --------------------------------------------------------------------------


@transaction.atomic
def finding_open_incident(*, finding: Finding, actor) -> Incident:
    """A person opens an incident from the finding (usually a watch): the same path as an
    alert, as that person; an open incident of the same fingerprint is updated instead."""
    if not actor.has_perm("cases.add_incident"):
        raise PermissionDenied(_("You may not open incidents."))
    locked = _locked(finding)
    if not locked.is_active:
        raise ValidationError({"finding": _("Only a finding on watch or alerted can open an incident.")})
    current = _open_incident_of(locked)
    if current is not None:
        return current
    return _link(locked, actor=actor, how="opened")


@transaction.atomic
def finding_attach(*, finding: Finding, incident: Incident, actor) -> Incident:
    """A person links the finding to an existing open incident: its merchant's impact and the
    timeline sentence are added there."""
    if not actor.has_perm("cases.change_incident"):
        raise PermissionDenied(_("You may not change incidents."))
    locked = _locked(finding)
    current = _open_incident_of(locked)
    if current is not None and current.pk != incident.pk:
        raise ValidationError(
            {"incident": _("The finding is already linked to %(reference)s.") % {"reference": current.reference}}
        )
    if incident.status not in OPEN_STATUSES:
        raise ValidationError({"incident": _("Only an open incident can take a finding.")})
    return _link(locked, actor=actor, how="attached", incident=incident)


# --- the detector's user ------------------------------------------------------------------------


def detector_user():
    """The system user the detector acts as (created on first use, with the analyst role and
    no password: nobody logs in as it)."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        **{user_model.USERNAME_FIELD: DETECTOR_USERNAME}, defaults={"first_name": "PayHealth", "last_name": "detector"}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        group, _created = Group.objects.get_or_create(name=ANALYST)
        user.groups.add(group)
    return user


# --- fingerprints, partners, attribution -------------------------------------------------------


def finding_fingerprint(*, partner: Partner | None, account_id: str) -> str:
    """The de-duplication key of a detector incident (recipe in the module docstring)."""
    recipe = (
        f"{FINGERPRINT_VERSION}|partner|{partner.code}" if partner else f"{FINGERPRINT_VERSION}|merchant|{account_id}"
    )
    return f"finding:{FINGERPRINT_VERSION}:{hashlib.sha256(recipe.encode()).hexdigest()}"


@dataclass(frozen=True)
class _Attribution:
    kind: str
    rows: list[dict]


def _attribution(finding: Finding) -> _Attribution:
    """What the detector stored; computed now when it stored nothing."""
    if finding.attribution or finding.attribution_kind:
        return _Attribution(kind=finding.attribution_kind, rows=list(finding.attribution or []))
    computed = finding_attribution(finding)
    return _Attribution(kind=computed.kind, rows=attribution_rows_json(computed))


def finding_partner(finding: Finding) -> Partner | None:
    """The partner to engage: none for a mix shift; else the one the top attribution slice maps to;
    else the finding segment's own route, then issuer."""
    attribution = _attribution(finding)
    if attribution.kind == AttributionKind.MIX_SHIFT:
        return None
    if attribution.rows and attribution.rows[0].get("partner_id"):
        partner = Partner.objects.filter(pk=attribution.rows[0]["partner_id"]).first()
        if partner is not None:
            return partner
    segment = finding.segment
    return segment.route or segment.issuer


# --- the incident flow --------------------------------------------------------------------------


def _locked(finding: Finding) -> Finding:
    return Finding.objects.select_for_update(of=("self",)).select_related("segment__merchant").get(pk=finding.pk)


def _open_incident_of(finding: Finding) -> Incident | None:
    if finding.incident_id is None:
        return None
    return Incident.objects.filter(pk=finding.incident_id, status__in=OPEN_STATUSES).first()


def _link(finding: Finding, *, actor, how: str, incident: Incident | None = None) -> Incident:
    """Put the finding on an incident through the alert intake, then on its timeline."""
    partner = finding_partner(finding)
    own = finding_impact(finding)
    target = incident or _open_incident_of(finding)
    if target is not None:
        applied = _apply(finding, actor=actor, incident=target, partner=partner, own=own)
    else:
        fingerprint = finding_fingerprint(partner=partner, account_id=finding.segment.merchant.account_id)
        existing = Incident.objects.filter(fingerprint=fingerprint, status__in=OPEN_STATUSES).first()
        impact = _merchant_impact(finding, existing, own=own)
        applied = alert_apply(
            actor=actor,
            data=_alert_data(finding, impact),
            segment=_alert_segment(finding, partner),
            fingerprint=fingerprint,
            add_merchant=impact.excess_declines > 0,
        )
    if finding.incident_id != applied.incident.pk:
        finding.incident = applied.incident
        Finding.objects.filter(pk=finding.pk).update(incident=applied.incident)
    timeline.record(
        _linked_event(finding, how=how, partner=partner, impact=own), incident=applied.incident, actor=actor
    )
    return applied.incident


def _apply(
    finding: Finding, *, actor, incident: Incident, partner: Partner | None = None, own: Impact | None = None
) -> AlertApplied:
    """The merchant's latest figures on a given open incident (the alert path's update)."""
    if own is None:
        partner = finding_partner(finding)
    impact = _merchant_impact(finding, incident, own=own)
    return alert_apply_to_incident(
        actor=actor,
        incident=incident,
        data=_alert_data(finding, impact),
        segment=_alert_segment(finding, partner),
        add_merchant=impact.excess_declines > 0,
    )


def _merchant_impact(finding: Finding, incident: Incident | None, *, own: Impact | None = None) -> Impact:
    """The merchant's impact on the incident: the finding's segment together with the segments
    of the merchant's other findings on it, active or recovered (a run catching up on hours of
    data recovers one finding before the next one of the merchant is linked: its figures still
    count) (a merchant-level finding covers every slice,
    so it alone counts when there is one). Slices are disjoint, so their figures add up."""
    siblings = []
    if incident is not None:
        siblings = list(
            Finding.objects.filter(
                incident=incident, segment__merchant_id=finding.segment.merchant_id, state__in=MEASURED_STATES
            )
            .exclude(pk=finding.pk)
            .exclude(segment_id=finding.segment_id)
            .select_related("segment__merchant")
            .order_by("segment_id", "-window_end")
        )
    chosen = {finding.segment_id: finding}
    for sibling in siblings:
        chosen.setdefault(sibling.segment_id, sibling)
    merchant_level = [item for item in chosen.values() if item.segment.parent_id is None]
    if merchant_level:
        chosen = {merchant_level[0].segment_id: merchant_level[0]}
    if len(chosen) == 1 and own is not None and finding.segment_id in chosen:
        return own
    weeks = detector_config(finding.segment.merchant_id).baseline_weeks
    impacts = [
        own if item.pk == finding.pk and own is not None else finding_impact(item, weeks=weeks)
        for item in chosen.values()
    ]
    return combined_impact(impacts)


def _alert_segment(finding: Finding, partner: Partner | None) -> dict:
    """The finding's segment in the shape the alert intake resolves a posted one to."""
    segment = finding.segment
    is_issuer = partner is not None and partner.kind == Partner.Kind.ISSUER
    return {
        "merchant": segment.merchant,
        "partner": None if partner is None or is_issuer else partner,
        "issuer": partner if is_issuer else None,
        "network": segment.network,
        "country": segment.country,
        "bin_prefix": segment.bin_prefix,
    }


def _alert_data(finding: Finding, impact: Impact) -> dict:
    """The finding measured from the buckets, in the shape of a validated alert payload."""
    return {
        "window": {"start": impact.window_start, "end": impact.window_end},
        "baseline_approval_rate": impact.baseline_rate,
        "observed_approval_rate": impact.observed_rate,
        "attempts": impact.attempts,
        "failed_attempts": impact.failed_attempts,
        "volume_at_risk": {"amount": impact.volume_at_risk, "currency": impact.currency},
        "decline_codes": [
            {"code": code, "count": count, "count_before": int(impact.codes_before.get(code, 0))}
            for code, count in impact.rising_codes()
        ],
        "severity_hint": "",
        "title": "",
        "source": DETECTOR_SOURCE,
        "masked_card_numbers": 0,
    }


def _linked_event(finding: Finding, *, how: str, partner: Partner | None, impact: Impact) -> FindingLinked:
    return FindingLinked(
        finding=finding.pk,
        how=how,
        finding_kind=finding.kind,
        decline_code=finding.decline_code,
        merchant=finding.segment.merchant.name,
        account_id=finding.segment.merchant.account_id,
        segment=_label(finding.segment, "en"),
        segment_es=_label(finding.segment, "es"),
        partner=partner.name if partner else "",
        attribution_kind=_attribution(finding).kind,
        window={"start": impact.window_start.isoformat(), "end": impact.window_end.isoformat()},
        baseline_rate=str(impact.baseline_rate),
        observed_rate=str(impact.observed_rate),
        attempts=impact.attempts,
        failed_attempts=impact.failed_attempts,
        excess_declines=impact.excess_declines,
        volume_at_risk=str(impact.volume_at_risk),
        currency=impact.currency,
        baseline_attempts=impact.baseline_attempts,
        codes_before=impact.codes_before,
        codes_during=impact.codes_during,
        sentence_en=attribution_sentence(finding, language="en"),
        sentence_es=attribution_sentence(finding, language="es"),
    )


def _label(segment, language: str) -> str:
    """The segment as people read it, in `language` (its choices are translated)."""
    with translation.override(language):
        return str(segment)


# --- webhooks ------------------------------------------------------------------------------------


def finding_webhook_payload(finding: Finding) -> dict:
    """The `data` of `finding.created` and `finding.recovered` (docs/webhooks.md)."""
    segment = finding.segment
    incident = Incident.objects.filter(pk=finding.incident_id).only("reference").first()
    return {
        "finding": finding.pk,
        "kind": finding.kind,
        "decline_code": finding.decline_code,
        "state": finding.state,
        "segment": {
            "merchant": segment.merchant.account_id,
            "merchant_name": segment.merchant.name,
            "network": segment.network,
            "bin_prefix": segment.bin_prefix,
            "issuer": segment.issuer.code if segment.issuer_id else "",
            "route": segment.route.code if segment.route_id else "",
            "country": segment.country,
            "funding": segment.funding,
            "entry_mode": segment.entry_mode,
        },
        "window": {"start": finding.window_start.isoformat(), "end": finding.window_end.isoformat()},
        "started_at": finding.started_at.isoformat() if finding.started_at else None,
        "baseline_rate": str(finding.baseline_rate),
        "observed_rate": str(finding.observed_rate),
        "attempts": finding.attempts,
        "approvals": finding.approvals,
        "excess_declines": finding.excess_declines,
        "p_value": finding.p_value,
        "q_value": finding.q_value,
        "attribution_kind": finding.attribution_kind,
        "attribution_sentence": attribution_sentence(finding, language="en"),
        "incident": incident.reference if incident else None,
        "recovered_at": finding.recovered_at.isoformat() if finding.recovered_at else None,
    }


def _emit(finding: Finding, event_type: str, what: str) -> None:
    if event_type not in subscribed_event_types():
        return  # nobody listens: no payload to build
    webhook_event_emit(event_type, finding_webhook_payload(finding), webhook_event_id(f"finding:{finding.pk}:{what}"))
