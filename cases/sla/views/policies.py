"""SLA policies: every desk role reads them; leads add, edit and deactivate them.

Writes go through `cases.sla.policies`; these views parse, call and redirect.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cases.models import SlaPolicy
from cases.sla.durations import format_duration_text
from cases.sla.forms import SlaPolicyForm
from cases.sla.policies import sla_policy_deactivate, sla_policy_save
from payhealth.web import add_service_errors

TARGETS = (
    ("acknowledge_target", "acknowledge"),
    ("first_notice_target", "first_notice"),
    ("update_every", "update"),
    ("resolve_target", "resolve"),
)


def policy_row(policy: SlaPolicy) -> dict:
    """A policy with its targets as text: days on 24x7 calendars, hours on business-hours ones."""
    days = policy.calendar.is_24x7
    return {
        "policy": policy,
        "targets": [format_duration_text(getattr(policy, field), days=days) for field, _metric in TARGETS],
        "warn_percent": int(policy.warn_at * 100),
    }


@login_required
@permission_required("cases.view_slapolicy", raise_exception=True)
def sla_policy_list(request):
    """Every policy, active first, by severity; inactive ones stay listed because clocks used them."""
    policies = SlaPolicy.objects.select_related("calendar", "partner").order_by(
        "-active", "severity", "partner_id", "partner_kind", "name"
    )
    return render(request, "cases/sla/policy_list.html", {"rows": [policy_row(policy) for policy in policies]})


def _form_page(request, form: SlaPolicyForm, policy: SlaPolicy | None):
    return render(request, "cases/sla/policy_form.html", {"form": form, "policy": policy})


@login_required
@permission_required("cases.add_slapolicy", raise_exception=True)
@require_http_methods(["GET", "POST"])
def sla_policy_create(request):
    if request.method == "POST":
        form = SlaPolicyForm(request.POST)
        if form.is_valid():
            try:
                policy = sla_policy_save(actor=request.user, **form.service_fields())
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Policy “%(name)s” saved.") % {"name": policy.name})
                return redirect(reverse("cases:sla_policy_list"))
        return _form_page(request, form, None)
    return _form_page(request, SlaPolicyForm(), None)


@login_required
@permission_required("cases.change_slapolicy", raise_exception=True)
@require_http_methods(["GET", "POST"])
def sla_policy_edit(request, pk: int):
    policy = get_object_or_404(SlaPolicy.objects.select_related("calendar", "partner"), pk=pk)
    if request.method == "POST":
        form = SlaPolicyForm(request.POST)
        if form.is_valid():
            try:
                policy = sla_policy_save(actor=request.user, policy=policy, **form.service_fields())
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Policy “%(name)s” saved.") % {"name": policy.name})
                return redirect(reverse("cases:sla_policy_list"))
        return _form_page(request, form, policy)
    return _form_page(request, SlaPolicyForm(initial=SlaPolicyForm.initial_for(policy)), policy)


@login_required
@permission_required("cases.change_slapolicy", raise_exception=True)
@require_POST
def sla_policy_deactivate_view(request, pk: int):
    policy = get_object_or_404(SlaPolicy, pk=pk)
    try:
        sla_policy_deactivate(actor=request.user, policy=policy)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(reverse("cases:sla_policy_edit", args=[policy.pk]))
    messages.success(request, _("Policy “%(name)s” deactivated.") % {"name": policy.name})
    return redirect(reverse("cases:sla_policy_list"))


urlpatterns = [
    path("sla/policies/", sla_policy_list, name="sla_policy_list"),
    path("sla/policies/new/", sla_policy_create, name="sla_policy_create"),
    path("sla/policies/<int:pk>/edit/", sla_policy_edit, name="sla_policy_edit"),
    path("sla/policies/<int:pk>/deactivate/", sla_policy_deactivate_view, name="sla_policy_deactivate"),
]
