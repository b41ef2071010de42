"""Notice templates over the API: every version, saving a new one, and the editor's preview
against an engaged partner of an incident (or sample data). Saving is `partners.services`;
the preview renders in the same sandbox as sending."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cases.correspondence.compose import notice_template_preview
from cases.models import PartnerEngagement
from cases.selectors import incident_visible_by_reference
from partners.api.serializers import (
    NoticeTemplatePreviewSerializer,
    NoticeTemplateSerializer,
    NoticeTemplateWriteSerializer,
    RenderedNoticeSerializer,
)
from partners.models import NoticeTemplate
from partners.services import notice_template_save
from payhealth.api.filters import ListFiltersOnly
from payhealth.forms import FilterSet


class NoticeTemplateFilterSet(FilterSet):
    class Meta:
        model = NoticeTemplate
        fields = ["kind", "language", "partner_kind", "active"]


@extend_schema_view(
    list=extend_schema(summary="Notice template versions (filter active=true for the ones in use)"),
    retrieve=extend_schema(summary="One notice template version"),
)
class NoticeTemplateViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every version of every notice template. Saving makes a new active version; older ones stay."""

    serializer_class = NoticeTemplateSerializer
    queryset = NoticeTemplate.objects.none()
    filterset_class = NoticeTemplateFilterSet
    action_permissions = {
        "list": ("partners.view_noticetemplate",),
        "retrieve": ("partners.view_noticetemplate",),
        "create": ("partners.add_noticetemplate", "partners.change_noticetemplate"),
        "preview": ("partners.change_noticetemplate",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or not self.request.user.has_perm("partners.view_noticetemplate"):
            return NoticeTemplate.objects.none()
        return NoticeTemplate.objects.select_related("author")

    @extend_schema(
        summary="Save a template text as the next active version of its kind and language",
        description="Refused with the line and the reason when the text does not compile, names a variable outside "
        "the allowed context, cannot render or goes beyond the sandbox's limits (size, line length, nesting, the work "
        "and text of a render). Saving the active text unchanged creates nothing (200).",
        request=NoticeTemplateWriteSerializer,
        responses={201: NoticeTemplateSerializer, 200: NoticeTemplateSerializer},
    )
    def create(self, request):
        incoming = NoticeTemplateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        before = NoticeTemplate.objects.filter(
            kind=incoming.validated_data["kind"],
            language=incoming.validated_data["language"],
            partner_kind=incoming.validated_data.get("partner_kind", ""),
            active=True,
        ).values_list("pk", flat=True)
        before = set(before)
        template = notice_template_save(actor=request.user, **incoming.validated_data)
        created = template.pk not in before
        return Response(
            NoticeTemplateSerializer(template).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        summary="Render a template text without saving it (the editor's live preview)",
        description="For a partner engaged on an incident (`incident` + `partner`), else against sample data. "
        "A text refused on save, or beyond the sandbox's limits for that incident, answers 400 with the line and "
        "the reason.",
        request=NoticeTemplatePreviewSerializer,
        responses=RenderedNoticeSerializer,
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        incoming = NoticeTemplatePreviewSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        engagement = None
        if "incident" in data:
            incident = incident_visible_by_reference(user=request.user, reference=data["incident"])
            engagement = (
                PartnerEngagement.objects.filter(incident=incident, partner__code=data["partner"])
                .select_related("incident", "partner")
                .first()
                if incident is not None
                else None
            )
            if engagement is None:
                raise ValidationError(
                    {"partner": _("That partner is not engaged on that incident.")}, code="not_engaged"
                )
        rendered = notice_template_preview(
            subject=data["subject"],
            body=data["body"],
            language=data["language"],
            engagement=engagement,
            actor=request.user,
        )
        return Response(RenderedNoticeSerializer({"subject": rendered.subject, "body": rendered.body}).data)
