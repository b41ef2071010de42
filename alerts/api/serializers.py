from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.payload import AlertPayloadSerializer
from alerts.services import IDEMPOTENCY_KEY_MAX, INTAKE_BATCH_MAX, RULE_FIELDS
from cases.models.incident import Severity
from payhealth.api.exceptions import ErrorBodySerializer
from payhealth.api.serializers import ModelSerializer, Serializer


class AlertResponseSerializer(Serializer):
    """The answer to an alert (also what a replayed Idempotency-Key returns)."""

    reference = serializers.CharField(help_text="The incident's reference, e.g. PH-2026-000123.")
    url = serializers.CharField(help_text="Path of the incident's page.")
    outcome = serializers.ChoiceField(choices=AlertReceipt.Outcome.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    fingerprint = serializers.CharField()


class AlertAcceptedSerializer(Serializer):
    """The answer to an alert accepted for the worker (also what a replayed Idempotency-Key returns)."""

    id = serializers.IntegerField(help_text="The receipt's id.")
    status_url = serializers.CharField(help_text="Path to GET for the alert's state and, once applied, its incident.")
    fingerprint = serializers.CharField(help_text="The segment's de-duplication key.")


@extend_schema_field(AlertPayloadSerializer)
class AlertField(serializers.DictField):
    """One alert of a batch: any JSON object here; the service validates each alert on its own,
    so that one alert's field errors refuse that alert only."""


class AlertBatchItemSerializer(Serializer):
    refuses_card_numbers = False  # the service masks them in the alert and refuses one in the key, per alert

    idempotency_key = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,  # as the header: the service strips and checks it
        help_text=f"A key unique per alert (e.g. a UUID), at most {IDEMPOTENCY_KEY_MAX} characters, kept per user.",
    )
    alert = AlertField(help_text="The alert, exactly as `POST /api/v1/alerts/` takes it.")


class AlertBatchSerializer(Serializer):
    """Several alerts in one request (a monitor grouping what it found in one evaluation)."""

    refuses_card_numbers = False  # see AlertBatchItemSerializer

    alerts = serializers.ListField(child=AlertBatchItemSerializer(), min_length=1, max_length=INTAKE_BATCH_MAX)


class AlertBatchResultSerializer(Serializer):
    """One alert's own answer, in the order sent."""

    status = serializers.IntegerField(
        help_text="202: accepted (or the status its Idempotency-Key was first answered with); "
        "400: its fields refused; 422: its Idempotency-Key was used for another body."
    )
    id = serializers.IntegerField(required=False, help_text="The receipt's id (accepted alerts).")
    status_url = serializers.CharField(required=False, help_text="Path to GET for the alert's state.")
    fingerprint = serializers.CharField(required=False, help_text="The segment's de-duplication key.")
    replayed = serializers.BooleanField(required=False, help_text="true: its key was used before; the first answer.")
    error = ErrorBodySerializer(required=False, help_text="Why it was refused, in the API's error format.")


class AlertBatchAnswerSerializer(Serializer):
    accepted = serializers.IntegerField(help_text="Alerts accepted (new or replayed).")
    refused = serializers.IntegerField(help_text="Alerts refused; each has its `error`.")
    results = AlertBatchResultSerializer(many=True)


class AlertStatusSerializer(Serializer):
    """Where an accepted alert is."""

    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AlertReceipt.State.choices)
    received_at = serializers.DateTimeField()
    applied_at = serializers.DateTimeField(allow_null=True, help_text="When it was applied or failed.")
    fingerprint = serializers.CharField()
    outcome = serializers.ChoiceField(choices=AlertReceipt.Outcome.choices, allow_null=True)
    reference = serializers.CharField(allow_null=True, help_text="The incident's reference, once applied.")
    url = serializers.CharField(allow_null=True, help_text="Path of the incident's page, once applied.")
    severity = serializers.ChoiceField(choices=Severity.choices, allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        allow_null=True,
        help_text="Failed: the messages per field (dotted paths, as a 400 names them).",
    )


class AlertReceiptSerializer(ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    incident = serializers.CharField(source="incident.reference", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AlertReceipt
        fields = [
            "id",
            "created_at",
            "user",
            "idempotency_key",
            "source",
            "incident",
            "outcome",
            "fingerprint",
            "state",
            "applied_at",
            "error",
            "body_sha256",
            "response_status",
            "response_body",
        ]
        read_only_fields = fields


class AlertSeverityRuleSerializer(ModelSerializer):
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = AlertSeverityRule
        fields = ["id", *RULE_FIELDS, "updated_at", "updated_by"]
        read_only_fields = ["id", "updated_at", "updated_by"]
