"""The caller's saved queue views over REST (private to their owner)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from cases.api import serializers as s
from cases.api.incidents import VIEW_INCIDENT
from cases.models import SavedView
from cases.selectors import saved_views_of
from cases.services import saved_view_create, saved_view_delete
from payhealth.ids import parse_id


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
        pk = parse_id(self.kwargs["pk"])
        view = self.get_queryset().filter(pk=pk).first() if pk is not None else None
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
