"""Serializers of the partner-cost API: they read and write; the services decide."""

from __future__ import annotations

from rest_framework import serializers

from costs.models import MATCH_KEYS, CostThresholds, FeeImport, FeeImportMapping, FeeRule, FeeType, RateCard
from costs.services import THRESHOLD_FIELDS
from partners.models import Partner
from payhealth.api.serializers import ModelSerializer, Serializer


class TextField(serializers.CharField):
    """A text value of a dict (cohort keys, columns, fee codes): text as sent, never a number made text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class FeeRuleSerializer(ModelSerializer):
    class Meta:
        model = FeeRule
        fields = [
            "id",
            "fee_type",
            *MATCH_KEYS,
            "rate_bps",
            "fixed_fee",
            "minimum_fee",
            "cap_fee",
            "priority",
            "specificity",
        ]
        read_only_fields = ["id", "specificity"]


class RateCardSerializer(ModelSerializer):
    partner = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = RateCard
        fields = [
            "id",
            "partner",
            "version",
            "state",
            "effective_from",
            "effective_to",
            "currency",
            "notes",
            "created_by",
            "created_at",
            "approved_by",
            "approved_at",
        ]
        read_only_fields = fields


class RateCardDetailSerializer(RateCardSerializer):
    rules = FeeRuleSerializer(many=True, read_only=True)

    class Meta(RateCardSerializer.Meta):
        fields = [*RateCardSerializer.Meta.fields, "rules"]
        read_only_fields = fields


class RuleInputSerializer(Serializer):
    """A rule as written: its fee type, keys (empty: any) and figures."""

    fee_type = serializers.ChoiceField(choices=FeeType.choices)
    network = serializers.CharField(max_length=30, required=False, allow_blank=True)
    funding = serializers.CharField(max_length=10, required=False, allow_blank=True)
    product = serializers.CharField(max_length=40, required=False, allow_blank=True)
    region = serializers.CharField(max_length=20, required=False, allow_blank=True)
    giro = serializers.CharField(max_length=20, required=False, allow_blank=True)
    entry_mode = serializers.CharField(max_length=20, required=False, allow_blank=True)
    program_code = serializers.CharField(max_length=40, required=False, allow_blank=True)
    rate_bps = serializers.DecimalField(max_digits=10, decimal_places=4, min_value=0, required=False)
    fixed_fee = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0, required=False)
    minimum_fee = serializers.DecimalField(
        max_digits=14, decimal_places=4, min_value=0, required=False, allow_null=True
    )
    cap_fee = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0, required=False, allow_null=True)
    priority = serializers.IntegerField(required=False, min_value=-1000, max_value=1000)


class RateCardCreateSerializer(Serializer):
    partner = serializers.PrimaryKeyRelatedField(queryset=Partner.objects.all())
    effective_from = serializers.DateField()
    currency = serializers.RegexField(r"^[A-Z]{3}$", max_length=3, required=False, default="MXN")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    rules = RuleInputSerializer(many=True, required=False, default=list)


class RuleRemoveSerializer(Serializer):
    rule = serializers.IntegerField(min_value=1)


class DiffRuleSerializer(Serializer):
    fee_type = serializers.CharField()
    keys = serializers.DictField(child=serializers.CharField())
    rule = FeeRuleSerializer()


class DiffChangeSerializer(Serializer):
    fee_type = serializers.CharField()
    keys = serializers.DictField(child=serializers.CharField())
    changes = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(allow_null=True)),
        help_text="field → [old, new]",
    )


class RateCardDiffSerializer(Serializer):
    old = RateCardSerializer()
    new = RateCardSerializer()
    added = DiffRuleSerializer(many=True)
    removed = DiffRuleSerializer(many=True)
    changed = DiffChangeSerializer(many=True)


class RuleMatchQuerySerializer(Serializer):
    partner = serializers.PrimaryKeyRelatedField(queryset=Partner.objects.all())
    on = serializers.DateField()
    fee_type = serializers.ChoiceField(choices=FeeType.choices)
    cohort = serializers.DictField(child=TextField(max_length=40, allow_blank=True), required=False)

    def validate_cohort(self, value):
        unknown = set(value) - set(MATCH_KEYS)
        if unknown:
            raise serializers.ValidationError(f"Unknown keys: {', '.join(sorted(unknown))}.")
        return {key: str(value.get(key, "")).strip().lower() for key in MATCH_KEYS}


class RuleMatchSerializer(Serializer):
    rule = FeeRuleSerializer(allow_null=True)
    rate_card = RateCardSerializer(allow_null=True)
    required = serializers.DictField(child=serializers.CharField())
    left_open = serializers.ListField(child=serializers.CharField())
    reasons = serializers.ListField(child=serializers.CharField())
    explanation = serializers.CharField()


class FeeImportSerializer(ModelSerializer):
    partner = serializers.PrimaryKeyRelatedField(read_only=True)
    imported_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    months = serializers.SerializerMethodField()

    class Meta:
        model = FeeImport
        fields = [
            "id",
            "partner",
            "shape",
            "file_name",
            "sha256",
            "rows",
            "months",
            "imported_by",
            "imported_at",
            "checked_at",
        ]
        read_only_fields = fields

    def get_months(self, obj) -> list[str]:
        from costs.services import fee_import_months

        return [month.strftime("%Y-%m") for month in fee_import_months(obj)]


class FeeImportUploadSerializer(Serializer):
    partner = serializers.PrimaryKeyRelatedField(queryset=Partner.objects.all())
    shape = serializers.ChoiceField(choices=FeeImport.Shape.choices)
    file = serializers.FileField()
    dry_run = serializers.BooleanField(required=False, default=False)


class RowErrorSerializer(Serializer):
    row = serializers.IntegerField(help_text="1 is the first row under the header; 0 the file as a whole.")
    column = serializers.CharField()
    reason = serializers.CharField()


class PreviewRowSerializer(Serializer):
    row = serializers.IntegerField()
    values = serializers.DictField(
        allow_null=True, help_text="The row as the mapping reads it; null when it has errors."
    )


class FeeImportPreviewSerializer(Serializer):
    dry_run = serializers.BooleanField()
    rows_read = serializers.IntegerField()
    imported_before = serializers.BooleanField()
    preview = PreviewRowSerializer(many=True)
    errors = RowErrorSerializer(many=True)


class FeeImportMappingSerializer(Serializer):
    partner = serializers.IntegerField(read_only=True)
    shape = serializers.CharField(read_only=True)
    columns = serializers.DictField(child=TextField(max_length=120, allow_blank=True), required=False)
    fee_codes = serializers.DictField(child=TextField(max_length=20), required=False)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class CostThresholdsSerializer(ModelSerializer):
    partner = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = CostThresholds
        fields = ["partner", *THRESHOLD_FIELDS]


class FeeImportMappingModelSerializer(ModelSerializer):
    class Meta:
        model = FeeImportMapping
        fields = ["partner", "shape", "columns", "fee_codes", "updated_at"]
        read_only_fields = fields
