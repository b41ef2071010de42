"""Writing timeline rows. Services call `record` inside their own transaction."""

from __future__ import annotations

from typing import Any

from cases.models import CaseEvent, Incident
from webhooks.services import webhook_emit_for_case_events


def record(*, incident: Incident, actor, kind: str, at=None, **data: Any) -> CaseEvent:
    """Append one event to the incident's timeline; `actor` None means PayHealth itself."""
    event = CaseEvent(incident=incident, actor=actor if getattr(actor, "pk", None) else None, kind=kind, data=data)
    if at is not None:
        event.created_at = at
    event.save()
    webhook_emit_for_case_events([event])  # free when no active webhook listens to this kind
    return event
