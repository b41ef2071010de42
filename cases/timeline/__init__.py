"""The case timeline: one append-only row per change, written in the change's transaction.

A service records what it did with the typed payload of the event's kind (`timeline.events`):

    timeline.record(StatusChanged(was=old, to=new, reason=..., partner=None, partner_code=None),
                    incident=locked, actor=actor, at=now)

After saving, the row goes to every listener named in `PAYHEALTH_TIMELINE_LISTENERS` (the SLA
clocks, the webhooks), still inside the transaction: a listener's writes commit or roll back with
the change that caused them. The writer imports none of them, so an add-on plugs in by naming
its listener in settings. Rows written in bulk (the SLA sweep's one statement) are handed to the
same listeners with `published`.

How each kind reads as a sentence is `timeline.sentences`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from cases.models import CaseEvent, Incident
from cases.timeline.events import PAYLOADS, Payload, read

__all__ = ["PAYLOADS", "Payload", "event", "published", "read", "record"]


def _person(actor):
    return actor if getattr(actor, "pk", None) else None


def event(payload: Payload, *, incident: Incident, actor, at: datetime | None = None) -> CaseEvent:
    """The unsaved row of `payload` (bulk writers save many at once); `actor` None is PayHealth."""
    row = CaseEvent(incident=incident, actor=_person(actor), kind=payload.kind, data=payload.data())
    if at is not None:
        row.created_at = at
    return row


def record(payload: Payload, *, incident: Incident, actor, at: datetime | None = None) -> CaseEvent:
    """Append one event to the incident's timeline and hand it to the listeners."""
    row = event(payload, incident=incident, actor=actor, at=at)
    row.save()
    published([row])
    return row


@cache
def listeners() -> tuple[Callable[[Sequence[CaseEvent]], object], ...]:
    """The callables named in PAYHEALTH_TIMELINE_LISTENERS, imported once."""
    return tuple(import_string(path) for path in settings.PAYHEALTH_TIMELINE_LISTENERS)


def published(rows: Sequence[CaseEvent]) -> None:
    """Hand saved timeline rows to every listener, in the order settings name them."""
    if not rows:
        return
    for listener in listeners():
        listener(rows)


@receiver(setting_changed)
def _forget_listeners(*, setting: str, **kwargs) -> None:
    if setting == "PAYHEALTH_TIMELINE_LISTENERS":
        listeners.cache_clear()
