"""Languages and time zones the whole project shares.

Every layer needs these (a user's profile, a partner's contact, a notice, a report's days), so
they live here, below every app: the two languages the desk works in, the check that a zone name
is one the zone database knows, and the desk's own zone (PAYHEALTH_TIME_ZONE).
"""

from __future__ import annotations

import zoneinfo

from babel import Locale, UnknownLocaleError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    """The languages of the interface, of partners and contacts, and of notices."""

    ENGLISH = "en", _("English")
    SPANISH = "es", _("Spanish")


def country_name(code: str, language: str | None = None) -> str:
    """A two-letter ISO country code as the country's name in `language` (the active language by
    default), from the CLDR data Babel ships: "MX" → "México" in Spanish, "Mexico" in English.
    A code CLDR does not know (GLOBAL, LATAM, a typo) comes back as it was given."""
    if not code:
        return code
    return _locale(language).territories.get(code.strip().upper(), code)


def language_name(code: str, language: str | None = None) -> str:
    """A language code as the language's name inside a sentence of `language` (the active language
    by default), from the CLDR data Babel ships: "es" → "Spanish" in English, "español" in Spanish."""
    if not code:
        return code
    return _locale(language).languages.get(code.strip().lower(), code)


def _locale(language: str | None) -> Locale:
    try:
        return Locale.parse((language or get_language() or settings.LANGUAGE_CODE).replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(settings.LANGUAGE_CODE)


def validate_timezone(value: str) -> None:
    """Refuse a zone name the zone database does not know (a typo would shift every time shown)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value}) from None


def desk_zone() -> zoneinfo.ZoneInfo:
    """The desk's own time zone: it decides a reference's year and a report's days."""
    return zoneinfo.ZoneInfo(settings.PAYHEALTH_TIME_ZONE)
