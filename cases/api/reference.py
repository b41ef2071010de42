"""Merchants, response codes and the caller's saved queue views, over REST.

Thin like the HTML views; reads through `cases.selectors`, writes through `cases.services`.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from cases.api import serializers as s
from cases.api.incidents import VIEW_INCIDENT, ListOnlyFilterMixin, clean_key
from cases.models import Merchant, ResponseCode, SavedView
from cases.selectors import merchant_list_visible_to, saved_views_of
from cases.services import merchant_create, merchant_update, saved_view_create, saved_view_delete
from cases.views.directory import MerchantFilterSet
from payhealth.api.pagination import Cursor

# Merchants, response codes, saved views -------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Merchants", description="`q` searches the name and account id."),
    retrieve=extend_schema(summary="A merchant by account id"),
)
class MerchantViewSet(ListOnlyFilterMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The merchants the desk watches, with their open and last-90-days incident counts."""

    queryset = Merchant.objects.none()
    serializer_class = s.MerchantSerializer
    lookup_field = "account_id"
    lookup_value_regex = r"[^/]+"
    filter_backends = [DjangoFilterBackend]
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


class ResponseCodeFilterSet(django_filters.FilterSet):
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
    filter_backends = [DjangoFilterBackend]
    filterset_class = ResponseCodeFilterSet
    action_permissions = {"list": ("cases.view_responsecode",)}

    class pagination_class(Cursor):  # noqa: N801 - DRF's attribute name
        ordering = "id"


@extend_schema_view(
    list=extend_schema(summary="Your saved queue views"),
    destroy=extend_schema(summary="Delete one of your saved views"),
)
class SavedViewViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Named queue filters, private to their owner: another user's view is a 404."""

    queryset = SavedView.objects.none()
    serializer_class = s.SavedViewSerializer
    pagination_class = None
    action_permissions = {"list": (VIEW_INCIDENT,), "create": (VIEW_INCIDENT,), "destroy": (VIEW_INCIDENT,)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SavedView.objects.none()
        return saved_views_of(user=self.request.user)

    def get_object(self):
        pk = self.kwargs["pk"]
        view = self.get_queryset().filter(pk=pk).first() if pk.isdigit() and 0 < int(pk) < s.BIG else None
        if view is None:
            raise Http404
        return view

    @extend_schema(
        summary="Save queue filters under a name",
        request=s.SavedViewInputSerializer,
        responses={201: s.SavedViewSerializer},
    )
    def create(self, request):
        incoming = s.SavedViewInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        view = saved_view_create(owner=request.user, **incoming.validated_data)
        return Response(s.SavedViewSerializer(view).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        saved_view_delete(view=instance, actor=self.request.user)
