"""What the detector's API reads and answers: findings and their triage, segment states,
suppressions and the detector's settings."""

from __future__ import annotations

from django.utils import translation
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import Incident
from cases.models.incident import CardNetwork
from monitoring.attribution import attribution_sentence
from monitoring.detection.config import TUNABLES
from monitoring.models import (
    AttributionKind,
    EntryMode,
    Finding,
    Funding,
    MonitorSettings,
    Segment,
    SegmentMonitor,
    Suppression,
)
from monitoring.triage import NOTE_MAX, REASON_MAX, SETTING_BOUNDS
from payhealth.api.fields import ByIdOrKeyField, DateTimeField
from payhealth.api.serializers import ModelSerializer, Serializer

RATE = {"max_digits": 7, "decimal_places": 6, "coerce_to_string": True}


def reader_language() -> str:
    return (translation.get_language() or "en")[:2]


class SegmentBriefSerializer(ModelSerializer):
    merchant = serializers.CharField(source="merchant.account_id", read_only=True)
    merchant_name = serializers.CharField(source="merchant.name", read_only=True)
    issuer = serializers.CharField(source="issuer.code", read_only=True, allow_null=True, default=None)
    route = serializers.CharField(source="route.code", read_only=True, allow_null=True, default=None)
    label = serializers.CharField(source="__str__", read_only=True, help_text="The segment as people read it.")
    network = serializers.ChoiceField(choices=CardNetwork.choices, allow_blank=True, read_only=True)
    funding = serializers.ChoiceField(choices=Funding.choices, allow_blank=True, read_only=True)
    entry_mode = serializers.ChoiceField(choices=EntryMode.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "merchant",
            "merchant_name",
            "network",
            "bin_prefix",
            "issuer",
            "route",
            "country",
            "funding",
            "entry_mode",
            "label",
        ]
        read_only_fields = fields


class AttributionCodeSerializer(Serializer):
    code = serializers.CharField()
    explained = serializers.FloatField()


class AttributionRowSerializer(Serializer):
    dimension = serializers.CharField()
    key = serializers.CharField()
    label = serializers.CharField()
    explained = serializers.FloatField(help_text="Share of the finding's excess declines the slice explains (0–1).")
    surprise = serializers.FloatField()
    excess_declines = serializers.IntegerField()
    partner_id = serializers.IntegerField(allow_null=True, required=False)
    bin_prefix = serializers.CharField(required=False, allow_blank=True)
    codes = AttributionCodeSerializer(many=True, required=False)


class FindingSerializer(ModelSerializer):
    segment = SegmentBriefSerializer(read_only=True)
    baseline_rate = serializers.DecimalField(**RATE, read_only=True, help_text="A share: 0.930000 = 93 %.")
    observed_rate = serializers.DecimalField(**RATE, read_only=True)
    drop_pp = serializers.DecimalField(
        max_digits=9, decimal_places=4, coerce_to_string=True, read_only=True, help_text="Percentage points."
    )
    attribution = serializers.SerializerMethodField()
    attribution_sentence = serializers.SerializerMethodField(
        help_text="What explains the finding, one sentence in the caller's language."
    )
    attribution_kind = serializers.ChoiceField(
        choices=AttributionKind.choices, allow_blank=True, read_only=True, help_text="Empty until attributed."
    )
    incident = serializers.CharField(source="incident.reference", read_only=True, allow_null=True, default=None)
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Finding
        fields = [
            "id",
            "kind",
            "decline_code",
            "test",
            "state",
            "segment",
            "window_start",
            "window_end",
            "started_at",
            "baseline_rate",
            "observed_rate",
            "drop_pp",
            "attempts",
            "approvals",
            "excess_declines",
            "p_value",
            "q_value",
            "rejecting_in_a_row",
            "attribution_kind",
            "attribution",
            "attribution_sentence",
            "incident",
            "alerted_at",
            "recovered_at",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AttributionRowSerializer(many=True))
    def get_attribution(self, finding: Finding) -> list:
        return finding.attribution if isinstance(finding.attribution, list) else []

    def get_attribution_sentence(self, finding: Finding) -> str:
        return attribution_sentence(finding, language=reader_language())


class SuppressInputSerializer(Serializer):
    until = DateTimeField(
        help_text="The end of the window (the start is the finding's window start), at most 30 days away."
    )
    reason = serializers.CharField(max_length=REASON_MAX)


class FalsePositiveInputSerializer(Serializer):
    note = serializers.CharField(max_length=NOTE_MAX, help_text="Why this is not a real problem.")


class IncidentByReferenceField(ByIdOrKeyField):
    model = Incident
    key = "reference"


class AttachInputSerializer(Serializer):
    incident = IncidentByReferenceField(help_text="The open incident's reference (PH-2026-000123) or id.")


class SegmentMonitorSerializer(ModelSerializer):
    segment = SegmentBriefSerializer(read_only=True)
    baseline_rate = serializers.DecimalField(**RATE, read_only=True, allow_null=True)
    observed_rate = serializers.DecimalField(**RATE, read_only=True, allow_null=True)

    class Meta:
        model = SegmentMonitor
        fields = [
            "segment",
            "state",
            "baseline_rate",
            "observed_rate",
            "rejecting_in_a_row",
            "healthy_in_a_row",
            "last_bucket_start",
            "dispersion",
            "updated_at",
        ]
        read_only_fields = fields


class SegmentField(ByIdOrKeyField):
    model = Segment
    key = "dimensions_hash"


class SuppressionSerializer(ModelSerializer):
    segment = SegmentBriefSerializer(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Suppression
        fields = ["id", "segment", "start", "end", "reason", "finding", "created_by", "created_at"]
        read_only_fields = fields


class SuppressionInputSerializer(Serializer):
    segment = SegmentField(help_text="The segment's id or dimensions hash (a merchant-level one covers its slices).")
    start = DateTimeField()
    end = DateTimeField(help_text="After the start and in the future, at most 30 days from now.")
    reason = serializers.CharField(max_length=REASON_MAX)


def _tunable_field(name: str, **kwargs) -> serializers.Field:
    model_field = MonitorSettings._meta.get_field(name)
    text = str(model_field.verbose_name)
    if name == "enabled":
        return serializers.BooleanField(allow_null=True, help_text=text, **kwargs)
    low, high, low_allowed = SETTING_BOUNDS[name]
    if model_field.get_internal_type() == "DecimalField":
        extra = {} if low_allowed else {"help_text": f"{text}; above {low}."}
        return serializers.DecimalField(
            max_digits=model_field.max_digits,
            decimal_places=model_field.decimal_places,
            min_value=low,
            max_value=high,
            allow_null=True,
            coerce_to_string=True,
            **({"help_text": text} | extra),
            **kwargs,
        )
    return serializers.IntegerField(min_value=int(low), max_value=int(high), allow_null=True, help_text=text, **kwargs)


class TunablesSerializer(Serializer):
    """Every detector setting; null = inherit (a merchant from the global row, the global row from
    the built-in default)."""

    def get_fields(self):
        return {name: _tunable_field(name, required=False) for name in TUNABLES}


class EffectiveSerializer(Serializer):
    """The values in force, every one set."""

    def get_fields(self):
        fields = {}
        for name in TUNABLES:
            field = _tunable_field(name)
            field.allow_null = False
            fields[name] = field
        return fields


class MerchantSettingsSerializer(Serializer):
    merchant = serializers.CharField(help_text="The merchant's account id.")
    merchant_name = serializers.CharField()
    overrides = TunablesSerializer(help_text="The merchant's own values; null inherits the global one.")
    effective = EffectiveSerializer()
    updated_by = serializers.CharField(allow_null=True)
    updated_at = DateTimeField(allow_null=True)


class GlobalSettingsSerializer(Serializer):
    defaults = EffectiveSerializer(help_text="The built-in defaults.")
    values = TunablesSerializer(help_text="The global row; null keeps the built-in default.")
    effective = EffectiveSerializer()
    updated_by = serializers.CharField(allow_null=True)
    updated_at = DateTimeField(allow_null=True)


class SettingsOverviewSerializer(Serializer):
    """`global`: the global row; `merchants`: every merchant with overrides."""

    def get_fields(self):
        return {"global": GlobalSettingsSerializer(), "merchants": MerchantSettingsSerializer(many=True)}


def tunables_of(row: MonitorSettings | None) -> dict:
    return {name: (getattr(row, name) if row is not None else None) for name in TUNABLES}
