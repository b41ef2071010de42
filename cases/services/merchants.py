"""Adding and correcting the merchants the desk watches (reference data, no timeline of their own)."""

from __future__ import annotations

from django.db import transaction

from cases.models import Merchant, MerchantRoute

MERCHANT_FIELDS = (
    "account_id",
    "name",
    "country",
    "mcc",
    "segment",
    "account_manager",
    "account_manager_email",
    "account_manager_language",
)


def _check_fields(changes: dict) -> None:
    unknown = set(changes) - set(MERCHANT_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")


def _normalise(changes: dict) -> dict:
    if "country" in changes:
        changes["country"] = (changes["country"] or "").strip().upper()
    for field in ("account_id", "name", "mcc", "account_manager", "account_manager_email"):
        if field in changes:
            changes[field] = (changes[field] or "").strip()
    return changes


@transaction.atomic
def merchant_create(*, actor, account_id: str, name: str, country: str, mcc: str, **extra) -> Merchant:
    """Add a merchant; the account id is unique (checked by full_clean, enforced by the database)."""
    fields = _normalise({"account_id": account_id, "name": name, "country": country, "mcc": mcc, **extra})
    _check_fields(fields)
    merchant = Merchant(**fields)
    merchant.full_clean()
    merchant.save()
    return merchant


@transaction.atomic
def merchant_update(*, merchant: Merchant, actor, **changes) -> Merchant:
    """Correct a merchant's details; only the fields that differ are written."""
    _check_fields(changes)
    changes = _normalise(dict(changes))
    locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
    changed = [field for field, value in changes.items() if getattr(locked, field) != value]
    if not changed:
        return locked
    for field in changed:
        setattr(locked, field, changes[field])
    locked.full_clean()
    locked.save(update_fields=changed)
    return locked


@transaction.atomic
def merchant_route_save(*, actor, merchant: Merchant, partner, affiliation: str = "") -> MerchantRoute:
    """Record that the merchant's authorizations go through `partner`, with the affiliation number
    (merchant ID) that partner gave it; saving again changes the number."""
    affiliation = (affiliation or "").strip()
    route = MerchantRoute.objects.select_for_update().filter(merchant=merchant, partner=partner).order_by("pk").first()
    if route is None:
        route = MerchantRoute(merchant=merchant, partner=partner)
    elif route.affiliation == affiliation:
        return route
    route.affiliation = affiliation
    route.full_clean()
    route.save()
    return route


@transaction.atomic
def merchant_route_delete(*, actor, route: MerchantRoute) -> None:
    """The merchant no longer goes through that partner."""
    MerchantRoute.objects.filter(pk=route.pk).delete()
