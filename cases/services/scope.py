"""What of an incident each engaged partner's notices show: its scope.

A partner sees only what concerns it. Until someone edits an engagement's scope it is derived
from what the desk knows:

- an issuer: the incident's BIN prefixes that are its own (`Partner.bin_prefixes`; none when it has
  none on file), their card networks, and the merchants by name only;
- a card network: its own network and the incident's BIN prefixes of that network, the merchants
  with the merchant ID it knows them by when there is one;
- a switch, acquirer, processor or any other partner: the merchants whose authorizations go
  through it (`MerchantRoute`, with the affiliation number it gave them; every merchant when no
  route to it is on file), the incident's BIN prefixes and networks.

The entry modes are the incident's. Edited once (page, API, admin, one service), the scope is
what was saved; every edit goes on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import AffectedMerchant, CardNetwork, EntryMode, Merchant, MerchantRoute, PartnerEngagement
from cases.models.incident import MAX_BIN_PREFIXES, too_many, validate_bin_prefix
from cases.timeline.events import PartnerUpdated
from partners.models import Partner

# Leading digits of each network's BINs (ISO/IEC 7812 ranges the networks publish).
_NETWORK_RANGES: tuple[tuple[str, int, int, int], ...] = (
    # network, digits compared, low, high
    (CardNetwork.VISA, 1, 4, 4),
    (CardNetwork.MASTERCARD, 2, 51, 55),
    (CardNetwork.MASTERCARD, 4, 2221, 2720),
    (CardNetwork.AMEX, 2, 34, 34),
    (CardNetwork.AMEX, 2, 37, 37),
    (CardNetwork.DISCOVER, 4, 6011, 6011),
    (CardNetwork.DISCOVER, 3, 644, 649),
    (CardNetwork.DISCOVER, 2, 65, 65),
    (CardNetwork.JCB, 4, 3528, 3589),
    (CardNetwork.UNIONPAY, 2, 62, 62),
)


def network_of_bin(prefix: str) -> str:
    """The card network a BIN prefix belongs to by its leading digits ("" when not one of them)."""
    for network, digits, low, high in _NETWORK_RANGES:
        head = prefix[:digits]
        if len(head) == digits and head.isdigit() and low <= int(head) <= high:
            return network
    return ""


def network_of_partner(partner: Partner) -> str:
    """The card network a card-network partner is ("" when its code or name names none)."""
    words = f"{partner.code} {partner.name}".lower().replace("-", " ").split()
    for network in CardNetwork:
        if network.value in words or network.label.lower() in f"{partner.code} {partner.name}".lower():
            return network.value
    return ""


def _covers(prefix: str, own: list[str]) -> bool:
    return any(prefix.startswith(mine) or mine.startswith(prefix) for mine in own)


@dataclass(frozen=True)
class ScopeMerchant:
    merchant: Merchant
    affiliation: str  # the number this partner gave the merchant; "" when unknown or not for its eyes


@dataclass(frozen=True)
class PartnerScope:
    bin_prefixes: list[str]
    networks: list[str]  # CardNetwork values
    entry_modes: list[str]  # EntryMode values
    merchants: list[ScopeMerchant]
    edited: bool


def default_scope(engagement: PartnerEngagement, *, merchants=None, routes=None) -> PartnerScope:
    """The scope derived from the partner's BINs, network and routes (see the module).
    `merchants` (the incident's affected merchants by name) and `routes` (this partner's merchant id
    → affiliation), when given, were read already (`engagement_scopes`)."""
    incident, partner = engagement.incident, engagement.partner
    if merchants is None:
        merchants = [
            row.merchant
            for row in AffectedMerchant.objects.filter(incident=incident)
            .select_related("merchant")
            .order_by("merchant__name")
        ]
    if routes is None:
        routes = dict(
            MerchantRoute.objects.filter(partner=partner, merchant__in=merchants).values_list(
                "merchant_id", "affiliation"
            )
        )
    bins, networks = list(incident.bin_prefixes), list(incident.card_networks)
    if partner.kind == Partner.Kind.ISSUER:
        bins = [prefix for prefix in bins if _covers(prefix, list(partner.bin_prefixes))]
        own_networks = {network_of_bin(prefix) for prefix in bins}
        networks = [network for network in networks if network in own_networks] if bins else []
        scoped = [ScopeMerchant(merchant, "") for merchant in merchants]
    elif partner.kind == Partner.Kind.CARD_NETWORK:
        own = network_of_partner(partner)
        networks = [own] if own else []
        bins = [prefix for prefix in bins if own and network_of_bin(prefix) == own]
        scoped = [ScopeMerchant(merchant, routes.get(merchant.pk, "")) for merchant in merchants]
    else:
        routed = [merchant for merchant in merchants if merchant.pk in routes]
        scoped = [ScopeMerchant(merchant, routes.get(merchant.pk, "")) for merchant in routed or merchants]
    return PartnerScope(
        bin_prefixes=bins, networks=networks, entry_modes=list(incident.entry_modes), merchants=scoped, edited=False
    )


def engagement_scope(engagement: PartnerEngagement) -> PartnerScope:
    """The scope this partner's notices show: the saved one once edited, else the derived one."""
    if not engagement.scope_edited:
        return default_scope(engagement)
    chosen = list(engagement.scope_merchants.order_by("name"))
    routes = dict(
        MerchantRoute.objects.filter(partner_id=engagement.partner_id, merchant__in=chosen).values_list(
            "merchant_id", "affiliation"
        )
    )
    show_affiliation = engagement.partner.kind != Partner.Kind.ISSUER
    return PartnerScope(
        bin_prefixes=list(engagement.scope_bin_prefixes),
        networks=list(engagement.scope_networks),
        entry_modes=list(engagement.scope_entry_modes),
        merchants=[
            ScopeMerchant(merchant, routes.get(merchant.pk, "") if show_affiliation else "") for merchant in chosen
        ],
        edited=True,
    )


def engagement_scopes(engagements, *, merchants) -> dict[int, PartnerScope]:
    """Engagement id → `engagement_scope` for every engagement of one incident, in two queries
    whatever their number: the partners' routes to the merchants, and the merchants chosen on
    edited scopes. `merchants` are the incident's affected merchants, by name."""
    engagements = list(engagements)
    chosen: dict[int, list[Merchant]] = {engagement.pk: [] for engagement in engagements if engagement.scope_edited}
    if chosen:
        through = PartnerEngagement.scope_merchants.through
        for link in (
            through.objects.filter(partnerengagement_id__in=chosen)
            .select_related("merchant")
            .order_by("merchant__name")
        ):
            chosen[link.partnerengagement_id].append(link.merchant)
    wanted = {merchant.pk for merchant in merchants} | {m.pk for rows in chosen.values() for m in rows}
    routes: dict[int, dict[int, str]] = {engagement.partner_id: {} for engagement in engagements}
    if wanted and routes:
        for partner_id, merchant_id, affiliation in MerchantRoute.objects.filter(
            partner_id__in=routes, merchant_id__in=wanted
        ).values_list("partner_id", "merchant_id", "affiliation"):
            routes[partner_id][merchant_id] = affiliation
    scopes = {}
    for engagement in engagements:
        partner_routes = routes[engagement.partner_id]
        if not engagement.scope_edited:
            scopes[engagement.pk] = default_scope(engagement, merchants=merchants, routes=partner_routes)
            continue
        show_affiliation = engagement.partner.kind != Partner.Kind.ISSUER
        scopes[engagement.pk] = PartnerScope(
            bin_prefixes=list(engagement.scope_bin_prefixes),
            networks=list(engagement.scope_networks),
            entry_modes=list(engagement.scope_entry_modes),
            merchants=[
                ScopeMerchant(merchant, partner_routes.get(merchant.pk, "") if show_affiliation else "")
                for merchant in chosen[engagement.pk]
            ],
            edited=True,
        )
    return scopes


def _choices(values, allowed, field: str) -> list[str]:
    values = list(dict.fromkeys(str(value).strip() for value in values or () if str(value).strip()))
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ValidationError(
            {field: _("Unknown value: %(values)s.") % {"values": ", ".join(unknown[:5])}}, code="invalid_choice"
        )
    return values


@transaction.atomic
def engagement_scope_edit(
    *,
    engagement: PartnerEngagement,
    actor,
    bin_prefixes=(),
    networks=(),
    entry_modes=(),
    merchants=(),
) -> PartnerEngagement:
    """Save what this partner's notices show (all four parts at once); recorded on the timeline.

    BIN prefixes are 6–8 digits (a card number is refused, never echoed); merchants must be
    affected by the incident.
    """
    row = (
        PartnerEngagement.objects.select_for_update(of=("self", "incident"))
        .select_related("partner", "incident")
        .get(pk=engagement.pk)
    )
    errors: dict[str, list[str]] = {}
    prefixes = []
    for value in bin_prefixes or ():
        value = str(value).strip()
        if not value:
            continue
        try:
            validate_bin_prefix(value)
        except ValidationError as exc:
            errors.setdefault("bin_prefixes", []).extend(exc.messages)
            continue
        prefixes.append(value.replace(" ", "").replace("-", ""))
    prefixes = list(dict.fromkeys(prefixes))
    if len(prefixes) > MAX_BIN_PREFIXES:
        errors.setdefault("bin_prefixes", []).append(too_many(len(prefixes), MAX_BIN_PREFIXES))
    try:
        chosen_networks = _choices(networks, CardNetwork.values, "networks")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        chosen_networks = []
    try:
        chosen_modes = _choices(entry_modes, EntryMode.values, "entry_modes")
    except ValidationError as exc:
        errors.update(exc.message_dict)
        chosen_modes = []
    affected = {
        merchant.pk: merchant
        for merchant in Merchant.objects.filter(impacts__incident_id=row.incident_id).order_by("name")
    }
    chosen_merchants = []
    for merchant in merchants or ():
        pk = getattr(merchant, "pk", merchant)
        if pk not in affected:
            errors.setdefault("merchants", []).append(_("Only merchants affected by the incident can be in scope."))
            break
        chosen_merchants.append(affected[pk])
    if errors:
        raise ValidationError(errors, code="invalid")
    before = engagement_scope(row)
    after = {
        "scope_bin_prefixes": prefixes,
        "scope_networks": chosen_networks,
        "scope_entry_modes": chosen_modes,
        "scope_merchants": sorted(merchant.name for merchant in chosen_merchants),
    }
    previous = {
        "scope_bin_prefixes": before.bin_prefixes,
        "scope_networks": before.networks,
        "scope_entry_modes": before.entry_modes,
        "scope_merchants": sorted(item.merchant.name for item in before.merchants),
    }
    changed = {
        field: {"from": previous[field], "to": value} for field, value in after.items() if previous[field] != value
    }
    if not changed and row.scope_edited:
        return row
    row.scope_edited = True
    row.scope_bin_prefixes, row.scope_networks, row.scope_entry_modes = prefixes, chosen_networks, chosen_modes
    row.full_clean()
    row.save(update_fields=["scope_edited", "scope_bin_prefixes", "scope_networks", "scope_entry_modes", "updated_at"])
    row.scope_merchants.set(chosen_merchants)
    updated = PartnerUpdated(
        partner=row.partner.name, code=row.partner.code, engagement=row.pk, changes=changed or {"scope_edited": True}
    )
    timeline.record(updated, incident=row.incident, actor=actor)
    return row
