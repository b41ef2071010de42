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
