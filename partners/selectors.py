"""Reads for the partners app. Every list selector takes the user, so visibility lives in one place.

What partners have to do with the desk's incidents (counts, engagements) is read by `cases.selectors`."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from partners.models import Partner, PartnerContact
from payhealth.i18n import Language


def partner_search(queryset: QuerySet[Partner], text: str) -> QuerySet[Partner]:
    """Name or code contains the text, or one of the partner's contacts has it in name or email.

    The contact match is an EXISTS subquery, so it adds no rows to the grouped counts.
    """
    text = text.strip()
    if not text:
        return queryset
    contact_matches = PartnerContact.objects.filter(partner=OuterRef("pk")).filter(
        Q(name__icontains=text) | Q(email__icontains=text)
    )
    return queryset.filter(Q(name__icontains=text) | Q(code__icontains=text) | Exists(contact_matches))


def partner_contact_rows(*, partner: Partner) -> list[PartnerContact]:
    """The partner's contacts by escalation level, active ones first, each with its effective language.

    Fetched through the partner's related manager, so `contact.partner` is this instance and
    `effective_language` costs no query per contact.
    """
    contacts = list(partner.contacts.order_by("-active", "escalation_level", "name", "pk"))
    for contact in contacts:
        contact.effective_language_label = Language(contact.effective_language).label
        contact.language_is_inherited = not contact.language
    return contacts


def partners_visible_to(*, user) -> QuerySet[Partner]:
    """Partners the user may see (`partners.view_partner`), with their calendar."""
    if not user.has_perm("partners.view_partner"):
        return Partner.objects.none()
    return Partner.objects.select_related("calendar")
