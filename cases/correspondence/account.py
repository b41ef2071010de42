"""The internal update to a merchant's account team: that merchant's impact, for its account manager.

An `account_update` notice is an outbound `Correspondence` with a `merchant` and no partner
engagement: it goes to the merchant's account manager (`Merchant.account_manager_email`), in
their language (`account_manager_language`, else English), never to a partner. It follows the
notices' path (draft → approval when the incident is or was SEV1/SEV2 → queued → sent) but moves
no SLA clock and starts no partner thread. Its template renders in the same sandbox as the
partner notices, with `account` filled (`partners.notices.CONTEXT_SCHEMA`) and `partner` empty.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import acting_person, active_template, render_template, require_permission
from cases.correspondence.context import (
    desk_contact,
    desk_sender,
    incident_facts,
    moment,
    percent_text,
    rate_change,
    zone_label,
)
from cases.correspondence.email import new_message_id, subject_with_token, thread_references
from cases.correspondence.extensions import extension_context
from cases.models import AffectedMerchant, CardNetwork, Correspondence, Incident, Merchant, PartnerEngagement
from cases.models.incident import Category, Severity, Status
from cases.timeline.events import NoticeDrafted
from partners.models import NoticeTemplate
from partners.notices import EMPTY_ACCOUNT
from payhealth.i18n import Language

KIND = NoticeTemplate.Kind.ACCOUNT_UPDATE


def account_manager_language(merchant: Merchant) -> str:
    return merchant.account_manager_language or Language.ENGLISH


def _merchant_impact(row: AffectedMerchant, language: str) -> dict:
    measured = row.baseline_rate is not None and row.observed_rate is not None
    return {
        "measured": measured,
        "baseline_rate": percent_text(Decimal(row.baseline_rate), language) if measured else "",
        "observed_rate": percent_text(Decimal(row.observed_rate), language) if measured else "",
        "change": rate_change(Decimal(row.baseline_rate), Decimal(row.observed_rate)) if measured else "",
        "attempts": f"{row.attempts:,}" if row.attempts else "",
        "excess_declines": f"{row.excess_declines:,}" if row.excess_declines else "",
        "volume_at_risk": f"{row.currency} {row.volume_at_risk:,.2f}" if row.volume_at_risk else "",
    }


def account_context(*, affected: AffectedMerchant, language: str, author=None, now=None) -> dict:
    """The context of the account update about `affected.merchant` on its incident, in `language`."""
    incident = affected.incident
    merchant = affected.merchant
    zone = settings.PAYHEALTH_TIME_ZONE
    now = now or timezone.now()
    facts = incident_facts(incident, language)
    start = incident.started_at or incident.detected_at or incident.created_at
    end = incident.mitigated_at or incident.resolved_at
    signer = author if getattr(author, "pk", None) else incident.owner
    team, address = desk_sender()
    engagements = (
        PartnerEngagement.objects.filter(incident=incident)
        .exclude(partner_status=PartnerEngagement.PartnerStatus.NOT_INVOLVED)
        .select_related("partner")
        .order_by("partner__name")
    )
    with translation.override(language):
        return {
            "reference": incident.reference,
            "folio": "",
            "title": incident.title,
            "severity": incident.severity.upper(),
            "severity_label": str(Severity(incident.severity).label),
            "status": str(Status(incident.status).label),
            "category": str(Category(incident.category).label),
            "partner": {"name": "", "code": "", "timezone": zone, "zone": zone_label(zone)},
            "window": {
                "start": moment(start, zone, language),
                "end": moment(end, zone, language),
                "detected": moment(incident.detected_at, zone, language),
                "ongoing": end is None,
            },
            "scope": {
                "merchants": [merchant.name],
                "merchant_count": 1,
                "networks": [str(CardNetwork(value).label) for value in incident.card_networks],
                "bin_prefixes": list(incident.bin_prefixes),
                "country": incident.country,
            },
            "symptoms": [dict(symptom) for symptom in facts.symptoms],
            "impact": dict(facts.impact),
            "next_update": None,
            "now": moment(now, zone, language),
            "escalation_contacts": [],
            "our_contact": {
                "name": (signer.get_full_name() or signer.get_username()) if signer else "",
                "team": team,
                "email": address,
                **desk_contact(),  # the 24×7 line, bridge and escalation manager, as on partner notices
            },
            **extension_context({}, 0),
            "account": {
                **EMPTY_ACCOUNT,
                "present": True,
                "merchant": merchant.name,
                "merchant_account": merchant.account_id,
                "manager": merchant.account_manager,
                **_merchant_impact(affected, language),
                "partners": [
                    {
                        "name": engagement.partner.name,
                        "kind": str(engagement.partner.get_kind_display()),
                        "status": str(engagement.get_partner_status_display()),
                    }
                    for engagement in engagements
                ],
            },
        }


def _thread_parent(incident: Incident, merchant: Merchant) -> Correspondence | None:
    """The latest account update to this merchant's team on the incident that left, to thread under."""
    return (
        Correspondence.objects.filter(
            incident=incident,
            merchant=merchant,
            direction=Correspondence.Direction.OUTBOUND,
            status__in=[Correspondence.Status.QUEUED, Correspondence.Status.SENDING, Correspondence.Status.SENT],
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def account_update_compose(*, incident: Incident, merchant: Merchant, actor) -> Correspondence:
    """Draft the internal update to `merchant`'s account manager about its impact on `incident`.

    The merchant must be one of the incident's affected merchants and have an account manager's
    address. Sent like any notice (`cases.correspondence.dispatch`), never to a partner.
    """
    require_permission(actor, "cases.add_correspondence", _("Drafting notices needs a desk role."))
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    affected = (
        AffectedMerchant.objects.filter(incident=locked, merchant_id=merchant.pk).select_related("merchant").first()
    )
    if affected is None:
        raise ValidationError(
            {
                "merchant": _("%(merchant)s is not an affected merchant of %(reference)s.")
                % {"merchant": merchant.name, "reference": locked.reference}
            },
            code="not_affected",
        )
    merchant = affected.merchant
    if not merchant.account_manager_email:
        raise ValidationError(
            {
                "merchant": _("%(merchant)s has no account manager email: add it on the merchant first.")
                % {"merchant": merchant.name}
            },
            code="no_account_manager",
        )
    affected.incident = locked
    now = timezone.now()
    template = active_template(KIND, account_manager_language(merchant))
    context = account_context(affected=affected, language=template.language, author=actor, now=now)
    rendered = render_template(template, context)
    parent = _thread_parent(locked, merchant)
    row = Correspondence(
        incident=locked,
        merchant=merchant,
        direction=Correspondence.Direction.OUTBOUND,
        channel=Correspondence.Channel.EMAIL,
        kind=KIND,
        template=template,
        template_version=template.version,
        language=template.language,
        subject=subject_with_token(rendered.subject, locked.reference),
        body_text=rendered.body,
        from_address=settings.DEFAULT_FROM_EMAIL,
        to_addresses=[merchant.account_manager_email],
        status=Correspondence.Status.DRAFT,
        peak_severity=locked.severity,
        message_id=new_message_id(locked.reference),
        in_reply_to=parent.message_id if parent else "",
        references=thread_references(parent.references, parent.message_id) if parent else "",
        created_by=acting_person(actor),
    )
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save()
    drafted = NoticeDrafted(
        correspondence=row.pk,
        notice_kind=KIND,
        partner=row.addressee_name,
        language=row.language,
        to=row.to_addresses,
        template_version=template.version,
    )
    timeline.record(drafted, incident=locked, actor=actor, at=now)
    locked.save(update_fields=["updated_at"])
    return row
