"""The incident page's button per affected merchant: draft the internal update to its account
team, then review it like any notice (`cases.correspondence.account`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from cases.correspondence.account import account_update_compose
from cases.models import AffectedMerchant
from cases.selectors import incident_visible_or_404
from payhealth.web import desk_permission


@desk_permission("cases.add_correspondence", "cases.view_affectedmerchant")
@require_POST
def incident_account_update_view(request, reference: str, row_id: int):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    affected = get_object_or_404(AffectedMerchant.objects.select_related("merchant"), pk=row_id, incident=incident)
    try:
        row = account_update_compose(incident=incident, merchant=affected.merchant, actor=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(reverse("cases:incident_detail", args=[incident.reference]) + "#incident-merchants")
    url = reverse("cases:notice_review", args=[incident.reference])
    return redirect(f"{url}?ids={row.pk}")


urlpatterns = [
    path(
        "incidents/<str:reference>/merchants/<int:row_id>/account-update/",
        incident_account_update_view,
        name="incident_account_update",
    ),
]
