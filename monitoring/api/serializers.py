"""What the payment data API reads and answers, as the OpenAPI schema describes it.

The rows of a batch are read by `monitoring.rows` (fast enough for thousands of rows, and shared
with file imports); `BucketRowSerializer` documents the same fields for the schema.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models.incident import CardNetwork
from monitoring.models import EntryMode, Funding, MetricsPull, Segment
from payhealth.api.fields import DateTimeField
from payhealth.api.serializers import ModelSerializer, Serializer

COUNT = {"min_value": 0, "max_value": 2**31 - 1}


@extend_schema_field({"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}})
class DeclineCodesField(serializers.DictField):
    """{"05": 12, "91": 3}: declines by response code (codes of 1 to 8 letters or digits)."""


class BucketRowSerializer(Serializer):
    """One bucket of one segment: the segment's dimensions, then its counts and amounts."""

    merchant = serializers.CharField(help_text="The merchant's account id, e.g. acct_1Nv0FGQ9RKHgCVdK.")
    network = serializers.ChoiceField(choices=CardNetwork.choices, required=False, allow_blank=True)
    bin_prefix = serializers.RegexField(r"^\d{6,8}$", required=False, allow_blank=True, help_text="6 to 8 digits.")
    issuer = serializers.CharField(required=False, allow_blank=True, help_text="The issuing bank's partner code.")
    route = serializers.CharField(
        required=False, allow_blank=True, help_text="The acquirer's or switch's partner code."
    )
    country = serializers.RegexField(r"^[A-Z]{2}$", required=False, allow_blank=True, help_text="ISO 3166 alpha-2.")
    funding = serializers.ChoiceField(choices=Funding.choices, required=False, allow_blank=True)
    entry_mode = serializers.ChoiceField(choices=EntryMode.choices, required=False, allow_blank=True)
    bucket_start = DateTimeField(
        help_text="Start of the bucket with its offset, aligned to PAYHEALTH_METRICS_BUCKET_MINUTES in UTC."
    )
    attempts = serializers.IntegerField(**COUNT)
    approvals = serializers.IntegerField(**COUNT)
    soft_declines = serializers.IntegerField(**COUNT)
    hard_declines = serializers.IntegerField(**COUNT)
    errors = serializers.IntegerField(**COUNT, help_text="Attempts that got no answer (timeouts, system errors).")
    amount_attempted = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, coerce_to_string=True)
    amount_approved = serializers.DecimalField(max_digits=18, decimal_places=2, min_value=0, coerce_to_string=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", help_text="ISO 4217, e.g. MXN.")
    decline_codes = DeclineCodesField(child=serializers.IntegerField(min_value=0), required=False)


class BucketBatchSerializer(Serializer):
    rows = BucketRowSerializer(
        many=True,
        help_text="At most PAYHEALTH_METRICS_MAX_ROWS rows (5,000 by default). A bare list of rows is read the same.",
    )


class BucketBatchResultSerializer(Serializer):
    """What the batch did: every row is inserted, updated (its values changed) or unchanged."""

    rows = serializers.IntegerField()
    inserted = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    segments_created = serializers.IntegerField()


class SegmentSerializer(ModelSerializer):
    merchant = serializers.CharField(source="merchant.account_id", read_only=True)
    issuer = serializers.CharField(source="issuer.code", read_only=True, allow_null=True, default=None)
    route = serializers.CharField(source="route.code", read_only=True, allow_null=True, default=None)
    # An absent dimension reads "" (the schema says so: the choices or blank).
    network = serializers.ChoiceField(choices=CardNetwork.choices, allow_blank=True, read_only=True)
    funding = serializers.ChoiceField(choices=Funding.choices, allow_blank=True, read_only=True)
    entry_mode = serializers.ChoiceField(choices=EntryMode.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "merchant",
            "network",
            "bin_prefix",
            "issuer",
            "route",
            "country",
            "funding",
            "entry_mode",
            "parent",
            "dimensions_hash",
            "created_at",
        ]
        read_only_fields = fields


class MetricsPullSerializer(ModelSerializer):
    class Meta:
        model = MetricsPull
        fields = [
            "source",
            "window_end",
            "last_window_start",
            "last_window_end",
            "last_run_at",
            "last_success_at",
            "last_error",
            "last_error_row",
            "rows_read",
            "rows_inserted",
            "rows_updated",
            "rows_unchanged",
            "failures",
        ]
        read_only_fields = fields


class SeriesQuerySerializer(Serializer):
    start = DateTimeField(help_text="ISO 8601 with an offset; default: 24 hours before `end`.", required=False)
    end = DateTimeField(help_text="ISO 8601 with an offset (exclusive); default: now.", required=False)


class SeriesBucketSerializer(Serializer):
    bucket_start = DateTimeField()
    attempts = serializers.IntegerField()
    approvals = serializers.IntegerField()
    soft_declines = serializers.IntegerField()
    hard_declines = serializers.IntegerField()
    errors = serializers.IntegerField()
    approval_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        allow_null=True,
        coerce_to_string=True,
        help_text="Approvals ÷ attempts, 4 places (0.9012 = 90.12 %); null without attempts.",
    )
    amount_attempted = serializers.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)
    amount_approved = serializers.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    decline_codes = DeclineCodesField(child=serializers.IntegerField(min_value=0))
    updated_at = DateTimeField()


class SeriesSerializer(Serializer):
    segment = serializers.IntegerField()
    bucket_minutes = serializers.IntegerField()
    start = DateTimeField()
    end = DateTimeField()
    buckets = SeriesBucketSerializer(many=True)


def bucket_minutes() -> int:
    return settings.PAYHEALTH_METRICS_BUCKET_MINUTES
