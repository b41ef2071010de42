from rest_framework import serializers

from alerts.models import AlertReceipt, AlertSeverityRule
from alerts.services import RULE_FIELDS
from cases.models.incident import Severity
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
