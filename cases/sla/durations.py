"""Durations as people read and type them: "2 h 05 min left", "overdue by 35 min", "1h 30m".

Business time has no days: a business day is not 24 hours (mx-banking's is 9), so a clock on a
business calendar says "45 h" where "1 d 21 h" would mislead. Policy targets are typed as "30m",
"4h", "1h 30m" or "2d" (days only on 24x7 calendars; the policy form refuses them elsewhere).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ValidationError
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


# Typed targets -----------------------------------------------------------------------------------

UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "min": timedelta(minutes=1)}
_PART = re.compile(r"(\d+)\s*(min|d|h|m)", re.IGNORECASE)
_WHOLE = re.compile(r"\s*(?:\d+\s*(?:min|d|h|m)\s*)+", re.IGNORECASE)


def parse_duration_text(text: str) -> timedelta | None:
    """ "1h 30m" → 90 minutes; "" → None (not tracked). Raises ValidationError with an example."""
    text = (text or "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text):
        raise ValidationError(
            _("Write a duration with units, like 30m, 4h, 1h 30m or 2d (d = days, h = hours, m = minutes)."),
            code="duration_format",
        )
    total = timedelta(0)
    for amount, unit in _PART.findall(text):
        total += int(amount) * UNITS[unit.lower()]
    return total


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
