"""Import pages: upload a partner's billing, see the preview and the validation report, import;
the partners' column mappings; the history of imports (CSV too) with each import's months and
findings, and "Run checks again". The services are `costs.services.billing_import`,
`costs.importing.fee_import_preview` and `costs.services.fee_import_mapping_save`."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from costs.forms import ImportFilterForm, MappingForm, UploadForm
from costs.importing import INVOICE_COLUMNS, RECORD_COLUMNS, FeeImportRefused, fee_import_preview
from costs.models import CostFinding, FeeImport, FeeImportMapping
from costs.services import (
    billing_import,
    fee_import_mapping_save,
    fee_import_months,
    fee_import_recheck,
    fee_imports_months,
)
from costs.uploads import SESSION_KEY, upload_discard, upload_keep, upload_path
from partners.models import Partner
from payhealth.web import add_service_errors, desk_permission

PAGE_SIZE = 50


def _saved_mapping(partner, shape) -> dict | None:
    saved = FeeImportMapping.objects.filter(partner=partner, shape=shape).first()
    return saved.as_mapping() if saved else None


def _preview_context(partner, shape, path, token) -> dict:
    mapping = _saved_mapping(partner, shape)
    try:
        preview = fee_import_preview(path, shape=shape, mapping=mapping)
    except FeeImportRefused as refused:
        return {"refused": refused.errors}
    names = INVOICE_COLUMNS if shape == FeeImport.Shape.INVOICE else RECORD_COLUMNS
    shown = [(number, None if values is None else list(values.values())) for number, values in preview.text_rows()]
    context = {"preview": preview, "shown": shown, "names": names, "token": token, "partner": partner, "shape": shape}
    return context | {"mapping": mapping or {}}


@desk_permission("costs.add_feeimport")
@require_http_methods(["GET", "HEAD", "POST"])
def import_upload(request):
    """GET: the form. POST with a file: keep it and show the preview. POST with `token`: import it."""
    kept = request.session.get(SESSION_KEY, {})
    if request.method == "POST" and request.POST.get("token"):
        token = request.POST["token"]
        entry = kept.get(token) if isinstance(kept, dict) else None
        path = upload_path(token) if entry else None
        if path is None:
            messages.error(request, _("This upload is gone: send the file again."))
            return redirect("costs:import_upload")
        partner = get_object_or_404(Partner, pk=entry["partner"])
        try:
            imported = billing_import(path, partner=partner, shape=entry["shape"], actor=request.user)
        except FeeImportRefused as refused:
            context = {"form": UploadForm(initial=entry), "refused": refused.errors}
            return render(request, "costs/import_upload.html", context, status=400)
        finally:
            upload_discard(token)
            kept.pop(token, None)
            request.session[SESSION_KEY] = kept
        messages.success(request, _("Imported %(rows)d rows; the checks run now.") % {"rows": imported.rows})
        return redirect("costs:import_detail", imported.pk)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        partner, shape = form.cleaned_data["partner"], form.cleaned_data["shape"]
        try:
            token, path = upload_keep(form.cleaned_data["file"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            context |= _preview_context(partner, shape, path, token)
            if "preview" in context and context["preview"].ok:
                kept = kept if isinstance(kept, dict) else {}
                kept[token] = {"partner": partner.pk, "shape": shape}
                request.session[SESSION_KEY] = kept
            else:
                upload_discard(token)
                context.pop("token", None)
            return render(request, "costs/import_upload.html", context, status=200 if "token" in context else 400)
    status = 400 if request.method == "POST" else 200
    return render(request, "costs/import_upload.html", context, status=status)


def _imports(request):
    form = ImportFilterForm(request.GET or None)
    rows = FeeImport.objects.select_related("partner", "imported_by").order_by("-imported_at", "-id")
    if form.is_valid():
        if form.cleaned_data["partner"]:
            rows = rows.filter(partner=form.cleaned_data["partner"])
        if form.cleaned_data["shape"]:
            rows = rows.filter(shape=form.cleaned_data["shape"])
    return form, rows


@desk_permission("costs.view_feeimport")
@require_safe
def import_list(request):
    form, rows = _imports(request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    months = fee_imports_months(page.object_list)
    for imported in page.object_list:
        imported.months = months[imported.pk]
    return render(request, "costs/import_list.html", {"filters": form, "page": page})


@desk_permission("costs.view_feeimport")
@require_safe
def import_list_csv(request):
    _form, rows = _imports(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="fee-imports.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["id", "partner", "shape", "file_name", "rows", "months", "imported_by", "imported_at", "checked_at"]
    )
    imports = list(rows[:10000])
    months_of = fee_imports_months(imports)
    for imported in imports:
        months = " ".join(month.strftime("%Y-%m") for month in months_of[imported.pk])
        writer.writerow(
            [
                imported.pk,
                imported.partner.code,
                imported.shape,
                imported.file_name,
                imported.rows,
                months,
                imported.imported_by.get_username() if imported.imported_by else "",
                imported.imported_at.isoformat(),
                imported.checked_at.isoformat() if imported.checked_at else "",
            ]
        )
    return response


@desk_permission("costs.view_feeimport")
@require_safe
def import_detail(request, pk: int):
    imported = get_object_or_404(FeeImport.objects.select_related("partner", "imported_by"), pk=pk)
    months = []
    for month in fee_import_months(imported):
        findings = CostFinding.objects.filter(partner=imported.partner, period=month).order_by("kind", "id")
        months.append({"month": month, "findings": findings})
    context = {"imported": imported, "months": months, "can_check": request.user.has_perm("costs.run_costs_check")}
    return render(request, "costs/import_detail.html", context)


@desk_permission("costs.view_feeimport", "costs.run_costs_check")
@require_POST
def import_check(request, pk: int):
    imported = get_object_or_404(FeeImport, pk=pk)
    fee_import_recheck(imported, actor=request.user)
    messages.success(request, _("The checks run again for this import's months."))
    return redirect("costs:import_detail", imported.pk)


@desk_permission("costs.view_feeimportmapping")
@require_safe
def mapping_list(request):
    partners = Partner.objects.order_by("name").prefetch_related("fee_import_mappings")
    return render(request, "costs/mapping_list.html", {"partners": partners, "shapes": FeeImport.Shape.choices})


@desk_permission("costs.view_feeimportmapping", "costs.add_feeimportmapping", "costs.change_feeimportmapping")
@require_http_methods(["GET", "HEAD", "POST"])
def mapping_edit(request, partner_id: int, shape: str):
    partner = get_object_or_404(Partner, pk=partner_id)
    if shape not in FeeImport.Shape.values:
        raise Http404
    saved = FeeImportMapping.objects.filter(partner=partner, shape=shape).first()
    if request.method == "POST":
        form = MappingForm(request.POST, shape=shape)
        if form.is_valid():
            try:
                fee_import_mapping_save(
                    partner=partner,
                    shape=shape,
                    columns=form.columns(),
                    fee_codes=form.cleaned_data["fee_codes"],
                    actor=request.user,
                )
            except ValidationError as error:
                add_service_errors(form, error, {name: f"col_{name}" for name in form.shape_fields})
            else:
                messages.success(request, _("Column mapping saved."))
                return redirect("costs:mapping_edit", partner.pk, shape)
    else:
        form = MappingForm(initial=MappingForm.initial_for(saved), shape=shape)
    status = 400 if request.method == "POST" else 200
    context = {
        "partner": partner,
        "shape": shape,
        "shape_label": FeeImport.Shape(shape).label,
        "form": form,
        "saved": saved,
    }
    return render(request, "costs/mapping_form.html", context, status=status)
