"""Merchant pages: the list of merchants the desk watches, and each merchant with its incidents.

Read-only screens; every figure comes from `cases.selectors`, which also decides visibility.
The partner pages are built the same way and use the helpers below.
"""

from __future__ import annotations

import django_filters
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils.translation import gettext_lazy as _

from cases.models import Merchant
from cases.selectors import RECENT_DAYS, merchant_figures, merchant_impact_rows, merchant_list_visible_to
from payhealth.web import page_of, results_only

MERCHANTS_PER_PAGE = 25
INCIDENTS_PER_PAGE = 20


class MerchantFilterSet(django_filters.FilterSet):
    """Search and filters of the merchant list; invalid values are reported and ignored.

    Lives beside its only user for now; it moves to `cases/filters.py` when the API lists
    merchants too (STYLE.md: one FilterSet for the HTML list and the API list).
    """

    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    country = django_filters.ChoiceFilter(label=_("Country"), empty_label=_("All countries"))
    segment = django_filters.ChoiceFilter(
        choices=Merchant.Segment.choices, label=_("Segment"), empty_label=_("All segments")
    )

    class Meta:
        model = Merchant
        fields = ["q", "country", "segment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        countries = Merchant.objects.order_by("country").values_list("country", flat=True).distinct()
        self.filters["country"].extra["choices"] = [(code, code) for code in countries]
        self.form.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": _("Name or account id"), "autocomplete": "off"}
        )

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(account_id__icontains=value))


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


urlpatterns = [
    path("merchants/", merchant_list, name="merchant_list"),
    path("merchants/<str:account_id>/", merchant_detail, name="merchant_detail"),
]
