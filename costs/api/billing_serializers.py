"""What the billing-case API reads and writes."""

from __future__ import annotations

from rest_framework import serializers

from costs.models import BillingCase, CostFinding, CreditNote
from payhealth.api.serializers import ModelSerializer, Serializer


class BillingFindingSerializer(ModelSerializer):
    explanation = serializers.SerializerMethodField(help_text="The finding as one sentence, in the reader's language.")

    class Meta:
        model = CostFinding
        fields = ["id", "kind", "period", "fee_type", "fee_code", "cohort", "currency", "amount", "severity", "state"]
        fields += ["explanation"]
        read_only_fields = fields

    def get_explanation(self, finding) -> str:
        return finding.explanation()


class CreditNoteSerializer(ModelSerializer):
    recorded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CreditNote
        fields = ["id", "reference", "amount", "currency", "issued_on", "note", "final", "recorded_by", "recorded_at"]
        read_only_fields = fields


class CreditNoteCreateSerializer(Serializer):
    reference = serializers.CharField(
        max_length=80, help_text="The partner's credit note (or corrected invoice) number."
    )
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text="Greater than zero, in the case's currency."
    )
    issued_on = serializers.DateField()
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    final = serializers.BooleanField(
        required=False, default=False, help_text="The partner's last credit: settles the case."
    )


class BillingCaseSerializer(ModelSerializer):
    incident = serializers.SlugRelatedField(slug_field="reference", read_only=True)
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    credited = serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True)
    open_balance = serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True)
    findings = BillingFindingSerializer(many=True, read_only=True)
    credit_notes = CreditNoteSerializer(many=True, read_only=True)

    class Meta:
        model = BillingCase
        fields = [
            "id",
            "incident",
            "partner",
            "period",
            "currency",
            "amount_disputed",
            "dispute_deadline",
            "credited",
            "open_balance",
            "settled_at",
            "opened_by",
            "opened_at",
            "findings",
            "credit_notes",
        ]
        read_only_fields = fields


class BillingCaseCreateSerializer(Serializer):
    findings = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=500, help_text="The cost findings' ids."
    )
    dispute_deadline = serializers.DateField(required=False, allow_null=True, default=None)


class BillingCaseAmendSerializer(Serializer):
    amount_disputed = serializers.DecimalField(max_digits=20, decimal_places=2, required=False, min_value=0)
    dispute_deadline = serializers.DateField(required=False)


class RecoveryQuerySerializer(Serializer):
    start = serializers.RegexField(r"^\d{4}-\d{2}$", required=False, help_text="First month billed, YYYY-MM.")
    end = serializers.RegexField(r"^\d{4}-\d{2}$", required=False, help_text="Last month billed, YYYY-MM.")
    partner = serializers.CharField(required=False, help_text="A partner's code.")


class RecoveryRowSerializer(Serializer):
    partner_id = serializers.IntegerField()
    partner = serializers.CharField()
    period = serializers.DateField()
    currency = serializers.CharField()
    cases = serializers.IntegerField()
    findings = serializers.IntegerField()
    overbilled = serializers.DecimalField(max_digits=20, decimal_places=2)
    disputed = serializers.DecimalField(max_digits=20, decimal_places=2)
    recovered = serializers.DecimalField(max_digits=20, decimal_places=2)
    open_balance = serializers.DecimalField(max_digits=20, decimal_places=2)


class RecoveryReportSerializer(Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    rows = RecoveryRowSerializer(many=True)
