"""Investigation notes: written by desk members, edited only by their author, every edit kept."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import Incident, InvestigationNote
from cases.search import refresh_search
from cases.timeline.events import NoteAdded, NoteEdited


def _locked_incident(incident: Incident) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    # Touch the incident so lists sorted by last activity see the note.
    locked.save(update_fields=["updated_at"])
    return locked


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": _("A note cannot be empty.")}, code="required")
    return body


@transaction.atomic
def note_add(*, incident: Incident, actor, body: str) -> InvestigationNote:
    """Add a Markdown note to the incident; searchable at once."""
    body = _clean_body(body)
    locked = _locked_incident(incident)
    note = InvestigationNote(incident=locked, author=actor, body=body)
    note.full_clean()
    note.save()
    timeline.record(NoteAdded(note=note.pk), incident=locked, actor=actor)
    refresh_search(incident_ids=[locked.pk])
    return note


@transaction.atomic
def note_edit(*, note: InvestigationNote, actor, body: str) -> InvestigationNote:
    """Change a note's text. Only its author may; the previous text goes on the timeline.

    Refusing anyone else (even a lead) keeps a note the words of the person who signed it.
    """
    body = _clean_body(body)
    if note.author_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the author of a note can edit it."))
    locked_incident = Incident.objects.select_for_update().get(pk=note.incident_id)
    locked = InvestigationNote.objects.select_for_update().get(pk=note.pk)
    if locked.body == body:
        return locked
    previous = locked.body
    locked.body = body
    locked.edited_at = timezone.now()
    locked.save(update_fields=["body", "edited_at"])
    locked_incident.save(update_fields=["updated_at"])
    timeline.record(NoteEdited(note=locked.pk, previous=previous), incident=locked_incident, actor=actor)
    refresh_search(incident_ids=[locked_incident.pk])
    return locked
