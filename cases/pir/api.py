"""`/api/v1/` routes of the post-incident report: its data as JSON, its PDF, and attaching it to a
draft notice. The same services as the pages (`cases.pir.report`, `cases.pir.render`,
`cases.pir.attach`), which check the rules again."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Correspondence
from cases.pir.attach import notice_attach_report
from cases.pir.render import report_pdf
from cases.pir.report import incident_report, report_filename, report_language
from cases.selectors import incident_list_visible_to, incident_visible_or_404
from payhealth.api.serializers import Serializer
from payhealth.i18n import Language

READ = ("cases.view_incident", "cases.view_correspondence", "cases.view_slaclock")
LANG = OpenApiParameter(
    "lang",
    str,
    enum=Language.values,
    description="The report's language; the caller's interface language when absent or unknown.",
)


class PdfRenderer(BaseRenderer):
    """Lets a client ask for `application/pdf` (errors still answer JSON: see the view)."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode("utf-8")


class ReportSerializer(Serializer):
    """The report's facts: times as ISO 8601 and desk-zone text, shares 0–1 and amounts as strings."""

    reference = serializers.CharField()
    language = serializers.CharField()
    zone = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    severity = serializers.CharField()
    impact_duration = serializers.CharField()
    timeline = serializers.ListField(child=serializers.DictField())
    merchants = serializers.ListField(child=serializers.DictField())
    approval_before = serializers.CharField(allow_null=True)
    approval_during = serializers.CharField(allow_null=True)
    excess_declines = serializers.IntegerField()
    volumes_at_risk = serializers.ListField(child=serializers.DictField())
    partners = serializers.ListField(child=serializers.DictField())
    clocks = serializers.ListField(child=serializers.DictField())
    root_cause = serializers.CharField()
    rcas = serializers.ListField(child=serializers.DictField())
    action_items = serializers.ListField(child=serializers.DictField())


class ReportAttachmentSerializer(Serializer):
    id = serializers.IntegerField()
    correspondence = serializers.IntegerField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class IncidentReportView(APIView):
    """The post-incident report of an incident, as data."""

    action_permissions = {"get": READ}

    @extend_schema(summary="An incident's post-incident report", parameters=[LANG], responses=ReportSerializer)
    def get(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        report = incident_report(incident=incident, language=report_language(request.query_params.get("lang")))
        return Response(report.as_data())


class IncidentReportPdfView(APIView):
    """The post-incident report of an incident, as a PDF."""

    action_permissions = {"get": READ}
    renderer_classes = [JSONRenderer, PdfRenderer]

    def handle_exception(self, exc):
        """Errors answer JSON, as everywhere in the API, even to a client that asked for the PDF."""
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        summary="An incident's post-incident report as a PDF",
        parameters=[LANG],
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")},
    )
    def get(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        language = report_language(request.query_params.get("lang"))
        response = HttpResponse(report_pdf(incident_report(incident=incident, language=language)))
        response["Content-Type"] = "application/pdf"
        name = report_filename(incident.reference, language)
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
        return response


class NoticeAttachReportView(APIView):
    """Attach the post-incident report, as a PDF in the notice's language, to a draft notice."""

    action_permissions = {"post": ("cases.change_correspondence",)}

    @extend_schema(
        summary="Attach the post-incident report to a draft notice",
        description="Only a draft, by someone who may edit it, for a partner engaged on the incident. "
        "Attaching again replaces the draft's earlier copy of the report.",
        request=None,
        responses={201: ReportAttachmentSerializer},
    )
    def post(self, request, pk: int):
        notice = get_object_or_404(
            Correspondence.objects.all(),
            pk=pk,
            direction=Correspondence.Direction.OUTBOUND,
            incident__in=incident_list_visible_to(user=request.user),
        )
        attachment = notice_attach_report(correspondence=notice, actor=request.user)
        data = {
            "id": attachment.pk,
            "correspondence": notice.pk,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
        }
        return Response(ReportAttachmentSerializer(data).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path("incidents/<str:reference>/report/", IncidentReportView.as_view(), name="incident-report"),
    path("incidents/<str:reference>/report/pdf/", IncidentReportPdfView.as_view(), name="incident-report-pdf"),
    path("correspondence/<int:pk>/report/", NoticeAttachReportView.as_view(), name="correspondence-attach-report"),
]
