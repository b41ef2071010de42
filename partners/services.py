"""Writes for the partners app: one function per business action, called by the pages, the API and the admin."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import notice_template_errors
from payhealth.i18n import Language


@transaction.atomic
def notice_template_save(
    *, actor, kind: str, language: str, subject: str, body: str, partner_kind: str = ""
) -> NoticeTemplate:
    """Save a template text as the next active version of its kind and language (and partner kind,
    for the variant partners of that kind get; "" is the one for any kind).

    Refused, with the line and the reason, when it does not compile, names a variable outside
    the allowed context or cannot render: a broken template is found here, never at send time.
    Versions are append-only, so a sent notice keeps pointing at the text it used; saving the
    active text unchanged creates nothing.
    """
    if not (actor.has_perm("partners.add_noticetemplate") and actor.has_perm("partners.change_noticetemplate")):
        raise PermissionDenied(_("Only partner managers and leads can edit notice templates."))
    errors: dict[str, list[str]] = {}
    if kind not in NoticeTemplate.Kind.values:
        errors["kind"] = [_("Unknown notice kind %(kind)s.") % {"kind": kind}]
    if language not in Language.values:
        errors["language"] = [_("Unknown language %(language)s.") % {"language": language}]
    partner_kind = (partner_kind or "").strip()
    if partner_kind and partner_kind not in Partner.Kind.values:
        errors["partner_kind"] = [_("Unknown partner kind %(kind)s.") % {"kind": partner_kind}]
    subject = (subject or "").strip()
    body = (body or "").replace("\r\n", "\n").strip("\n") + "\n"
    errors.update(notice_template_errors(subject=subject, body=body))
    if errors:
        raise ValidationError(errors, code="invalid_template")
    # Lock every version of this kind and language, so two saves queue instead of racing; the
    # very first version of a pair is still guarded by noticetemplate_unique_version.
    versions = list(
        NoticeTemplate.objects.select_for_update().filter(kind=kind, language=language, partner_kind=partner_kind)
    )
    active = next((version for version in versions if version.active), None)
    if active is not None and (active.subject, active.body) == (subject, body):
        return active
    NoticeTemplate.objects.filter(pk__in=[version.pk for version in versions if version.active]).update(active=False)
    template = NoticeTemplate(
        kind=kind,
        language=language,
        partner_kind=partner_kind,
        version=max((version.version for version in versions), default=0) + 1,
        subject=subject,
        body=body,
        active=True,
        author=actor,
    )
    template.full_clean()
    template.save()
    return template


@transaction.atomic
def notice_template_activate(*, actor, template: NoticeTemplate) -> NoticeTemplate:
    """Make an earlier version the active one of its kind and language again (a rollback).

    Its text was checked when it was saved; it is checked again, since the allowed context may
    have changed since.
    """
    if not actor.has_perm("partners.change_noticetemplate"):
        raise PermissionDenied(_("Only partner managers and leads can edit notice templates."))
    versions = NoticeTemplate.objects.select_for_update().filter(
        kind=template.kind, language=template.language, partner_kind=template.partner_kind
    )
    locked = versions.get(pk=template.pk)
    errors = notice_template_errors(subject=locked.subject, body=locked.body)
    if errors:
        raise ValidationError(errors, code="invalid_template")
    if not locked.active:
        versions.filter(active=True).update(active=False)
        locked.active = True
        locked.save(update_fields=["active"])
    return locked


# --- partners and contacts ----------------------------------------------------------------------

PARTNER_FIELDS = (
    "code",
    "name",
    "kind",
    "country",
    "timezone",
    "language",
    "calendar",
    "bin_prefixes",
    "notes",
    "active",
)
CONTACT_FIELDS = ("name", "email", "phone", "role", "language", "receives_notices", "escalation_level", "active")


def _apply(instance, values: Mapping[str, object], allowed: tuple[str, ...]) -> list[str]:
    """Set the given fields (a partial update leaves the others alone); returns the changed ones."""
    unknown = set(values) - set(allowed)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    changed = []
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


@transaction.atomic
def partner_save(*, actor, values: Mapping[str, object], partner: Partner | None = None) -> Partner:
    """Create a partner (`partner=None`) or change the given fields of one.

    The code is the partner's address in links and the API, so it is set once. Everything the
    model enforces (known time zone, kind, language, unique code) is checked by `full_clean`,
    so the API and the admin refuse the same things.
    """
    creating = partner is None
    permission = "partners.add_partner" if creating else "partners.change_partner"
    if not actor.has_perm(permission):
        raise PermissionDenied(_("Only partner managers and leads can maintain partners."))
    if creating:
        partner = Partner()
    else:
        partner = Partner.objects.select_for_update().get(pk=partner.pk)
        if "code" in values and values["code"] != partner.code:
            raise ValidationError({"code": _("The code of a partner cannot change.")}, code="code_fixed")
    changed = _apply(partner, values, PARTNER_FIELDS)
    if not creating and not changed:
        return partner
    partner.full_clean()
    partner.save()
    return partner


@transaction.atomic
def contact_save(
    *, actor, values: Mapping[str, object], partner: Partner | None = None, contact: PartnerContact | None = None
) -> PartnerContact:
    """Add a contact to `partner`, or change the given fields of `contact` (its partner stays)."""
    creating = contact is None
    permission = "partners.add_partnercontact" if creating else "partners.change_partnercontact"
    if not actor.has_perm(permission):
        raise PermissionDenied(_("Only partner managers and leads can maintain partner contacts."))
    if creating:
        if partner is None:
            raise ValidationError({"partner": _("Say which partner the contact belongs to.")}, code="required")
        contact = PartnerContact(partner=Partner.objects.select_for_update().get(pk=partner.pk))
    else:
        contact = PartnerContact.objects.select_for_update().select_related("partner").get(pk=contact.pk)
    changed = _apply(contact, values, CONTACT_FIELDS)
    if not creating and not changed:
        return contact
    if "email" in values:
        contact.email = (contact.email or "").strip()
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def contact_delete(*, actor, contact: PartnerContact) -> None:
    """Remove a contact. Sent notices keep the addresses they went to, so nothing else changes."""
    if not actor.has_perm("partners.delete_partnercontact"):
        raise PermissionDenied(_("Only partner managers and leads can remove partner contacts."))
    PartnerContact.objects.select_for_update().filter(pk=contact.pk).delete()
