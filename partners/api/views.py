"""Partners, their contacts, business calendars and notice templates over the API.

Reads go through `partners.selectors`; writes call the same services as the pages and the admin
(`partners.services`), which check the permissions again and validate with `full_clean`.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from cases.mail import subject_with_token
from cases.models import PartnerEngagement
from cases.selectors import incident_visible_by_reference
from cases.services.notices import notice_template_preview
from partners.api.serializers import (
    BusinessCalendarSerializer,
    BusinessTimeQuerySerializer,
    BusinessTimeSerializer,
    NoticeTemplatePreviewSerializer,
    NoticeTemplateSerializer,
    NoticeTemplateWriteSerializer,
    PartnerContactSerializer,
    PartnerContactUpdateSerializer,
    PartnerContactWriteSerializer,
    PartnerDetailSerializer,
    PartnerSerializer,
    PartnerUpdateSerializer,
    PartnerWriteSerializer,
    RenderedNoticeSerializer,
)
from partners.businesstime import ZERO, business_add, business_elapsed, schedule_for
from partners.filters import PartnerApiFilterSet
from partners.models import BusinessCalendar, Holiday, NoticeTemplate, Partner, PartnerContact, WorkingHours
from partners.notices import NoticeRenderError, notice_template_errors, render_notice, sample_notice_contexts
from partners.selectors import partner_contact_rows, partner_list_visible_to
from partners.services import contact_delete, contact_save, notice_template_save, partner_save
from payhealth.api.pagination import Cursor

CODE = r"[-a-zA-Z0-9_]+"


class ListFiltersOnly:
    """Filters narrow the list only: a detail URL finds its object whatever the query string says."""

    def filter_queryset(self, queryset):
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)


class ByCode(Cursor):
    ordering = "code"


class ContactOrder(Cursor):
    ordering = "id"


class ContactFilterSet(django_filters.FilterSet):
    partner = django_filters.CharFilter(field_name="partner__code", help_text="A partner's code.")

    class Meta:
        model = PartnerContact
        fields = ["partner"]


@extend_schema_view(
    list=extend_schema(summary="Partners, with their open and recent incident counts"),
    retrieve=extend_schema(summary="One partner with its contacts", responses=PartnerDetailSerializer),
)
class PartnerViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Financial partners. `q` searches name, code and contacts; filters: kind, country, language, active."""

    serializer_class = PartnerSerializer
    queryset = Partner.objects.none()  # the schema's model; requests use get_queryset
    lookup_field = "code"
    lookup_value_regex = CODE
    pagination_class = ByCode
    filterset_class = PartnerApiFilterSet
    action_permissions = {
        "list": ("partners.view_partner",),
        "retrieve": ("partners.view_partner",),
        "create": ("partners.add_partner",),
        "partial_update": ("partners.change_partner",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Partner.objects.none()
        return partner_list_visible_to(user=self.request.user)

    def _detail(self, partner: Partner) -> dict:
        shown = self.get_queryset().get(pk=partner.pk)
        shown.contact_rows = partner_contact_rows(partner=shown)
        return PartnerDetailSerializer(shown).data

    def retrieve(self, request, code=None):
        return Response(self._detail(self.get_object()))

    @extend_schema(summary="Add a partner", request=PartnerWriteSerializer, responses={201: PartnerDetailSerializer})
    def create(self, request):
        incoming = PartnerWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        partner = partner_save(actor=request.user, values=incoming.validated_data)
        return Response(self._detail(partner), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a partner's fields (the code stays)",
        request=PartnerUpdateSerializer,
        responses=PartnerDetailSerializer,
    )
    def partial_update(self, request, code=None):
        partner = self.get_object()
        incoming = PartnerUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        partner = partner_save(actor=request.user, partner=partner, values=incoming.validated_data)
        return Response(self._detail(partner))


@extend_schema_view(
    list=extend_schema(summary="Partner contacts; `partner` (a code) narrows to one partner"),
    retrieve=extend_schema(summary="One partner contact"),
)
class PartnerContactViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The people and mailboxes at partners that receive notices."""

    serializer_class = PartnerContactSerializer
    queryset = PartnerContact.objects.none()
    pagination_class = ContactOrder
    filterset_class = ContactFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {
        "list": ("partners.view_partnercontact",),
        "retrieve": ("partners.view_partnercontact",),
        "create": ("partners.add_partnercontact",),
        "partial_update": ("partners.change_partnercontact",),
        "destroy": ("partners.delete_partnercontact",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PartnerContact.objects.none()
        partners = partner_list_visible_to(user=self.request.user).values("pk")
        if not self.request.user.has_perm("partners.view_partnercontact"):
            return PartnerContact.objects.none()
        return PartnerContact.objects.filter(partner__in=partners).select_related("partner")

    @extend_schema(
        summary="Add a contact to a partner",
        request=PartnerContactWriteSerializer,
        responses={201: PartnerContactSerializer},
    )
    def create(self, request):
        incoming = PartnerContactWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        values = dict(incoming.validated_data)
        partner = values.pop("partner")
        contact = contact_save(actor=request.user, partner=partner, values=values)
        return Response(PartnerContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a contact's fields", request=PartnerContactUpdateSerializer, responses=PartnerContactSerializer
    )
    def partial_update(self, request, pk=None):
        contact = self.get_object()
        incoming = PartnerContactUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        contact = contact_save(actor=request.user, contact=contact, values=incoming.validated_data)
        return Response(PartnerContactSerializer(contact).data)

    @extend_schema(summary="Remove a contact", responses={204: None})
    def destroy(self, request, pk=None):
        contact_delete(actor=request.user, contact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Business calendars with their working hours and holidays"),
    retrieve=extend_schema(summary="One business calendar"),
)
class BusinessCalendarViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """When business time runs: the calendars SLA clocks and partners use."""

    serializer_class = BusinessCalendarSerializer
    queryset = BusinessCalendar.objects.none()
    lookup_field = "code"
    lookup_value_regex = CODE
    pagination_class = ByCode
    action_permissions = {
        "list": ("partners.view_businesscalendar",),
        "retrieve": ("partners.view_businesscalendar",),
        "business_time": ("partners.view_businesscalendar",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or not self.request.user.has_perm(
            "partners.view_businesscalendar"
        ):
            return BusinessCalendar.objects.none()
        return BusinessCalendar.objects.prefetch_related(
            Prefetch("working_hours", queryset=WorkingHours.objects.order_by("weekday", "opens")),
            Prefetch("holidays", queryset=Holiday.objects.order_by("date")),
        )

    @extend_schema(
        summary="Business time between two instants, or the instant a business duration ends",
        parameters=[BusinessTimeQuerySerializer],
        responses=BusinessTimeSerializer,
    )
    @action(detail=True, methods=["get"], url_path="business-time")
    def business_time(self, request, code=None):
        calendar = self.get_object()
        query = BusinessTimeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start = query.validated_data["start"]
        schedule = schedule_for(calendar)
        try:
            if "duration" in query.validated_data:
                end = business_add(schedule, start, query.validated_data["duration"])
            else:
                end = query.validated_data["end"]
            business = business_elapsed(schedule, start, end)
        except (ValueError, OverflowError) as error:
            raise ValidationError(
                _("The calendar cannot answer that: %(error)s") % {"error": error}, code="no_business_time"
            ) from error
        data = {
            "calendar": calendar.code,
            "start": start,
            "end": end,
            "business_seconds": int(business.total_seconds()),
            "wall_seconds": int(max(end - start, ZERO).total_seconds()),
        }
        return Response(BusinessTimeSerializer(data).data)


class NoticeTemplateFilterSet(django_filters.FilterSet):
    class Meta:
        model = NoticeTemplate
        fields = ["kind", "language", "active"]


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
        "the allowed context or cannot render. Saving the active text unchanged creates nothing (200).",
        request=NoticeTemplateWriteSerializer,
        responses={201: NoticeTemplateSerializer, 200: NoticeTemplateSerializer},
    )
    def create(self, request):
        incoming = NoticeTemplateWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        before = NoticeTemplate.objects.filter(
            kind=incoming.validated_data["kind"], language=incoming.validated_data["language"], active=True
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
        "A text that does not compile or names an unknown variable answers 400 with the line and the reason.",
        request=NoticeTemplatePreviewSerializer,
        responses=RenderedNoticeSerializer,
    )
    @action(detail=False, methods=["post"])
    def preview(self, request):
        incoming = NoticeTemplatePreviewSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        problems = notice_template_errors(subject=data["subject"].strip(), body=data["body"])
        if problems:
            raise ValidationError(problems, code="invalid_template")
        if "incident" in data:
            incident = incident_visible_by_reference(user=request.user, reference=data["incident"])
            engagement = (
                PartnerEngagement.objects.filter(incident=incident, partner__code=data["partner"])
                .select_related("partner")
                .first()
                if incident is not None
                else None
            )
            if engagement is None:
                raise ValidationError(
                    {"partner": _("That partner is not engaged on that incident.")}, code="not_engaged"
                )
            rendered = notice_template_preview(
                incident=incident,
                partner=engagement.partner,
                language=data["language"],
                subject=data["subject"],
                body=data["body"],
                actor=request.user,
            )
        else:
            sample = sample_notice_contexts()[0]
            try:
                rendered = render_notice(
                    subject=data["subject"], body=data["body"], context=sample, language=data["language"]
                )
            except NoticeRenderError as error:
                raise ValidationError({"body": str(error)}, code="template_broken") from error
            rendered = type(rendered)(
                subject=subject_with_token(rendered.subject, sample["reference"]), body=rendered.body
            )
        return Response(RenderedNoticeSerializer({"subject": rendered.subject, "body": rendered.body}).data)
