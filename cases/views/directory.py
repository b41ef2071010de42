"""The directory: the merchants the desk watches and the partners it corresponds with, each with
its incidents and key figures.

Read-only screens; every figure comes from `cases.selectors`, which also decides visibility.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from cases.filters import MerchantFilterSet
from cases.selectors import (
    RECENT_DAYS,
    merchant_figures,
    merchant_impact_rows,
    merchant_list_visible_to,
    partner_directory,
    partner_engagement_rows,
    partner_figures,
)
from partners.filters import PartnerFilterSet
from partners.selectors import partner_contact_rows
from payhealth.web import page_of, results_only

MERCHANTS_PER_PAGE = 25
INCIDENTS_PER_PAGE = 20


def render_directory_list(request, template: str, *, filterset, per_page: int) -> HttpResponse:
    """A directory list (merchants, partners): the filtered rows a page at a time, with counts."""
    page = page_of(request, filterset.qs, per_page)
    name = f"{template}#results" if results_only(request) else template
    return render(request, name, {"filterset": filterset, "page": page, "recent_days": RECENT_DAYS})


@login_required
@permission_required("cases.view_merchant", raise_exception=True)
def merchant_list(request):
    """Merchants with their open and last-90-days incident counts, busiest first."""
    filterset = MerchantFilterSet(request.GET or None, queryset=merchant_list_visible_to(user=request.user))
    return render_directory_list(request, "cases/merchant_list.html", filterset=filterset, per_page=MERCHANTS_PER_PAGE)


@login_required
@permission_required("cases.view_merchant", raise_exception=True)
def merchant_detail(request, account_id: str):
    """One merchant: who it is, its key figures and its incidents, open ones first."""
    merchant = get_object_or_404(merchant_list_visible_to(user=request.user), account_id=account_id)
    page = page_of(request, merchant_impact_rows(merchant=merchant), INCIDENTS_PER_PAGE)
    if results_only(request):
        return render(request, "cases/merchant_detail.html#results", {"merchant": merchant, "page": page})
    context = {"merchant": merchant, "page": page, "recent_days": RECENT_DAYS, **merchant_figures(merchant=merchant)}
    return render(request, "cases/merchant_detail.html", context)


# Partners -----------------------------------------------------------------------------------------

PARTNERS_PER_PAGE = 25


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
    filterset = PartnerFilterSet(request.GET or None, queryset=partner_directory(user=request.user))
    return render_directory_list(request, "partners/partner_list.html", filterset=filterset, per_page=PARTNERS_PER_PAGE)


@login_required
@permission_required("partners.view_partner", raise_exception=True)
def partner_detail(request, code: str):
    """One partner: its local time and calendar, contacts, acknowledgement figures and incidents."""
    partner = get_object_or_404(partner_directory(user=request.user), code=code)
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
    path("merchants/", merchant_list, name="merchant_list"),
    path("merchants/<str:account_id>/", merchant_detail, name="merchant_detail"),
]
# Served in the `partners:` namespace (cases.urls.partners).
partner_urlpatterns = [
    path("partners/", partner_list, name="partner_list"),
    path("partners/<slug:code>/", partner_detail, name="partner_detail"),
]
