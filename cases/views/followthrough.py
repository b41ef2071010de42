"""The incident page's follow-through panel: the RCAs asked of partners and the action items.

Thin views: form in → `cases.rca.services` → back to the incident page at the panel. A form with
errors comes back on the panel's own page (HTTP 200) with its errors; a refused request is 403.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cases.correspondence.context import zone_label
from cases.correspondence.followup import due_date_text
from cases.models import ActionItem, Incident, RcaRequest
from cases.rca.forms import ActionItemForm, RcaMoveForm
from cases.rca.services import action_item_add, action_item_update, rca_change
from cases.selectors import incident_visible_or_404
from payhealth.web import add_service_errors, desk_permission

PANEL_PAGE = "cases/incident_followthrough.html"
CHANGE = "cases.change_incident"


def followthrough(
    incident: Incident, *, forms=None, editing: int | None = None, adding: bool = False, rcas=None, items=None
) -> dict:
    """What the panel shows: RCAs with their move form, action items (one in edit mode), and the add
    form on the panel's own page (`adding`; the incident page links to it). `rcas` and `items`,
    when given, are the incident's, read already in the same order (the incident page's lists)."""
    forms = forms or {}
    if rcas is None:
        rcas = list(
            RcaRequest.objects.filter(incident=incident)
            .select_related("engagement__partner", "decided_by")
            .order_by("requested_at", "pk")
        )
    now = timezone.now()
    language = translation.get_language() or "en"
    for rca in rcas:
        zone = rca.engagement.partner.timezone
        rca.overdue = rca.status == RcaRequest.Status.REQUESTED and rca.due_at <= now
        local = rca.due_at.astimezone(ZoneInfo(zone))
        rca.due_text = f"{due_date_text(rca.due_at, zone, language[:2])} {local:%H:%M} ({zone_label(zone)})"
        rca.form = forms.get(("rca", rca.pk)) or RcaMoveForm(rca=rca)
    if items is None:
        items = list(
            ActionItem.objects.filter(incident=incident).select_related("owner", "partner").order_by("due_date", "pk")
        )
    for item in items:
        item.form = forms.get(("item", item.pk)) or (
            ActionItemForm(incident=incident, item=item) if editing == item.pk else None
        )
    return {
        "rcas": rcas,
        "items": items,
        "add_form": forms.get(("item", None)) or (ActionItemForm(incident=incident) if adding else None),
    }


def _back(incident: Incident):
    return redirect(reverse("cases:incident_detail", args=[incident.reference]) + "#incident-followthrough")


def _page(request, incident: Incident, **kwargs):
    return render(request, PANEL_PAGE, {"incident": incident, "ft": followthrough(incident, **kwargs)})


@desk_permission("cases.view_incident")
@require_safe
def followthrough_view(request, reference: str):
    """The panel on a page of its own (where a form with errors comes back)."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    return _page(request, incident, adding=True)


@desk_permission(CHANGE)
@require_POST
def rca_move_view(request, reference: str, rca_id: int):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    rca = get_object_or_404(RcaRequest, pk=rca_id, incident=incident)
    form = RcaMoveForm(request.POST, rca=rca)
    if form.is_valid():
        try:
            data = form.cleaned_data
            rca_change(
                rca=rca,
                actor=request.user,
                to=data["status"],
                note=data["note"],
                root_cause=data["root_cause"] or None,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The RCA is updated."))
            return _back(incident)
    return _page(request, incident, forms={("rca", rca.pk): form})


@desk_permission(CHANGE)
@require_POST
def action_item_add_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = ActionItemForm(request.POST, incident=incident)
    if form.is_valid():
        data = form.cleaned_data
        try:
            action_item_add(
                incident=incident,
                actor=request.user,
                title=data["title"],
                owner=data["owner"],
                partner=data["partner"],
                due_date=data["due_date"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _back(incident)
    return _page(request, incident, forms={("item", None): form})


@desk_permission(CHANGE)
@require_http_methods(["GET", "POST"])
def action_item_edit_view(request, reference: str, item_id: int):
    """GET: the item in edit mode. POST: save what, who, when and its status."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    item = get_object_or_404(ActionItem, pk=item_id, incident=incident)
    if request.method == "GET":
        return _page(request, incident, editing=item.pk)
    form = ActionItemForm(request.POST, incident=incident, item=item)
    if form.is_valid():
        data = form.cleaned_data
        try:
            action_item_update(
                item=item,
                actor=request.user,
                title=data["title"],
                owner=data["owner"],
                partner=data["partner"],
                due_date=data["due_date"],
                status=data["status"] or item.status,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _back(incident)
    return _page(request, incident, forms={("item", item.pk): form})


@desk_permission(CHANGE)
@require_POST
def action_item_status_view(request, reference: str, item_id: int):
    """One click: done, cancelled, or open again."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    item = get_object_or_404(ActionItem, pk=item_id, incident=incident)
    try:
        action_item_update(item=item, actor=request.user, status=request.POST.get("status", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return _back(incident)


_ON_INCIDENT = "incidents/<str:reference>/"

urlpatterns = [
    path(f"{_ON_INCIDENT}follow-through/", followthrough_view, name="incident_followthrough"),
    path(f"{_ON_INCIDENT}rcas/<int:rca_id>/status/", rca_move_view, name="incident_rca_move"),
    path(f"{_ON_INCIDENT}action-items/", action_item_add_view, name="incident_action_item_add"),
    path(f"{_ON_INCIDENT}action-items/<int:item_id>/edit/", action_item_edit_view, name="incident_action_item_edit"),
    path(
        f"{_ON_INCIDENT}action-items/<int:item_id>/status/",
        action_item_status_view,
        name="incident_action_item_status",
    ),
]
