"""Partner pages: the directory of financial partners, and each partner with contacts and incidents.

Read-only screens; every figure comes from `partners.selectors`, which also decides visibility.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from cases.selectors import RECENT_DAYS
from cases.views.directory import render_directory_list
from partners.filters import PartnerFilterSet
from partners.selectors import (
    partner_contact_rows,
    partner_engagement_rows,
    partner_figures,
    partner_list_visible_to,
)
from payhealth.web import page_of, results_only

PARTNERS_PER_PAGE = 25
INCIDENTS_PER_PAGE = 20


def _duration_parts(value: timedelta | None) -> dict | None:
    """Whole days, hours and minutes of a duration, for a translated "2 d 3 h" / "3 h 5 min"."""
    if value is None:
        return None
    minutes = int(value.total_seconds() // 60)
    return {"days": minutes // 1440, "hours": minutes % 1440 // 60, "minutes": minutes % 60}


@login_required
@permission_required("partners.view_partner", raise_exception=True)
def partner_list(request):
    """Partners with their open and last-90-days incident counts, busiest first."""
    filterset = PartnerFilterSet(request.GET or None, queryset=partner_list_visible_to(user=request.user))
    return render_directory_list(request, "partners/partner_list.html", filterset=filterset, per_page=PARTNERS_PER_PAGE)


@login_required
@permission_required("partners.view_partner", raise_exception=True)
def partner_detail(request, code: str):
    """One partner: its local time and calendar, contacts, acknowledgement figures and incidents."""
    partner = get_object_or_404(partner_list_visible_to(user=request.user), code=code)
    page = page_of(request, partner_engagement_rows(partner=partner), INCIDENTS_PER_PAGE)
    if results_only(request):
        return render(request, "partners/partner_detail.html#results", {"partner": partner, "page": page})
    figures = partner_figures(partner=partner)
    context = {
        "partner": partner,
        "page": page,
        "contacts": partner_contact_rows(partner=partner),
        "figures": figures,
        "median_time_to_acknowledge": _duration_parts(figures["median_time_to_acknowledge"]),
        "now": timezone.now(),
        "recent_days": RECENT_DAYS,
    }
    return render(request, "partners/partner_detail.html", context)


urlpatterns = [
    path("partners/", partner_list, name="partner_list"),
    path("partners/<slug:code>/", partner_detail, name="partner_detail"),
]
