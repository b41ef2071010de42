"""An incident's follow-through over REST: the RCAs asked of its partners (and their moves) and its
action items. Thin: input serializer → the `cases.rca.services` function → output serializer."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action

from accounts.api.serializers import UserRefSerializer
from cases.api.incidents import CHANGE_INCIDENT, REFERENCE_PARAMETER, VIEW_INCIDENT, IncidentPartViewSet
from cases.api.serializers import OwnerField
from cases.models import ActionItem, RcaRequest
from cases.rca.services import action_item_add, action_item_update, rca_change
from partners.api.serializers import PartnerByIdOrCodeField, PartnerRefSerializer
from payhealth.api.fields import DateTimeField
from payhealth.api.serializers import ModelSerializer, Serializer


class RcaSerializer(ModelSerializer):
    partner = PartnerRefSerializer(source="engagement.partner")
    decided_by = UserRefSerializer(allow_null=True)
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = RcaRequest
        fields = [
            "id",
            "partner",
            "status",
            "correspondence",
            "requested_at",
            "due_at",
            "overdue",
            "received_at",
            "root_cause",
            "decided_at",
            "decided_by",
            "decision_note",
            "reminders_sent",
        ]
        read_only_fields = fields

    def get_overdue(self, row) -> bool:
        return row.status == RcaRequest.Status.REQUESTED and row.due_at <= timezone.now()


class RcaStatusSerializer(Serializer):
    status = serializers.ChoiceField(
        choices=[RcaRequest.Status.RECEIVED, RcaRequest.Status.ACCEPTED, RcaRequest.Status.REJECTED]
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, help_text="Required to reject.")
    root_cause = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    received_at = DateTimeField(required=False, allow_null=True, help_text="When it arrived (default: now).")


@extend_schema_view(
    list=extend_schema(summary="The RCAs asked of the incident's partners", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One RCA", parameters=[REFERENCE_PARAMETER]),
)
class RcaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    queryset = RcaRequest.objects.none()
    serializer_class = RcaSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT,),
        "retrieve": (VIEW_INCIDENT,),
        "move": (VIEW_INCIDENT, CHANGE_INCIDENT),
    }

    def rows(self):
        return (
            RcaRequest.objects.filter(incident=self.incident)
            .select_related("engagement__partner", "decided_by")
            .order_by("requested_at", "pk")
        )

    @extend_schema(
        summary="Move an RCA: received, accepted or rejected",
        description="requested → received → accepted | rejected; a rejected RCA may be received again. "
        "A rejection needs a `note`. Each move goes on the timeline with who and when.",
        parameters=[REFERENCE_PARAMETER],
        request=RcaStatusSerializer,
        responses=RcaSerializer,
    )
    @action(detail=True, methods=["post"], url_path="status")
    def move(self, request, reference=None, pk=None):
        rca = self.get_object()
        incoming = RcaStatusSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        rca_change(
            rca=rca,
            actor=request.user,
            to=data["status"],
            note=data.get("note", ""),
            root_cause=data.get("root_cause"),
            received_at=data.get("received_at"),
        )
        return self._one(rca.pk)


class ActionItemSerializer(ModelSerializer):
    owner = UserRefSerializer(allow_null=True)
    partner = PartnerRefSerializer(allow_null=True)
    created_by = UserRefSerializer(allow_null=True)

    class Meta:
        model = ActionItem
        fields = ["id", "title", "owner", "partner", "due_date", "status", "done_at", "rca", "created_by", "created_at"]
        read_only_fields = fields


class ActionItemInputSerializer(Serializer):
    title = serializers.CharField(max_length=300)
    owner = OwnerField(required=False, allow_null=True, help_text="A desk user by id (or a partner, not both).")
    partner = PartnerByIdOrCodeField(required=False, allow_null=True, help_text="An engaged partner by id or code.")
    due_date = serializers.DateField(required=False, allow_null=True)


class ActionItemUpdateSerializer(ActionItemInputSerializer):
    title = serializers.CharField(max_length=300, required=False)
    status = serializers.ChoiceField(choices=ActionItem.Status.choices, required=False)


@extend_schema_view(
    list=extend_schema(summary="The incident's action items", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One action item", parameters=[REFERENCE_PARAMETER]),
)
class ActionItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    queryset = ActionItem.objects.none()
    serializer_class = ActionItemSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT,),
        "retrieve": (VIEW_INCIDENT,),
        "create": (VIEW_INCIDENT, CHANGE_INCIDENT),
        "partial_update": (VIEW_INCIDENT, CHANGE_INCIDENT),
    }

    def rows(self):
        return (
            ActionItem.objects.filter(incident=self.incident)
            .select_related("owner", "partner", "created_by")
            .order_by("due_date", "pk")
        )

    @extend_schema(
        summary="Add an action item",
        description="Owned by a desk user (`owner`) or an engaged partner (`partner`), with an optional due date.",
        parameters=[REFERENCE_PARAMETER],
        request=ActionItemInputSerializer,
        responses={201: ActionItemSerializer},
    )
    def create(self, request, reference=None):
        incoming = ActionItemInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        item = action_item_add(incident=self.incident, actor=request.user, **incoming.validated_data)
        return self._one(item.pk, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an action item, or mark it done or cancelled",
        parameters=[REFERENCE_PARAMETER],
        request=ActionItemUpdateSerializer,
        responses=ActionItemSerializer,
    )
    def partial_update(self, request, reference=None, pk=None):
        item = self.get_object()
        incoming = ActionItemUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        action_item_update(item=item, actor=request.user, **incoming.validated_data)
        return self._one(item.pk)
