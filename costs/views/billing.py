"""Billing cases on the desk: open one from findings, its panel on the incident page with the
"record credit note" form, and the recovered-amount report (page and CSV).

Thin views over `costs.billing` and `costs.billing_report`; every one checks its permissions on
the server, and a service's refusal comes back as a message or a form error, never a 5xx.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from cases.selectors import incident_visible_or_404
from costs.billing import billing_case_amend, billing_case_open, credit_note_record
from costs.billing_report import recovery_report, recovery_totals
from costs.models import BillingCase, CostFinding, CreditNote
from partners.models import Partner
from payhealth.forms import DateInput, Form, MonthInput
from payhealth.i18n import desk_zone
from payhealth.web import add_service_errors, desk_permission

VIEW_CASE = "costs.view_billingcase"
PANEL = "costs/_billing_case_panel.html"


class BillingCaseOpenForm(Form):
    dispute_deadline = forms.DateField(label=gettext_lazy("Dispute deadline"), required=False, widget=DateInput)


class CreditNoteForm(Form):
    reference = forms.CharField(label=gettext_lazy("Credit note number"), max_length=80)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount credited"), max_digits=20, decimal_places=2, min_value=Decimal("0.01")
    )
    issued_on = forms.DateField(label=gettext_lazy("Issued on"), widget=DateInput)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    final = forms.BooleanField(
        label=gettext_lazy("Final: the partner credits nothing more on this case"), required=False
    )


class BillingCaseAmendForm(Form):
    amount_disputed = forms.DecimalField(
        label=gettext_lazy("Amount in dispute"), max_digits=20, decimal_places=2, min_value=Decimal(0), required=False
    )
    dispute_deadline = forms.DateField(label=gettext_lazy("Dispute deadline"), required=False, widget=DateInput)

    @classmethod
    def for_case(cls, case: BillingCase) -> BillingCaseAmendForm:
        initial = {"amount_disputed": case.amount_disputed, "dispute_deadline": case.dispute_deadline}
        return cls(initial=initial, auto_id="id_amend_%s")


def _back(request) -> str:
    """Where a refused "open billing case" goes back to: the page it came from, on this site."""
    for candidate in (request.POST.get("next"), request.headers.get("Referer")):
        if candidate and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return candidate
    return reverse("costs:recovery_report")


@desk_permission("costs.add_billingcase", "costs.view_costfinding", "cases.add_incident")
@require_POST
def billing_case_open_view(request):
    """Open a billing case from the findings posted (`finding`, repeated) and go to its incident."""
    form = BillingCaseOpenForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_back(request))
    try:
        case = billing_case_open(
            findings=request.POST.getlist("finding"),
            actor=request.user,
            dispute_deadline=form.cleaned_data["dispute_deadline"],
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect(_back(request))
    messages.success(request, _("Billing case opened on %(reference)s.") % {"reference": case.incident.reference})
    url = reverse("cases:incident_detail", args=[case.incident.reference])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def billing_case_of(incident) -> BillingCase | None:
    """The incident's billing case with its findings and credit notes (3 queries), or None."""
    return (
        BillingCase.objects.filter(incident=incident)
        .select_related("partner", "incident")
        .prefetch_related(
            Prefetch("findings", queryset=CostFinding.objects.select_related("partner", "rule").order_by("-amount")),
            Prefetch("credit_notes", queryset=CreditNote.objects.select_related("recorded_by")),
        )
        .first()
    )


def panel_context(
    request, case: BillingCase, *, form: CreditNoteForm | None = None, amend_form: BillingCaseAmendForm | None = None
) -> dict:
    credited = sum((note.amount for note in case.credit_notes.all()), Decimal(0))
    balance = max(case.amount_disputed - credited, Decimal(0)) if case.settled_at is None else Decimal(0)
    can_record = request.user.has_perm("costs.add_creditnote")
    can_amend = request.user.has_perm("costs.change_billingcase")
    return {
        "case": case,
        "incident": case.incident,
        "findings": [(finding, finding.explanation()) for finding in case.findings.all()],
        "credit_notes": list(case.credit_notes.all()),
        "credited": credited,
        "balance": balance,
        "form": form if form is not None else (CreditNoteForm(auto_id="id_credit_%s") if can_record else None),
        "can_record": can_record,
        "amend_form": amend_form
        if amend_form is not None
        else (BillingCaseAmendForm.for_case(case) if can_amend else None),
    }


@desk_permission("cases.view_incident", VIEW_CASE)
@require_safe
def incident_billing_panel(request, reference: str):
    """The billing-case panel of the incident page (loaded by htmx); empty when it has no case."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    case = billing_case_of(incident)
    if case is None:
        return HttpResponse("")
    return render(request, PANEL, panel_context(request, case))


def _panel_post(request, pk: int, *, form_class, prefix: str, service, done: str, form_name: str):
    """A form posted from the billing-case panel, through its service: htmx gets the panel back (with
    the form's errors), a plain post goes to the incident with a message."""
    case = get_object_or_404(BillingCase.objects.select_related("incident"), pk=pk)
    incident = incident_visible_or_404(user=request.user, reference=case.incident.reference)
    form = form_class(request.POST, auto_id=f"id_{prefix}_%s")
    if form.is_valid():
        try:
            service(billing_case=case, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if not request.htmx:
                messages.success(request, done)
                return redirect("cases:incident_detail", incident.reference)
            form = None
    if not request.htmx:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("cases:incident_detail", incident.reference)
    return render(request, PANEL, panel_context(request, billing_case_of(incident), **{form_name: form}))


@desk_permission("cases.view_incident", VIEW_CASE, "costs.add_creditnote")
@require_POST
def credit_note_record_view(request, pk: int):
    """Record a credit note on the case."""
    return _panel_post(
        request,
        pk,
        form_class=CreditNoteForm,
        prefix="credit",
        service=credit_note_record,
        done=_("Credit note recorded."),
        form_name="form",
    )


@desk_permission("cases.view_incident", VIEW_CASE, "costs.change_billingcase")
@require_POST
def billing_case_amend_view(request, pk: int):
    """Correct the amount in dispute or the deadline."""
    return _panel_post(
        request,
        pk,
        form_class=BillingCaseAmendForm,
        prefix="amend",
        service=billing_case_amend,
        done=_("Billing case corrected."),
        form_name="amend_form",
    )


# --- the recovered-amount report -------------------------------------------------------------------


def _months_ago(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


class RecoveryFilterForm(Form):
    start = forms.DateField(
        label=gettext_lazy("From month"),
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=MonthInput,
    )
    end = forms.DateField(
        label=gettext_lazy("To month"),
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=MonthInput,
    )
    partner = forms.ModelChoiceField(
        label=gettext_lazy("Partner"),
        queryset=Partner.objects.order_by("name"),
        required=False,
        empty_label=gettext_lazy("Every partner"),
    )

    def clean(self):
        cleaned = super().clean()
        today = timezone.localtime(timezone.now(), desk_zone()).date()
        cleaned["end"] = (cleaned.get("end") or today).replace(day=1)
        cleaned["start"] = (cleaned.get("start") or _months_ago(cleaned["end"], 11)).replace(day=1)
        if cleaned["start"] > cleaned["end"]:
            self.add_error("start", _("The first month comes after the last."))
        elif (cleaned["end"].year - cleaned["start"].year) * 12 + cleaned["end"].month - cleaned["start"].month > 120:
            self.add_error("start", _("Choose at most ten years."))
        return cleaned


def _report(request):
    form = RecoveryFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    if not request.GET:
        form = RecoveryFilterForm({})
        form.is_valid()
    data = form.cleaned_data
    return form, recovery_report(start=data["start"], end=data["end"], partner=data.get("partner"))


@desk_permission(VIEW_CASE)
@require_safe
def recovery_report_view(request):
    form, rows = _report(request)
    context = {"form": form, "rows": rows, "totals": recovery_totals(rows or []), "query": request.GET.urlencode()}
    return render(request, "costs/recovery_report.html", context, status=200 if rows is not None else 400)


class _Echo:
    def write(self, value: str) -> str:
        return value


def recovery_csv_header() -> list[str]:
    return [
        _("Partner"),
        _("Month billed"),
        _("Currency"),
        _("Billing cases"),
        _("Findings"),
        _("Overbilled"),
        _("In dispute"),
        _("Recovered"),
        _("Open balance"),
    ]


def recovery_csv_rows(header, rows):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow(
            [
                row.partner,
                f"{row.period:%Y-%m}",
                row.currency,
                row.cases,
                row.findings,
                row.overbilled,
                row.disputed,
                row.recovered,
                row.open_balance,
            ]
        )


@desk_permission(VIEW_CASE)
@require_safe
def recovery_report_csv(request):
    form, rows = _report(request)
    if rows is None:
        return HttpResponse(" ".join(str(e) for errors in form.errors.values() for e in errors), status=400)
    response = StreamingHttpResponse(
        recovery_csv_rows(recovery_csv_header(), rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="recovered-amounts.csv"'
    return response
