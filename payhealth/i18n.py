"""Languages and time zones the whole project shares.

Every layer needs these (a user's profile, a partner's contact, a notice, a report's days), so
they live here, below every app: the two languages the desk works in, the check that a zone name
is one the zone database knows, and the desk's own zone (PAYHEALTH_TIME_ZONE).
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    """The languages of the interface, of partners and contacts, and of notices."""

    ENGLISH = "en", _("English")
    SPANISH = "es", _("Spanish")


def validate_timezone(value: str) -> None:
    """Refuse a zone name the zone database does not know (a typo would shift every time shown)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value}) from None


def desk_zone() -> zoneinfo.ZoneInfo:
    """The desk's own time zone: it decides a reference's year and a report's days."""
    return zoneinfo.ZoneInfo(settings.PAYHEALTH_TIME_ZONE)
