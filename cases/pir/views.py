"""The post-incident report's pages: the report (HTML), its PDF, and attaching it to a draft notice.

Thin views: the report is read by `cases.pir.report`, drawn by `cases.pir.render`, attached by
`cases.pir.attach`. `?lang=en|es` chooses the report's language (the interface's by default).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from cases.models import Correspondence
from cases.pir.attach import notice_attach_report
from cases.pir.render import report_pdf
from cases.pir.report import incident_report, report_filename, report_language
from cases.selectors import incident_list_visible_to, incident_visible_or_404
from payhealth.i18n import Language
from payhealth.web import desk_permission

READ = ("cases.view_incident", "cases.view_correspondence", "cases.view_slaclock")


@desk_permission(*READ)
@require_safe
def incident_report_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    report = incident_report(incident=incident, language=report_language(request.GET.get("lang")))
    context = {"incident": incident, "report": report, "languages": Language.choices}
    return render(request, "cases/pir/report.html", context)


@desk_permission(*READ)
@require_safe
def incident_report_pdf_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    language = report_language(request.GET.get("lang"))
    content = report_pdf(incident_report(incident=incident, language=language))
    response = HttpResponse(content, content_type="application/pdf")
    filename = report_filename(incident.reference, language)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


@desk_permission("cases.change_correspondence")
@require_POST
def notice_attach_report_view(request, pk: int):
    """Attach the report to a draft notice, then back to the incident's messages (a plain form: the
    page shows what happened, or why not)."""
    notice = get_object_or_404(
        Correspondence.objects.select_related("incident"),
        pk=pk,
        direction=Correspondence.Direction.OUTBOUND,
        incident__in=incident_list_visible_to(user=request.user),
    )
    incident = notice.incident
    try:
        notice_attach_report(correspondence=notice, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The post-incident report is attached to the draft."))
    return redirect(reverse("cases:incident_detail", args=[incident.reference]) + "#incident-notices")


urlpatterns = [
    path("incidents/<str:reference>/report/", incident_report_view, name="incident_report"),
    path("incidents/<str:reference>/report/pdf/", incident_report_pdf_view, name="incident_report_pdf"),
    path("notices/<int:pk>/report/", notice_attach_report_view, name="notice_attach_report"),
]
