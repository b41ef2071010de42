"""Durations as people read and type them: "2 h 05 min left", "overdue by 35 min", "1h 30m".

Business time has no days: a business day is not 24 hours (mx-banking's is 9), so a clock on a
business calendar says "45 h" where "1 d 21 h" would mislead. Policy targets are typed as "30m",
"4h", "1h 30m" or "2d" (days only on 24x7 calendars; the policy form refuses them elsewhere).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_duration
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

ZERO = timedelta(0)


class Level:
    """How a badge looks; also its CSS class suffix (`sla-ok`, `sla-overdue`...)."""

    OK = "ok"
    WARNING = "warning"
    OVERDUE = "overdue"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


def _parts(duration: timedelta, *, business: bool) -> tuple[int, int, int]:
    """(days, hours, minutes) of a duration, rounded down to the minute.

    Business time has no days: a business day is not 24 hours (mx-banking's is 9), so
    "45 h" is honest where "1 d 21 h" would mislead.
    """
    minutes = int(abs(duration).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if business:
        return 0, hours, minutes
    days, hours = divmod(hours, 24)
    return days, hours, minutes


def format_duration(duration: timedelta, *, business: bool = False) -> str:
    """Compact and translated: "3 d 4 h", "2 h 05 min", "35 min", "< 1 min" (sign ignored)."""
    days, hours, minutes = _parts(duration, business=business)
    if days:
        if hours:
            return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
        return gettext("%(days)d d") % {"days": days}
    if hours:
        if minutes:
            return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
        return gettext("%(hours)d h") % {"hours": hours}
    if minutes:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    return gettext("< 1 min")


def format_duration_long(duration: timedelta, *, business: bool = False) -> str:
    """Spelled out for screen readers and tooltips: "2 hours, 5 minutes"."""
    days, hours, minutes = _parts(duration, business=business)
    words = []
    if days:
        words.append(ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
    if hours:
        words.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if minutes or not words:
        words.append(ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes})
    text = ", ".join(words)
    return gettext("%(duration)s of business time") % {"duration": text} if business else text


def time_left_text(level: str, time_left: timedelta, *, business: bool) -> str:
    """ "2 h 05 min left", "overdue by 35 min", "4 h business left", "paused, 1 h left", "met"."""
    duration = format_duration(time_left, business=business)
    overdue = time_left <= ZERO
    if level == Level.MET:
        return gettext("met")
    if level == Level.BREACHED:
        return gettext("breached")
    if level == Level.CANCELLED:
        return gettext("cancelled")
    if level == Level.PAUSED:
        if overdue:
            if business:
                return gettext("paused, overdue by %(duration)s business") % {"duration": duration}
            return gettext("paused, overdue by %(duration)s") % {"duration": duration}
        if business:
            return gettext("paused, %(duration)s business left") % {"duration": duration}
        return gettext("paused, %(duration)s left") % {"duration": duration}
    if level == Level.OVERDUE or overdue:
        if business:
            return gettext("overdue by %(duration)s business") % {"duration": duration}
        return gettext("overdue by %(duration)s") % {"duration": duration}
    if business:
        return gettext("%(duration)s business left") % {"duration": duration}
    return gettext("%(duration)s left") % {"duration": duration}


def due_text(time_left: timedelta, *, business: bool) -> str:
    """ "overdue by 3 h 12 min" or "due in 25 min" (business time says so): the at-risk list's rows."""
    duration = format_duration(time_left, business=business)
    if time_left <= ZERO:
        if business:
            return gettext("overdue by %(duration)s business") % {"duration": duration}
        return gettext("overdue by %(duration)s") % {"duration": duration}
    if business:
        return gettext("due in %(duration)s business") % {"duration": duration}
    return gettext("due in %(duration)s") % {"duration": duration}


# Typed targets -----------------------------------------------------------------------------------

UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "min": timedelta(minutes=1)}
_PART = re.compile(r"(\d+)\s*(min|d|h|m)", re.IGNORECASE)
_WHOLE = re.compile(r"\s*(?:\d+\s*(?:min|d|h|m)\s*)+", re.IGNORECASE)
# The clock form ("01:30:00", "1 04:00:00") and ISO 8601 ("PT1H30M"); a bare number is refused.
_OTHER = re.compile(r"-?(?:\d+ )?\d+:\d+(?::\d+(?:\.\d+)?)?|-?P.+", re.IGNORECASE)
# Days in the clock form ("1 21:00:00") or in ISO 8601 ("P2D", "P1DT4H").
_CLOCK_DAYS = re.compile(r"\s*\d+\s+\d|\s*-?P\d+D", re.IGNORECASE)
# No SLA target is longer (and a longer one would overflow the date arithmetic of its clocks).
MAX_TARGET = timedelta(days=1500)
# What the API documents; the parser takes more (any order, "min", spaces, ISO 8601).
DURATION_PATTERN = r"^(?:[0-9]{1,3}d ?)?(?:[0-9]{1,4}h ?)?(?:[0-9]{1,4}m)?$|^(?:[0-9]{1,3} )?[0-9]{1,2}:[0-5][0-9]:00$"
DURATION_FORMAT_MESSAGE = _(
    "Write a duration with units, like 30m, 4h, 1h 30m or 2d (d = days, h = hours, m = minutes), "
    "or as [days] hours:minutes:seconds, like 01:30:00."
)


def parse_duration_text(text: str) -> timedelta | None:
    """ "1h 30m" → 90 minutes, "01:30:00" and "PT1H30M" too; "" → None (not tracked).

    The one reading of a typed target, for the policy form and the API alike: whole minutes, at
    most MAX_TARGET; anything else raises ValidationError with an example.
    """
    text = (text or "").strip()
    if not text:
        return None
    if _WHOLE.fullmatch(text):
        total = timedelta(0)
        try:
            for amount, unit in _PART.findall(text):
                total += int(amount) * UNITS[unit.lower()]
        except OverflowError:
            total = None
    else:
        try:  # Django's reading of "[DD] HH:MM:SS" and ISO 8601, as DRF's DurationField had it
            total = parse_duration(text) if len(text) <= 40 and _OTHER.fullmatch(text) else None
        except (OverflowError, ValueError):
            total = None
        if total is None:
            raise ValidationError(DURATION_FORMAT_MESSAGE, code="duration_format")
    if total is None or not ZERO <= total <= MAX_TARGET:
        raise ValidationError(
            _("Give a duration of at most %(days)d days.") % {"days": MAX_TARGET.days}, code="duration_range"
        )
    if total % timedelta(minutes=1):
        raise ValidationError(_("Give whole minutes."), code="duration_minutes")
    return total


def days_refused_message(calendar) -> str:
    """Why a target in days is refused on `calendar`, a business-hours one."""
    return _(
        "%(calendar)s counts business hours, so a day is ambiguous: give hours, e.g. 45h for five 9-hour business days."
    ) % {"calendar": calendar.name}


def gives_days(text: str) -> bool:
    """The typed duration counts days ("2d", "1 04:00:00", "P1D"): ambiguous on a business calendar."""
    return bool(re.search(r"\d\s*d", text or "", re.IGNORECASE) or _CLOCK_DAYS.match(text or ""))


def format_duration_text(value: timedelta | None, *, days: bool = True) -> str:
    """The inverse of parse_duration_text: 90 minutes → "1h 30m"; 48 h → "2d" (or "48h" without days)."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60)
    day_count, rest = divmod(minutes, 1440) if days else (0, minutes)
    parts = []
    if day_count:
        parts.append(f"{day_count}d")
    if rest // 60:
        parts.append(f"{rest // 60}h")
    if rest % 60:
        parts.append(f"{rest % 60}m")
    return " ".join(parts) or "0m"
