"""The upload page: a file of buckets → preview and column mapping → import on a worker, with
its progress polled by htmx. The services are in `monitoring.uploads`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from monitoring.forms import MappingForm, UploadForm
from monitoring.models import ImportJobState, ImportMapping
from monitoring.uploads import job_preview, jobs_of, mapping_matching, suggested_mapping, upload_start, upload_store
from payhealth.web import desk_permission

RECENT_JOBS = 10


@desk_permission("monitoring.submit_metrics")
@require_http_methods(["GET", "HEAD", "POST"])
def upload_start_view(request):
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if request.method == "POST" and form.is_valid():
        try:
            job = upload_store(uploaded=form.cleaned_data["file"], actor=request.user)
        except ValidationError as error:
            for message in error.message_dict.get("file", error.messages):
                form.add_error("file", message)
        else:
            return redirect("monitoring:upload_detail", job.pk)
    jobs = jobs_of(user=request.user).order_by("-created_at", "-id")[:RECENT_JOBS]
    status = 400 if request.method == "POST" else 200
    return render(request, "monitoring/upload.html", {"form": form, "jobs": jobs}, status=status)


@desk_permission("monitoring.submit_metrics")
@require_http_methods(["GET", "HEAD", "POST"])
def upload_detail(request, pk: int):
    job = get_object_or_404(jobs_of(user=request.user), pk=pk)
    context = {"job": job}
    if job.state == ImportJobState.UPLOADED:
        saved = None
        name = request.GET.get("mapping", "")
        if name and len(name) <= 50:
            saved = ImportMapping.objects.filter(name=name).first()
        saved = saved or mapping_matching(job.header)
        form = MappingForm(
            request.POST or None, header=job.header, initial_mapping=suggested_mapping(job.header, saved)
        )
        if request.method == "POST" and form.is_valid():
            try:
                upload_start(job=job, mapping=form.mapping(), save_as=form.cleaned_data["save_as"], actor=request.user)
            except ValidationError as error:
                if hasattr(error, "error_dict"):
                    for field, messages in error.message_dict.items():
                        target = f"map_{field}" if f"map_{field}" in form.fields else "save_as"
                        for message in messages:
                            form.add_error(target if field != "__all__" else None, message)
                else:
                    form.add_error(None, error)
            else:
                return redirect("monitoring:upload_detail", job.pk)
        context |= {
            "form": form,
            "saved": saved,
            "mappings": ImportMapping.objects.order_by("name")[:50],
            "preview": [[row.get(column) for column in job.header] for row in job_preview(job)],
        }
        status = 400 if request.method == "POST" else 200
        return render(request, "monitoring/upload_detail.html", context, status=status)
    return render(request, "monitoring/upload_detail.html", context)


@desk_permission("monitoring.submit_metrics")
@require_safe
def upload_progress(request, pk: int):
    job = get_object_or_404(jobs_of(user=request.user), pk=pk)
    return render(request, "monitoring/upload_detail.html#progress", {"job": job})
