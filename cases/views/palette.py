"""The command palette's results: JSON for static/js/palette.js, permission-filtered on the server."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe

from cases.palette import MAX_QUERY_LENGTH, palette_results
from payhealth.web import desk_permission


@desk_permission("cases.view_incident")
@require_safe
def palette_view(request):
    """`?q=` what was typed, `&incident=` the reference of the incident on screen (for its actions).

    A query longer than the palette's input allows is refused with 400, never searched.
    """
    text = request.GET.get("q", "")
    incident = request.GET.get("incident", "")
    if len(text) > MAX_QUERY_LENGTH or len(incident) > 40:
        return JsonResponse({"error": "query too long", "groups": []}, status=400)
    groups = palette_results(user=request.user, text=text, incident_reference=incident)
    response = JsonResponse({"query": text, "groups": groups})
    response["Cache-Control"] = "private, no-store"
    return response


urlpatterns = [
    path("palette/", palette_view, name="palette"),
]
