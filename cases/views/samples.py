"""The incident page's sample transactions: the list, the CSV upload (the whole file or nothing,
problems named by line and column) and removal. Loaded into the incident page by htmx; without
it, a page of its own. Thin views over `cases.services.samples`."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from cases.models import SampleTransaction
from cases.selectors import incident_visible_or_404
from cases.services.samples import COLUMNS, column_label, samples_check_size, samples_remove, samples_upload
from payhealth.forms import Form
from payhealth.ids import parse_ids
from payhealth.web import add_service_errors, desk_permission, wants_fragment

SECTION = "cases/_incident_samples.html"
PAGE = "cases/incident_samples.html"


class SamplesUploadForm(Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "One row per transaction. Cards as their first 6–8 and last 4 digits at most (415231******1234): "
            "a file holding a full card number is refused whole."
        ),
    )


def _context(request, incident, *, form=None) -> dict:
    samples = list(
        SampleTransaction.objects.filter(incident=incident)
        .select_related("merchant", "engagement__partner")
        .order_by("occurred_at", "id")
    )
    return {
        "incident": incident,
        "samples": samples,
        "form": form or SamplesUploadForm(),
        "columns": [column_label(field) for field, _en, _es in COLUMNS],
        "max_rows": settings.PAYHEALTH_SAMPLES_MAX_ROWS,
        "max_kib": settings.PAYHEALTH_SAMPLES_MAX_BYTES // 1024,
    }


def _answer(request, incident, *, form=None) -> HttpResponse:
    context = _context(request, incident, form=form)
    if wants_fragment(request):
        return HttpResponse(render_to_string(SECTION, context, request))
    return render(request, PAGE, context)


@desk_permission("cases.view_sampletransaction")
@require_safe
def incident_samples_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    return _answer(request, incident)


@desk_permission("cases.add_sampletransaction")
@require_POST
def incident_samples_upload_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = SamplesUploadForm(request.POST, request.FILES)
    if form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            samples_check_size(uploaded.size)
            samples_upload(incident=incident, actor=request.user, content=uploaded.read(), filename=uploaded.name)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if not wants_fragment(request):
                return redirect(reverse("cases:incident_samples", args=[incident.reference]))
            form = None
    return _answer(request, incident, form=form)


@desk_permission("cases.delete_sampletransaction")
@require_POST
def incident_samples_remove_view(request, reference: str):
    """Remove the samples whose ids are posted as `sample`, or all of them with `all`."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    ids = None if request.POST.get("all") else parse_ids(request.POST.getlist("sample"))
    form = SamplesUploadForm()
    if ids != []:
        try:
            samples_remove(incident=incident, actor=request.user, ids=ids)
        except ValidationError as error:  # removed by someone else meanwhile: show what is left
            form.add_error(None, error)
    if not wants_fragment(request):
        return redirect(reverse("cases:incident_samples", args=[incident.reference]))
    return _answer(request, incident, form=form)


_ON_INCIDENT = "incidents/<str:reference>/samples/"

urlpatterns = [
    path(_ON_INCIDENT, incident_samples_view, name="incident_samples"),
    path(f"{_ON_INCIDENT}upload/", incident_samples_upload_view, name="incident_samples_upload"),
    path(f"{_ON_INCIDENT}remove/", incident_samples_remove_view, name="incident_samples_remove"),
]
