"""The standing part of the demo: users, partners, contacts and merchants, upserted on natural keys.

Running it again updates the same rows (username, partner code, partner × contact e-mail,
merchant account id), so counts never grow.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import CommandError

from accounts.models import Profile
from cases.models import Merchant
from demo import catalog
from partners.models import BusinessCalendar, Partner, PartnerContact


@dataclass
class DemoDesk:
    """What incidents are generated from; only active partners are ever engaged."""

    users: dict[str, object]
    partners: list[Partner]
    contacts: dict[int, list[PartnerContact]]
    merchants: list[Merchant]
    partners_by_kind: dict[str, list[Partner]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_kind: dict[str, list[Partner]] = defaultdict(list)
        for partner in self.partners:
            if partner.active:
                by_kind[partner.kind].append(partner)
        self.partners_by_kind = dict(by_kind)

    @property
    def desk_users(self) -> list:
        """Everyone who works incidents (the superuser only administers)."""
        return [user for name, user in self.users.items() if name != "admin"]


def seed_users() -> dict[str, object]:
    """One user per role, a superuser and a few more analysts; password set on creation only.

    An existing user keeps a password someone changed on purpose. The hash is computed once:
    hashing is deliberately slow and every demo user shares the same dev-only password.
    """
    User = get_user_model()  # noqa: N806 - model class
    groups = {
        group.name: group for group in Group.objects.filter(name__in={u.role for u in catalog.DEMO_USERS if u.role})
    }
    missing = {u.role for u in catalog.DEMO_USERS if u.role} - set(groups)
    if missing:
        raise CommandError(f"Role groups missing ({', '.join(sorted(missing))}); run `manage.py migrate` first.")
    encoded = None
    users = {}
    for spec in catalog.DEMO_USERS:
        user, created = User.objects.update_or_create(
            username=spec.username,
            defaults={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "email": f"{spec.username}@{catalog.USER_EMAIL_DOMAIN}",
                "is_staff": spec.role is None,  # the admin is the superuser's; desk roles are never staff
                "is_superuser": spec.role is None,
                "is_active": True,
            },
        )
        if created:
            encoded = encoded or make_password(catalog.DEMO_PASSWORD)
            user.password = encoded
            user.save(update_fields=["password"])
        user.groups.set([groups[spec.role]] if spec.role else [])
        Profile.objects.update_or_create(user=user, defaults={"timezone": spec.timezone, "language": spec.language})
        users[spec.username] = user
    return users


def seed_partners() -> list[Partner]:
    rows = catalog.partners_reference_rows()
    calendars = {c.code: c for c in BusinessCalendar.objects.all()}
    partners = []
    for spec in catalog.DEMO_PARTNERS:
        row = rows.get(spec.csv_name)
        if row is None:
            raise CommandError(f"{spec.csv_name!r} is not in partners_reference.csv.")
        kind = catalog.partner_kind_from_csv(row["partner_kind"])
        if kind is None:
            raise CommandError(f"{spec.csv_name!r} has no partner kind PayHealth knows ({row['partner_kind']}).")
        if spec.calendar and spec.calendar not in calendars:
            raise CommandError(f"Business calendar {spec.calendar!r} is missing; run `manage.py migrate` first.")
        partner, _ = Partner.objects.update_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "kind": kind,
                "country": spec.country or row["country"].strip(),
                "timezone": spec.timezone,
                "language": spec.language,
                "calendar": calendars[spec.calendar] if spec.calendar else None,
                "notes": row["role_detail"].strip(),
                "active": spec.active,
            },
        )
        partners.append(partner)
    return partners


def seed_contacts(partners: list[Partner]) -> dict[int, list[PartnerContact]]:
    specs = {spec.code: spec for spec in catalog.DEMO_PARTNERS}
    contacts: dict[int, list[PartnerContact]] = {}
    for partner in partners:
        domain = catalog.email_domain(partner.code)
        rows = []
        for spec in catalog.contact_specs(specs[partner.code]):
            contact, _ = PartnerContact.objects.update_or_create(
                partner=partner,
                email=f"{spec.local_part}@{domain}",
                defaults={
                    "name": spec.name,
                    "phone": spec.phone,
                    "role": spec.role,
                    "language": spec.language,
                    "receives_notices": spec.receives_notices,
                    "escalation_level": spec.escalation_level,
                    "active": True,
                },
            )
            contact.partner = partner  # effective_language reads it without a query
            rows.append(contact)
        contacts[partner.pk] = rows
    return contacts


def seed_merchants() -> list[Merchant]:
    merchants = []
    for index, spec in enumerate(catalog.DEMO_MERCHANTS):
        manager, local = catalog.ACCOUNT_MANAGERS[index % len(catalog.ACCOUNT_MANAGERS)]
        merchant, _ = Merchant.objects.update_or_create(
            account_id=catalog.merchant_account_id(spec.name),
            defaults={
                "name": spec.name,
                "country": spec.country,
                "mcc": spec.mcc,
                "segment": spec.segment,
                "account_manager": manager,
                "account_manager_email": f"{local}@{catalog.USER_EMAIL_DOMAIN}",
            },
        )
        merchants.append(merchant)
    return merchants


def seed_desk() -> DemoDesk:
    users = seed_users()
    partners = seed_partners()
    contacts = seed_contacts(partners)
    merchants = seed_merchants()
    return DemoDesk(users=users, partners=partners, contacts=contacts, merchants=merchants)
