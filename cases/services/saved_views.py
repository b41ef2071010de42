"""Saving and deleting a user's named queue filters."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from cases.filters import FILTER_PARAMS
from cases.models import SavedView
from payhealth.pan import card_number_error, contains_card_number

# What a saved view keeps of the queue's query string: the filters, the order and the page size;
# never the page number, which would go stale as incidents come and go.
SAVED_VIEW_PARAMS = (*FILTER_PARAMS, "sort", "per_page")


def saved_view_query(query: str) -> str:
    """The query string reduced to the parameters the queue understands, in a stable order."""
    parsed = QueryDict((query or "").lstrip("?"))
    kept = QueryDict(mutable=True)
    for key in SAVED_VIEW_PARAMS:
        values = [value for value in parsed.getlist(key) if value.strip()]
        if values:
            kept.setlist(key, values)
    return kept.urlencode()


@transaction.atomic
def saved_view_create(*, owner, name: str, query: str) -> SavedView:
    """Save the queue's current filters under a name unique among the owner's views.

    Relies on the (owner, name) unique constraint through get_or_create, so two saves racing
    with one name give one view and one refusal.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the view a name.")}, code="required")
    max_length = SavedView._meta.get_field("name").max_length
    if len(name) > max_length:
        raise ValidationError(
            {"name": _("Keep the name under %(limit)d characters.") % {"limit": max_length}}, code="max_length"
        )
    if contains_card_number(dict(QueryDict((query or "").lstrip("?")).lists())):
        raise ValidationError({"query": card_number_error()})  # decoded: "4111+1111+…" is one too
    query = saved_view_query(query)
    if len(query) > SavedView._meta.get_field("query").max_length:
        raise ValidationError({"query": _("These filters are too long to save.")}, code="max_length")
    view, created = SavedView.objects.get_or_create(owner=owner, name=name, defaults={"query": query})
    if not created:
        raise ValidationError({"name": _("You already have a saved view with that name.")}, code="duplicate")
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor) -> None:
    """Delete one of the actor's own saved views; another user's view is refused."""
    if view.owner_id != getattr(actor, "pk", None):
        raise PermissionDenied("A saved view can only be deleted by its owner.")
    view.delete()
