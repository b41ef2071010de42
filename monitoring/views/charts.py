"""Chart pages and panels. The incident and merchant pages (cases, below monitoring) load their
panels from here with htmx by URL name, so cases never imports monitoring (docs/charts.md)."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from cases.selectors import incident_affected_merchants, incident_visible_or_404, merchant_list_visible_to
from monitoring.charts.panels import (
    DEFAULT_WINDOW,
    SEGMENT_WINDOWS,
    dimension_choices,
    incident_panel,
    merchant_panel,
    segment_page,
)
from monitoring.selectors import segments_visible_to
from payhealth.web import desk_permission


@desk_permission("cases.view_incident", "monitoring.view_segment")
@require_safe
def incident_charts(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    merchant_ids = list(
        incident_affected_merchants(user=request.user, incident=incident).values_list("merchant_id", flat=True)
    )
    charts = incident_panel(incident=incident, affected_merchant_ids=merchant_ids)
    return render(request, "monitoring/_incident_charts.html", {"incident": incident, "charts": charts})


@desk_permission("cases.view_merchant", "monitoring.view_segment")
@require_safe
def merchant_chart(request, account_id: str):
    if len(account_id) > 64 or "\x00" in account_id:
        raise Http404
    merchant = get_object_or_404(merchant_list_visible_to(user=request.user), account_id=account_id)
    return render(
        request, "monitoring/_merchant_chart.html", {"merchant": merchant, "panel": merchant_panel(merchant=merchant)}
    )


@desk_permission("monitoring.view_segment")
@require_safe
def segment_detail(request, pk: int):
    segment = get_object_or_404(segments_visible_to(user=request.user), pk=pk)
    window = request.GET.get("window", DEFAULT_WINDOW)
    if window not in SEGMENT_WINDOWS:
        window = DEFAULT_WINDOW
    dimensions = dimension_choices()
    dimension = request.GET.get("by", "issuer")
    if dimension not in dict(dimensions):
        dimension = "issuer"
    context = {
        "segment": segment,
        "window": window,
        "windows": list(SEGMENT_WINDOWS),
        "dimension": dimension,
        "dimensions": dimensions,
        **segment_page(segment=segment, window=window, dimension=dimension),
    }
    return render(request, "monitoring/segment_detail.html", context)
