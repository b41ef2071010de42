"""The allow-listed context a notice renders against: one incident, seen by one partner.

Only plain dicts, lists, strings, numbers and booleans leave this module (the shape is
`partners.notices.CONTEXT_SCHEMA`), so a template can reach no model method, no relation and
nothing of another partner: escalation contacts are the addressed partner's own, and the
incident's summary and root cause (desk notes that may name other partners) are left out.
Words are rendered in the notice's language; times are given in UTC and in the partner's
zone with the zone's name (Mexico City is UTC−6 since its daylight saving time ended in 2022, US
zones follow DST), written the way a bank in that language writes them (`moment`). Each partner
sees only its own scope (`cases.services.scope`) and the incident's partner-facing title and
summary in the notice's language.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from cases.correspondence.extensions import extension_context, extension_values
from cases.models import (
    AffectedMerchant,
    CardNetwork,
    Incident,
    IncidentDeclineCode,
    PartnerEngagement,
    ResponseCode,
    Severity,
    SlaPolicy,
)
from cases.models.incident import Category, EntryMode, Status
from cases.services.scope import engagement_scope
from partners.models import PartnerContact

# Names people use for the zones partners keep; any other zone shows its IANA name.
ZONE_LABELS = {
    "America/Mexico_City": _("Central Mexico time"),
    "America/Monterrey": _("Central Mexico time"),
    "America/Merida": _("Central Mexico time"),
    "America/Cancun": _("Quintana Roo time"),
    "America/Tijuana": _("Northwest Mexico time"),
    "America/New_York": _("US Eastern time"),
    "America/Chicago": _("US Central time"),
    "America/Denver": _("US Mountain time"),
    "America/Los_Angeles": _("US Pacific time"),
    "UTC": "UTC",
}
MINUS = "\u2212"


def zone_label(zone: str) -> str:
    return str(ZONE_LABELS.get(zone, zone))


WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Country names as a notice writes them (ISO code → English, Spanish); any other code shows as given.
COUNTRY_NAMES = {
    "MX": ("Mexico", "México"),
    "US": ("United States", "Estados Unidos"),
    "CA": ("Canada", "Canadá"),
    "BR": ("Brazil", "Brasil"),
    "CO": ("Colombia", "Colombia"),
    "AR": ("Argentina", "Argentina"),
    "CL": ("Chile", "Chile"),
    "PE": ("Peru", "Perú"),
    "ES": ("Spain", "España"),
    "GB": ("United Kingdom", "Reino Unido"),
    "GT": ("Guatemala", "Guatemala"),
    "CR": ("Costa Rica", "Costa Rica"),
    "PA": ("Panama", "Panamá"),
    "DO": ("Dominican Republic", "República Dominicana"),
}


def country_name(code: str, language: str) -> str:
    names = COUNTRY_NAMES.get((code or "").upper())
    if names is None:
        return code or ""
    return names[1] if language == "es" else names[0]


def moment(value: datetime | None, zone: str, language: str | None = None) -> dict | None:
    """One instant in UTC and in `zone`, e.g. local "2026-03-02 09:04 CST", offset "UTC−06:00", and
    `text` as a bank in the language writes it: "sábado 10/08/2019, 10:47 h, hora del centro de
    México (horario de verano, UTC−05:00)", "Saturday 10 Aug 2019, 10:47 CDT (Central Mexico time,
    UTC−05:00)". Daylight saving time is named only when it applied."""
    if value is None:
        return None
    language = "es" if (language or translation.get_language() or "en").startswith("es") else "en"
    local = value.astimezone(ZoneInfo(zone))
    abbreviation = local.tzname() or ""
    if abbreviation[:1] in {"+", "-"}:  # zones without a letter abbreviation
        abbreviation = ""
    minutes = int(local.utcoffset().total_seconds() // 60)
    offset = f"UTC{'+' if minutes >= 0 else MINUS}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    utc = value.astimezone(UTC)
    dst = bool(local.dst())
    weekday = WEEKDAYS[language][local.weekday()]
    with translation.override(language):
        label = zone_label(zone)
    if language == "es":
        summer = "horario de verano, " if dst else ""
        text = f"{weekday} {local:%d/%m/%Y}, {local:%H:%M} h, {label} ({summer}{offset})"
    else:
        text = (
            f"{weekday} {local.day} {MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"
            + (f" {abbreviation}" if abbreviation else "")
            + f" ({label}, {offset})"
        )
    return {
        "utc": f"{utc:%Y-%m-%d %H:%M} UTC",
        "local": f"{local:%Y-%m-%d %H:%M}" + (f" {abbreviation}" if abbreviation else ""),
        "offset": offset,
        "zone": label,
        "iso": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "text": text,
        "date": f"{local:%d/%m/%Y}",
        "time": f"{local:%H:%M}",
        "weekday": weekday,
        "dst": dst,
    }


def percent_text(share: Decimal, language: str) -> str:
    return f"{share * 100:.2f}{' %' if language == 'es' else '%'}"


def rate_change(baseline: Decimal, observed: Decimal) -> str:
    """ "21.30 percentage points lower", or higher (a rate can rise), in the active language."""
    points = (observed - baseline) * 100
    amount = f"{abs(points):.2f}"
    if points < 0:
        return _("%(points)s percentage points lower") % {"points": amount}
    if points > 0:
        return _("%(points)s percentage points higher") % {"points": amount}
    return str(_("unchanged"))


def drop_words(baseline: Decimal, observed: Decimal) -> str:
    """ "caída de 48.55 puntos porcentuales" / "a drop of 48.55 percentage points" (a rise when it rose)."""
    points = (observed - baseline) * 100
    amount = f"{abs(points):,.2f}"
    if points < 0:
        return _("a drop of %(points)s percentage points") % {"points": amount}
    if points > 0:
        return _("a rise of %(points)s percentage points") % {"points": amount}
    return str(_("unchanged"))


def _impact(incident: Incident, language: str) -> dict:
    """Baseline vs observed approval rate (weighted by attempts), excess declines, amount at risk."""
    rows = list(AffectedMerchant.objects.filter(incident=incident))
    measured = [row for row in rows if row.baseline_rate is not None and row.observed_rate is not None]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.volume_at_risk:
            totals[row.currency] += row.volume_at_risk
    amount = " + ".join(f"{currency} {total:,.2f}" for currency, total in sorted(totals.items()))
    excess = sum(row.excess_declines or 0 for row in rows)
    attempts = sum(row.attempts for row in rows)
    if not measured:
        return {
            "measured": False,
            "baseline_rate": "",
            "observed_rate": "",
            "drop_pp": "",
            "change": "",
            "attempts": f"{attempts:,}" if attempts else "",
            "excess_declines": f"{excess:,}" if excess else "",
            "amount_at_risk": amount,
            "drop": "",
        }
    weight = sum(row.attempts for row in measured)
    if weight:
        baseline = sum(row.baseline_rate * row.attempts for row in measured) / weight
        observed = sum(row.observed_rate * row.attempts for row in measured) / weight
    else:
        baseline = sum(row.baseline_rate for row in measured) / len(measured)
        observed = sum(row.observed_rate for row in measured) / len(measured)
    return {
        "measured": True,
        "baseline_rate": percent_text(baseline, language),
        "observed_rate": percent_text(observed, language),
        "drop_pp": f"{(baseline - observed) * 100:.2f}",
        "change": rate_change(baseline, observed),
        "attempts": f"{attempts:,}",
        "excess_declines": f"{excess:,}",
        "amount_at_risk": amount or "—",
        "drop": drop_words(baseline, observed),
    }


def _symptoms(incident: Incident) -> list[dict]:
    """Each code seen, its meaning in the notice's language (the active one: compose overrides
    it), its category and, when counted, its count and share of the declines before and during."""
    language = translation.get_language() or "en"
    meanings: dict[str, list[ResponseCode]] = defaultdict(list)
    rows = ResponseCode.objects.filter(code__in=incident.decline_codes).exclude(scheme__in=ResponseCode.ADVICE_SCHEMES)
    for row in rows.order_by("scheme", "code"):
        meanings[row.code].append(row)
    codes = list(dict.fromkeys(incident.decline_codes))
    counts = {row.code: row for row in IncidentDeclineCode.objects.filter(incident=incident, code__in=codes)}
    total_before = sum(row.count_before for row in counts.values() if row.count_before is not None)
    total_during = sum(row.count_during for row in counts.values())
    symptoms = []
    for code in codes:
        rows = meanings.get(code, [])
        counted = counts.get(code)
        before = counted.count_before if counted is not None else None
        # A row with nothing counted during (a code typed in without figures) has no figures to show.
        during = counted.count_during if counted is not None and total_during else None
        symptoms.append(
            {
                "code": code,
                "meaning": " / ".join(dict.fromkeys(row.meaning_in(language) for row in rows)),
                "category": str(rows[0].get_category_display()) if rows else "",
                "count_before": _count(before, language),
                "count_during": _count(during, language),
                "share_before": _share(before, total_before, language),
                "share_during": _share(during, total_during, language),
            }
        )
    return symptoms


def _count(value: int | None, language: str) -> str:
    return "" if value is None else f"{value:,}"


def _share(count: int | None, total: int, language: str) -> str:
    """A share of the period's declines as "12.5%" ("12.5 %" in Spanish), to 0.1 % rounded half
    up; "" when not counted."""
    if count is None or not total:
        return ""
    share = (Decimal(count) * 100 / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{share}{' %' if language == 'es' else '%'}"


def _escalation_contacts(engagement: PartnerEngagement) -> list[dict]:
    contacts = PartnerContact.objects.filter(partner_id=engagement.partner_id, active=True).filter(
        Q(role=PartnerContact.Role.ESCALATION) | Q(escalation_level__gt=1)
    )
    return [
        {
            "name": contact.name,
            "email": contact.email,
            "phone": contact.phone,
            "role": str(contact.get_role_display()),
            "level": contact.escalation_level,
        }
        for contact in contacts.order_by("escalation_level", "name")
    ]


def _update_policy(engagement: PartnerEngagement, policies: list[SlaPolicy]) -> SlaPolicy | None:
    """The most specific active policy for the severity: of the incident's category first (`policies`
    holds only those and the ones for any category), then the partner's, its kind's, the default."""
    partner = engagement.partner
    policies = sorted(policies, key=lambda policy: not policy.category)
    scopes = (
        lambda policy: policy.partner_id == partner.pk,
        lambda policy: policy.partner_id is None and policy.partner_kind == partner.kind,
        lambda policy: policy.partner_id is None and policy.partner_kind == "",
    )
    for in_scope in scopes:
        for policy in policies:
            if in_scope(policy):
                return policy
    return None


def next_update_at(engagement: PartnerEngagement, policies: list[SlaPolicy], now: datetime) -> datetime | None:
    """When the next update is due: now plus the update cadence on a 24x7 calendar.

    A business-hours cadence (SEV3/SEV4) is not a wall-clock time, so the templates say
    "within one business day" instead.
    """
    policy = _update_policy(engagement, policies)
    if policy is None or policy.update_every is None or not policy.calendar.is_24x7:
        return None
    return now + policy.update_every


@dataclass(frozen=True)
class IncidentFacts:
    """What every partner's notice about one incident shares, in one language: read once when
    a bulk action notifies 200 partners, not once per partner."""

    merchants: list[str]
    symptoms: list[dict]
    impact: dict
    policies: list[SlaPolicy]
    # What the registered providers add (`cases.correspondence.extensions`): name → {partner id: value}
    extensions: dict = field(default_factory=dict)


def incident_facts(incident: Incident, language: str) -> IncidentFacts:
    merchants = AffectedMerchant.objects.filter(incident=incident).order_by("merchant__name")
    with translation.override(language):
        return IncidentFacts(
            merchants=list(merchants.values_list("merchant__name", flat=True)),
            symptoms=_symptoms(incident),
            impact=_impact(incident, language),
            policies=list(
                SlaPolicy.objects.filter(active=True, severity=incident.severity, category__in=["", incident.category])
                .select_related("calendar")
                .order_by("-category", "pk")
            ),
            extensions=extension_values(incident, language),
        )


def desk_sender() -> tuple[str, str]:
    """(team name, address) of the desk mailbox replies go to, from DEFAULT_FROM_EMAIL."""
    team, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return team or address, address


def desk_contact() -> dict:
    """Our desk as partners reach it, in the active language (settings PAYHEALTH_DESK_*)."""
    return {
        "desk": settings.PAYHEALTH_DESK_NAME or str(_("PayHealth Operations")),
        "phone": settings.PAYHEALTH_DESK_PHONE,
        "bridge": settings.PAYHEALTH_DESK_BRIDGE_URL,
        "escalation": {
            "name": settings.PAYHEALTH_DESK_ESCALATION_NAME,
            "phone": settings.PAYHEALTH_DESK_ESCALATION_PHONE,
            "email": settings.PAYHEALTH_DESK_ESCALATION_EMAIL,
        },
    }


def _scope(engagement: PartnerEngagement, language: str) -> dict:
    incident = engagement.incident
    scope = engagement_scope(engagement)
    names = [item.merchant.name for item in scope.merchants]
    return {
        "merchants": names,
        "merchant_count": len(names),
        "networks": [str(CardNetwork(value).label) for value in scope.networks],
        "bin_prefixes": list(scope.bin_prefixes),
        "country": country_name(incident.country, language),
        "country_code": incident.country,
        "merchant_rows": [{"name": item.merchant.name, "affiliation": item.affiliation} for item in scope.merchants],
        "entry_modes": [str(EntryMode(value).label) for value in scope.entry_modes],
    }


def notice_context(
    *,
    engagement: PartnerEngagement,
    language: str,
    author=None,
    now: datetime | None = None,
    next_update: datetime | None = None,
    facts: IncidentFacts | None = None,
) -> dict:
    """The context for one partner's notice about its incident, in `language`.

    `facts` are the incident's shared parts from `incident_facts(incident, language)`, when the
    caller composes for several partners."""
    incident = engagement.incident
    partner = engagement.partner
    zone = partner.timezone
    now = now or timezone.now()
    facts = facts or incident_facts(incident, language)
    if next_update is None:
        next_update = next_update_at(engagement, facts.policies, now)
    start = incident.started_at or incident.detected_at or incident.created_at
    end = incident.mitigated_at or incident.resolved_at
    signer = author if getattr(author, "pk", None) else incident.owner
    team, address = desk_sender()
    with translation.override(language):
        return {
            "reference": incident.reference,
            "folio": engagement.folio,
            "partner_eta": moment(engagement.eta, zone, language),
            "title": incident.partner_title(language) or incident.title,
            "summary": incident.partner_summary(language),
            "severity": incident.severity.upper(),
            "severity_label": str(Severity(incident.severity).label),
            "status": str(Status(incident.status).label),
            "category": str(Category(incident.category).label),
            "partner": {
                "name": partner.name,
                "code": partner.code,
                "timezone": zone,
                "zone": zone_label(zone),
                "kind": str(partner.get_kind_display()),
            },
            "window": {
                "start": moment(start, zone, language),
                "end": moment(end, zone, language),
                "detected": moment(incident.detected_at, zone, language),
                "ongoing": end is None,
            },
            "scope": _scope(engagement, language),
            "symptoms": [dict(symptom) for symptom in facts.symptoms],
            "impact": dict(facts.impact),
            "next_update": moment(next_update, zone, language),
            "now": moment(now, zone, language),
            "escalation_contacts": _escalation_contacts(engagement),
            "our_contact": {
                "name": (signer.get_full_name() or signer.get_username()) if signer else "",
                "team": team,
                "email": address,
                **desk_contact(),
            },
            **extension_context(facts.extensions, partner.pk),
        }
