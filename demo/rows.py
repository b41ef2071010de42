"""One curated incident's rows before they are inserted: its story.

The incident builder (`demo.incidents`) and the mail writer (`demo.mail`) both add to a `Story`,
so the type lives here, apart from both: neither module has to import the other to share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import models

from cases.models import AffectedMerchant, Correspondence, Incident, InvestigationNote, PartnerEngagement
from cases.timeline.events import Payload


@dataclass
class EventSpec:
    """A timeline row to write once the story's rows have ids."""

    at: datetime
    actor: object
    payload: type[Payload]
    fields: dict
    pk_of: models.Model | None = None  # its id becomes the field `pk_key` once the row is inserted
    pk_key: str = ""


@dataclass
class Story:
    incident: Incident
    incident_language: str = "es"
    titles: dict[str, str] = field(default_factory=dict)
    affected: list[AffectedMerchant] = field(default_factory=list)
    engagements: list[PartnerEngagement] = field(default_factory=list)
    notes: list[InvestigationNote] = field(default_factory=list)
    messages: list[Correspondence] = field(default_factory=list)
    events: list[EventSpec] = field(default_factory=list)

    def event(self, at, actor, payload: type[Payload], /, pk_of=None, pk_key="", **fields) -> None:
        """A timeline row of the payload's kind, written when the story is inserted."""
        self.events.append(EventSpec(at, actor if getattr(actor, "pk", None) else None, payload, fields, pk_of, pk_key))
