"""Template helpers for SLA badges: compact durations, clock event sentences, the poll interval."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.conf import settings
from django.utils.translation import gettext as _

from cases.models import SlaClockEvent
from cases.models.incident import Status
from cases.sla.durations import format_duration

register = template.Library()

DEFAULT_POLL_SECONDS = 30


@register.filter
def sla_duration(value, business: bool = False) -> str:
    """A duration as "2 h 05 min" / "3 d 4 h"; `business` drops days (a business day is not 24 h)."""
    if not isinstance(value, timedelta):
        return ""
    return format_duration(value, business=bool(business))


@register.simple_tag
def sla_poll_seconds() -> int:
    """How often SLA badges refresh themselves (PAYHEALTH_SLA_POLL_SECONDS; tests shorten it)."""
    return max(1, int(getattr(settings, "PAYHEALTH_SLA_POLL_SECONDS", DEFAULT_POLL_SECONDS)))


@register.filter
def sla_event_facts(event: SlaClockEvent) -> str:
    """The facts a clock event stores in `data`, in words: a stop's outcome, a warning's context."""
    data = event.data or {}
    facts = []
    outcome = data.get("outcome")
    if outcome == "met":
        facts.append(_("target met"))
    elif outcome == "breached":
        facts.append(_("target missed"))
    elif outcome == "cancelled":
        facts.append(_("cancelled"))
    status = data.get("status")
    if status in Status.values:
        facts.append(_("incident was %(status)s") % {"status": Status(status).label})
    waiting_on = data.get("waiting_on") or []
    if isinstance(waiting_on, list) and waiting_on:
        facts.append(_("waiting on %(partners)s") % {"partners": ", ".join(str(name) for name in waiting_on)})
    return "; ".join(facts)
