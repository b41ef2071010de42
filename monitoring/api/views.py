"""Payment data over the API: posting buckets, listing segments, reading a segment's series, the
state of the warehouse pulls.

A monitoring system posts buckets with the personal API token of a user holding
`monitoring.submit_metrics` (every desk role): create a dedicated user with the analyst role and
create its token on the API tokens page. Every desk role reads segments and series.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models.incident import CardNetwork
from monitoring.api.parsers import BucketsJSONParser, NDJSONParser
from monitoring.api.serializers import (
    BucketBatchResultSerializer,
    BucketBatchSerializer,
    MetricsPullSerializer,
    SegmentSerializer,
    SeriesQuerySerializer,
    SeriesSerializer,
    bucket_minutes,
)
from monitoring.models import EntryMode, Funding, MetricsPull, Segment
from monitoring.selectors import approval_rate, metrics_pulls_visible_to, segment_series, segments_visible_to
from monitoring.services import (
    IDEMPOTENCY_KEY_MAX,
    IdempotencyKeyReused,
    batch_check_size,
    buckets_submit,
)
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.filters import ListFiltersOnly
from payhealth.api.pagination import Cursor
from payhealth.forms import FilterSet

REPLAYED_HEADER = "Idempotent-Replayed"
MAX_SERIES_SPAN = timedelta(days=31)


class IdempotencyKeyConflict(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = gettext_lazy("This Idempotency-Key was already used with a different request body.")
    default_code = "idempotency_key_reused"


def _rows_of(data) -> list:
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and set(data) == {"rows"} and isinstance(data["rows"], list):
        return data["rows"]
    raise ValidationError({"rows": _('Send a list of rows, or an object {"rows": [...]}.')})


class MetricsBucketsView(APIView):
    """Insert or correct authorization buckets: all rows or none."""

    action_permissions = {"post": ("monitoring.submit_metrics",)}
    parser_classes = [BucketsJSONParser, NDJSONParser]

    @extend_schema(
        operation_id="metrics_buckets_create",
        summary="Submit authorization buckets (JSON or NDJSON)",
        description=(
            "Up to PAYHEALTH_METRICS_MAX_ROWS rows (5,000 by default) as JSON — a list of rows or "
            '`{"rows": [...]}` — or as NDJSON (`Content-Type: application/x-ndjson`, one row object per '
            "line). Keyed on (segment, bucket_start): a row sent again unchanged changes nothing, a "
            "corrected row replaces the stored one. Rows up to PAYHEALTH_METRICS_LATE_DAYS (7) days late "
            "are accepted; older ones, and buckets more than one bucket ahead, are refused. Every row is "
            "checked first: any bad row refuses the whole batch with 400, and `fields` names each error "
            "as `rows.<index>.<field>`, the index counted from 0 (the first element of the list, the first "
            "non-empty line of NDJSON). A card number anywhere refuses the batch. With an `Idempotency-Key`, repeating "
            f"the request returns the first answer with the header `{REPLAYED_HEADER}: true`; the same key "
            "with other rows is refused with 422. Keys are kept PAYHEALTH_METRICS_IDEMPOTENCY_HOURS (24)."
        ),
        request={"application/json": BucketBatchSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                required=False,
                description="A key unique per batch (e.g. a UUID), at most 255 characters, kept per user.",
            )
        ],
        responses={
            200: OpenApiResponse(BucketBatchResultSerializer, description="The batch was stored."),
            413: OpenApiResponse(ErrorSerializer, description="The body is larger than the batch limit allows."),
            415: OpenApiResponse(ErrorSerializer, description="Neither JSON nor NDJSON."),
            422: OpenApiResponse(ErrorSerializer, description="The Idempotency-Key was used for another batch."),
        },
    )
    def post(self, request):
        rows = _rows_of(request.data)
        batch_check_size(len(rows))
        key = (request.headers.get("Idempotency-Key") or "").strip()
        try:
            answer = buckets_submit(rows, actor=request.user, key=key)
        except IdempotencyKeyReused as error:
            raise IdempotencyKeyConflict(str(error)) from error
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response[REPLAYED_HEADER] = "true"
        return response


class SegmentFilterSet(FilterSet):
    merchant = django_filters.CharFilter(field_name="merchant__account_id", help_text="A merchant's account id.")
    network = django_filters.ChoiceFilter(choices=CardNetwork.choices)
    bin_prefix = django_filters.CharFilter()
    issuer = django_filters.CharFilter(field_name="issuer__code", help_text="The issuer's partner code.")
    route = django_filters.CharFilter(field_name="route__code", help_text="The acquirer's or switch's code.")
    country = django_filters.CharFilter()
    funding = django_filters.ChoiceFilter(choices=Funding.choices)
    entry_mode = django_filters.ChoiceFilter(choices=EntryMode.choices)
    merchant_level = django_filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", help_text="true: merchant-level segments only."
    )

    class Meta:
        model = Segment
        fields = ["merchant", "network", "bin_prefix", "issuer", "route", "country", "funding", "entry_mode"]


class SegmentCursor(Cursor):
    ordering = "id"


@extend_schema_view(
    list=extend_schema(summary="Segments: the dimensions of each series of buckets"),
    retrieve=extend_schema(summary="One segment"),
)
class SegmentViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SegmentSerializer
    queryset = Segment.objects.none()
    pagination_class = SegmentCursor
    filterset_class = SegmentFilterSet
    action_permissions = {
        "list": ("monitoring.view_segment",),
        "retrieve": ("monitoring.view_segment",),
        "series": ("monitoring.view_segment", "monitoring.view_authbucket"),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Segment.objects.none()
        return segments_visible_to(user=self.request.user)

    @extend_schema(
        summary="The segment's buckets between start and end, with their approval rates",
        description=(
            "Buckets with start ≤ bucket_start < end, oldest first; at most 31 days at a time. "
            "`approval_rate` is approvals ÷ attempts as a decimal string with 4 places."
        ),
        parameters=[SeriesQuerySerializer],
        responses=SeriesSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def series(self, request, pk=None):
        segment = self.get_object()
        query = SeriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        end = query.validated_data.get("end") or timezone.now()
        start = query.validated_data.get("start") or end - timedelta(hours=24)
        if start >= end:
            raise ValidationError({"start": _("The start is before the end.")})
        if end - start > MAX_SERIES_SPAN:
            raise ValidationError({"end": _("Ask for at most 31 days at a time.")})
        buckets = [
            {
                "bucket_start": b.bucket_start,
                "attempts": b.attempts,
                "approvals": b.approvals,
                "soft_declines": b.soft_declines,
                "hard_declines": b.hard_declines,
                "errors": b.errors,
                "approval_rate": approval_rate(approvals=b.approvals, attempts=b.attempts),
                "amount_attempted": b.amount_attempted,
                "amount_approved": b.amount_approved,
                "currency": b.currency,
                "decline_codes": b.decline_codes,
                "updated_at": b.updated_at,
            }
            for b in segment_series(segment=segment, start=start, end=end)
        ]
        data = {"segment": segment.pk, "bucket_minutes": bucket_minutes(), "start": start, "end": end}
        return Response(SeriesSerializer({**data, "buckets": buckets}).data)


@extend_schema_view(
    list=extend_schema(
        summary="The warehouse pulls: each source's watermark and its last run",
        description=(
            "Read-only. `window_end` is the end of the last window pulled successfully; the next run "
            "reads from it minus PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES. `last_error` (empty after a "
            "success) names the bad row by its number, never its values."
        ),
    )
)
class MetricsPullViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = MetricsPullSerializer
    queryset = MetricsPull.objects.none()
    pagination_class = None
    action_permissions = {"list": ("monitoring.view_metricspull",)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MetricsPull.objects.none()
        return metrics_pulls_visible_to(user=self.request.user)
