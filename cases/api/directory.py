"""The directory over REST: merchants and partners with their incident counts, response codes.

Thin like the HTML views; reads through `cases.selectors`, writes through `cases.services` and
`partners.services`.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from cases.api import serializers as s
from cases.api.incidents import clean_key
from cases.filters import MerchantFilterSet
from cases.models import Merchant, ResponseCode
from cases.selectors import merchant_list_visible_to, partner_directory
from cases.services import merchant_create, merchant_update
from partners.api.serializers import (
    PartnerDetailSerializer,
    PartnerSerializer,
    PartnerUpdateSerializer,
    PartnerWriteSerializer,
)
from partners.api.views import CODE, ByCode
from partners.filters import PartnerApiFilterSet
from partners.models import Partner
from partners.selectors import partner_contact_rows
from partners.services import partner_save
from payhealth.api.filters import FilterBackend, ListFiltersOnly
from payhealth.api.pagination import Cursor
from payhealth.forms import FilterSet

# Merchants, partners, response codes ----------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Merchants", description="`q` searches the name and account id."),
    retrieve=extend_schema(summary="A merchant by account id"),
)
class MerchantViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The merchants the desk watches, with their open and last-90-days incident counts."""

    queryset = Merchant.objects.none()
    serializer_class = s.MerchantSerializer
    lookup_field = "account_id"
    lookup_value_regex = r"[^/]+"
    filter_backends = [FilterBackend]
    filterset_class = MerchantFilterSet
    action_permissions = {
        "list": ("cases.view_merchant",),
        "retrieve": ("cases.view_merchant",),
        "create": ("cases.view_merchant", "cases.add_merchant"),
        "partial_update": ("cases.view_merchant", "cases.change_merchant"),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Merchant.objects.none()
        return merchant_list_visible_to(user=self.request.user)

    def get_object(self) -> Merchant:
        account_id = clean_key(self.kwargs["account_id"])
        merchant = self.get_queryset().filter(account_id=account_id).first()
        if merchant is None:
            raise Http404
        return merchant

    def _one(self, merchant: Merchant, *, status_code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=merchant.pk)
        return Response(s.MerchantSerializer(fresh).data, status=status_code)

    @extend_schema(summary="Add a merchant", request=s.MerchantInputSerializer, responses={201: s.MerchantSerializer})
    def create(self, request):
        incoming = s.MerchantInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        merchant = merchant_create(actor=request.user, **incoming.validated_data)
        return self._one(merchant, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Correct a merchant's details",
        request=s.MerchantInputSerializer(partial=True),
        responses=s.MerchantSerializer,
    )
    def partial_update(self, request, account_id=None):
        merchant = self.get_object()
        incoming = s.MerchantInputSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        merchant_update(merchant=merchant, actor=request.user, **incoming.validated_data)
        return self._one(merchant)


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
        return partner_directory(user=self.request.user)

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


class ResponseCodeFilterSet(FilterSet):
    scheme = django_filters.CharFilter(max_length=20)
    code = django_filters.CharFilter(max_length=64)
    category = django_filters.ChoiceFilter(choices=ResponseCode.Category.choices)

    class Meta:
        model = ResponseCode
        fields = ["scheme", "code", "category"]


@extend_schema_view(list=extend_schema(summary="Response (decline) codes and what they mean"))
class ResponseCodeViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = ResponseCode.objects.all()
    serializer_class = s.ResponseCodeSerializer
    filter_backends = [FilterBackend]
    filterset_class = ResponseCodeFilterSet
    action_permissions = {"list": ("cases.view_responsecode",)}

    class pagination_class(Cursor):  # noqa: N801 - DRF's attribute name
        ordering = "id"
