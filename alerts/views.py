"""The severity rules page: every desk role reads the table, leads change it."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from alerts.forms import AlertSeverityRuleForm
from alerts.selectors import alert_receipts_visible_to, alert_rules_visible_to
from alerts.services import alert_rule_create, alert_rule_delete, alert_rule_update
from payhealth.web import add_service_errors, desk_permission

FORM = "alerts/rule_form.html"


@desk_permission("alerts.view_alertseverityrule")
def rule_list(request):
    """The rules in the order they are tried, and the latest alerts received."""
    return render(
        request,
        "alerts/rule_list.html",
        {
            "rules": alert_rules_visible_to(user=request.user),
            "receipts": alert_receipts_visible_to(user=request.user)[:20],
        },
    )


@desk_permission("alerts.add_alertseverityrule")
@require_http_methods(["GET", "POST"])
def rule_create(request):
    form = AlertSeverityRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = alert_rule_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rule %(priority)s added.") % {"priority": rule.priority})
            return redirect(reverse("alerts:rule_list"))
    return render(request, FORM, {"form": form, "rule": None})


@desk_permission("alerts.change_alertseverityrule")
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int):
    rule = get_object_or_404(alert_rules_visible_to(user=request.user), pk=pk)
    form = AlertSeverityRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            alert_rule_update(rule=rule, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Rule %(priority)s saved.") % {"priority": form.cleaned_data["priority"]})
            return redirect(reverse("alerts:rule_list"))
    return render(request, FORM, {"form": form, "rule": rule})


@desk_permission("alerts.delete_alertseverityrule")
@require_POST
def rule_delete(request, pk: int):
    rule = get_object_or_404(alert_rules_visible_to(user=request.user), pk=pk)
    alert_rule_delete(rule=rule, actor=request.user)
    messages.success(request, _("Rule %(priority)s deleted.") % {"priority": rule.priority})
    return redirect(reverse("alerts:rule_list"))


urlpatterns = [
    path("alerts/rules/", rule_list, name="rule_list"),
    path("alerts/rules/new/", rule_create, name="rule_create"),
    path("alerts/rules/<int:pk>/edit/", rule_edit, name="rule_edit"),
    path("alerts/rules/<int:pk>/delete/", rule_delete, name="rule_delete"),
]
