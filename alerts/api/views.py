"""Alert intake for monitoring, the receipts it leaves, and the leads' severity rules.

A monitoring system authenticates with the personal API token of a user holding
`alerts.submit_alert` (the analyst and lead roles and above): create a dedicated user, give it
the analyst role, and create its token on the API tokens page.
"""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.api.serializers import AlertReceiptSerializer, AlertResponseSerializer, AlertSeverityRuleSerializer
from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.payload import AlertPayloadSerializer
from alerts.selectors import alert_receipts_visible_to, alert_rules_visible_to
from alerts.services import (
    IDEMPOTENCY_KEY_MAX,
    IdempotencyKeyReused,
    alert_ingest,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
)
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.pagination import Cursor
from payhealth.forms import CardNumberFreeFilterSet

REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKeyConflict(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = _("This Idempotency-Key was already used with a different request body.")
    default_code = "idempotency_key_reused"


class AlertIntakeView(APIView):
    """Take in a monitoring alert: open an incident for its segment, or update the open one."""

    action_permissions = {"post": ("alerts.submit_alert",)}

    @extend_schema(
        operation_id="alerts_create",
        summary="Submit a monitoring alert",
        description=(
            "An alert whose segment fingerprint matches an open incident updates it (201 → 200); "
            "otherwise it opens one with severity from the severity rules, raised (never lowered) "
            "by `severity_hint`. With an `Idempotency-Key`, repeating the request returns the first "
            f"answer, same status and body, with the header `{REPLAYED_HEADER}: true`; the same key "
            "with a different body is refused with 422. Without the header every post is processed."
        ),
        request=AlertPayloadSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                required=False,
                description="A key unique per alert (e.g. a UUID), at most 255 characters, kept per user.",
            )
        ],
        responses={
            201: OpenApiResponse(AlertResponseSerializer, description="A new incident was opened."),
            200: OpenApiResponse(AlertResponseSerializer, description="The open incident was updated."),
            422: OpenApiResponse(ErrorSerializer, description="The Idempotency-Key was used for another body."),
        },
    )
    def post(self, request):
        try:
            result = alert_ingest(
                actor=request.user, payload=request.data, idempotency_key=request.headers.get("Idempotency-Key")
            )
        except IdempotencyKeyReused as error:
            raise IdempotencyKeyConflict(str(error)) from error
        # Keys in a fixed order, so a replay (read back from the database) is byte-for-byte the first answer.
        response = Response({key: result.body[key] for key in sorted(result.body)}, status=result.status)
        if result.replayed:
            response[REPLAYED_HEADER] = "true"
        return response


class AlertReceiptFilterSet(CardNumberFreeFilterSet, filters.FilterSet):
    incident = filters.CharFilter(field_name="incident__reference", help_text="An incident reference.")
    outcome = filters.ChoiceFilter(choices=AlertReceipt.Outcome.choices)
    idempotency_key = filters.CharFilter()
    fingerprint = filters.CharFilter()

    class Meta:
        model = AlertReceipt
        fields = ["incident", "outcome", "idempotency_key", "fingerprint"]


class AlertReceiptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every alert accepted, newest first: who sent it, what it did, the answer it got."""

    serializer_class = AlertReceiptSerializer
    queryset = AlertReceipt.objects.none()
    filterset_class = AlertReceiptFilterSet
    action_permissions = {"list": ("alerts.view_alertreceipt",), "retrieve": ("alerts.view_alertreceipt",)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AlertReceipt.objects.none()
        return alert_receipts_visible_to(user=self.request.user)


class RuleCursor(Cursor):
    ordering = ("priority", "id")


class AlertSeverityRuleViewSet(viewsets.ModelViewSet):
    """The rules that give a new alert its severity; tried from the lowest priority number up."""

    serializer_class = AlertSeverityRuleSerializer
    queryset = AlertSeverityRule.objects.none()
    pagination_class = RuleCursor
    action_permissions = {
        "list": ("alerts.view_alertseverityrule",),
        "retrieve": ("alerts.view_alertseverityrule",),
        "create": ("alerts.add_alertseverityrule",),
        "update": ("alerts.change_alertseverityrule",),
        "partial_update": ("alerts.change_alertseverityrule",),
        "destroy": ("alerts.delete_alertseverityrule",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AlertSeverityRule.objects.none()
        return alert_rules_visible_to(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = alert_rule_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = alert_rule_update(
            rule=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        alert_rule_delete(rule=instance, actor=self.request.user)
