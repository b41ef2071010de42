"""Partner contacts and business calendars over the API (the partners themselves, with their
incidents, are `cases.api.directory`; notice templates, previewed against incidents, are
`cases.correspondence.api.templates`).

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

from partners.api.serializers import (
    BusinessCalendarSerializer,
    BusinessTimeQuerySerializer,
    BusinessTimeSerializer,
    PartnerContactSerializer,
    PartnerContactUpdateSerializer,
    PartnerContactWriteSerializer,
)
from partners.businesstime import ZERO, business_add, business_elapsed, schedule_for
from partners.models import BusinessCalendar, Holiday, PartnerContact, WorkingHours
from partners.selectors import partners_visible_to
from partners.services import contact_delete, contact_save
from payhealth.api.filters import ListFiltersOnly, query_parameter_errors
from payhealth.api.pagination import Cursor
from payhealth.forms import FilterSet

CODE = r"[-a-zA-Z0-9_]+"


class ByCode(Cursor):
    ordering = "code"


class ContactOrder(Cursor):
    ordering = "id"


class ContactFilterSet(FilterSet):
    partner = django_filters.CharFilter(field_name="partner__code", help_text="A partner's code.")

    class Meta:
        model = PartnerContact
        fields = ["partner"]


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
        partners = partners_visible_to(user=self.request.user).values("pk")
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
        errors = query_parameter_errors(request.query_params, ["start", "end", "duration"])
        if errors:
            raise ValidationError(errors)
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
