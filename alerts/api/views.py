"""Alert intake for monitoring, the receipts it leaves, and the leads' severity rules.

A monitoring system authenticates with the personal API token of a user holding
`alerts.submit_alert` (the analyst and lead roles and above): create a dedicated user, give it
the analyst role, and create its token on the API tokens page.
"""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.api.serializers import (
    AlertAcceptedSerializer,
    AlertBatchAnswerSerializer,
    AlertBatchSerializer,
    AlertReceiptSerializer,
    AlertResponseSerializer,
    AlertSeverityRuleSerializer,
    AlertStatusSerializer,
)
from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.payload import AlertPayloadSerializer
from alerts.selectors import alert_receipts_visible_to, alert_rules_visible_to, alert_status_visible_to
from alerts.services import (
    IDEMPOTENCY_KEY_MAX,
    INTAKE_BATCH_MAX,
    AlertAccepted,
    IdempotencyKeyReused,
    alert_accept,
    alert_accept_batch,
    alert_ingest,
    alert_receipt_status,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_update,
)
from payhealth.api.exceptions import ErrorSerializer, error_body
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
            "By default the alert is validated (field errors, unknown merchant or partners: 400, "
            "nothing kept), stored as a pending receipt and answered 202 with the receipt's id and "
            "its `status_url`; a worker applies it within moments. With `?wait=true` it is applied "
            "in the request instead and answered with the incident: an alert whose segment "
            "fingerprint matches an open incident updates it (200), otherwise it opens one (201) "
            "with severity from the severity rules, raised (never lowered) by `severity_hint`. "
            "With an `Idempotency-Key`, repeating the request returns the first answer, same status "
            f"and body, with the header `{REPLAYED_HEADER}: true`; the same key with a different "
            "body is refused with 422. Without the header every post is processed."
        ),
        request=AlertPayloadSerializer,
        parameters=[
            OpenApiParameter(
                "wait",
                bool,
                OpenApiParameter.QUERY,
                required=False,
                description="true: apply the alert in the request and answer with the incident (slower).",
            ),
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                required=False,
                description="A key unique per alert (e.g. a UUID), at most 255 characters, kept per user.",
            ),
        ],
        responses={
            202: OpenApiResponse(AlertAcceptedSerializer, description="Accepted: the worker applies it."),
            201: OpenApiResponse(AlertResponseSerializer, description="With wait: a new incident was opened."),
            200: OpenApiResponse(AlertResponseSerializer, description="With wait: the open incident was updated."),
            422: OpenApiResponse(ErrorSerializer, description="The Idempotency-Key was used for another body."),
        },
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key")
        try:
            if not _wants_wait(request):
                result = alert_accept(actor=request.user, payload=request.data, idempotency_key=key)
            else:
                result = alert_ingest(actor=request.user, payload=request.data, idempotency_key=key)
        except IdempotencyKeyReused as error:
            raise IdempotencyKeyConflict(str(error)) from error
        response = Response(_ordered(result.body), status=result.status)
        if result.replayed:
            response[REPLAYED_HEADER] = "true"
        return response


def _wants_wait(request) -> bool:
    return request.query_params.get("wait", "").lower() in ("true", "1", "yes")


def _ordered(body: dict) -> dict:
    """An answer's keys in a fixed order, so a replay (read back from the database) is byte for
    byte the first answer."""
    return {key: body[key] for key in sorted(body)}


class AlertBatchIntakeView(APIView):
    """Take in several monitoring alerts at once, each accepted or refused on its own."""

    action_permissions = {"post": ("alerts.submit_alert",)}

    @extend_schema(
        operation_id="alerts_batch_create",
        summary="Submit several monitoring alerts at once",
        description=(
            f"Up to {INTAKE_BATCH_MAX} alerts, each as `POST /api/v1/alerts/` takes one, with its own "
            "optional `idempotency_key`. Each alert is validated and stored as a pending receipt on "
            "its own, exactly as the single intake does without `?wait`: one alert's field errors "
            "(400) or a key used for another body (422) refuse that alert only, in its `error`. The "
            "answer lists every alert's outcome in the order sent, and is 202 when every alert was "
            "accepted, 207 when some were refused. A key used before replays its first answer "
            "(`replayed: true`), so a batch sent again after a timeout stores nothing twice. A "
            "malformed batch (not a list of objects, empty, too many) is a 400 and stores nothing."
        ),
        request=AlertBatchSerializer,
        responses={
            202: OpenApiResponse(AlertBatchAnswerSerializer, description="Every alert accepted."),
            207: OpenApiResponse(AlertBatchAnswerSerializer, description="Some alerts refused: see their `error`."),
        },
    )
    def post(self, request):
        if _wants_wait(request):
            raise ValidationError(
                {"wait": [_("A batch is always applied by the worker: post an alert alone to apply it with wait.")]}
            )
        batch = AlertBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        alerts = [(item["alert"], item["idempotency_key"]) for item in batch.validated_data["alerts"]]
        results = [_batch_result(result) for result in alert_accept_batch(actor=request.user, alerts=alerts)]
        refused = sum(1 for result in results if "error" in result)
        body = {"accepted": len(results) - refused, "refused": refused, "results": results}
        return Response(body, status=status.HTTP_207_MULTI_STATUS if refused else status.HTTP_202_ACCEPTED)


def _batch_result(result: AlertAccepted | Exception) -> dict:
    if isinstance(result, AlertAccepted):
        return {"status": result.status, **_ordered(result.body), "replayed": result.replayed}
    if isinstance(result, IdempotencyKeyReused):
        result = IdempotencyKeyConflict(str(result))
    error = error_body(result)
    return {"status": error["status"], "error": error}


class AlertStatusView(APIView):
    """Where an accepted alert is: pending, applied (with its incident) or failed (with why)."""

    action_permissions = {"get": ("alerts.submit_alert",)}

    @extend_schema(
        operation_id="alerts_status",
        summary="The state of an accepted alert",
        description=(
            "The receipt's `state`: `pending` until a worker applies it, then `applied` with the "
            "incident's `reference` and `url` and the `outcome` (opened or updated), or `failed` with "
            "the field `errors` that stopped it. Senders see their own alerts; users who may read "
            "every receipt see any."
        ),
        responses={200: AlertStatusSerializer, 404: ErrorSerializer},
    )
    def get(self, request, pk: int):
        receipt = get_object_or_404(alert_status_visible_to(user=request.user), pk=pk)
        return Response(AlertStatusSerializer(alert_receipt_status(receipt=receipt)).data)


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
