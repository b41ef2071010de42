"""Reads of payment data. Every desk role sees every segment (`monitoring.view_segment`):
payment data is the desk's shared picture, not anyone's own."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import QuerySet

from monitoring.models import AuthBucket, MetricsPull, Segment

RATE_PLACES = Decimal("0.0001")


def segments_visible_to(*, user) -> QuerySet[Segment]:
    if not user.has_perm("monitoring.view_segment"):
        return Segment.objects.none()
    return Segment.objects.select_related("merchant", "issuer", "route")


def metrics_pulls_visible_to(*, user) -> QuerySet[MetricsPull]:
    if not user.has_perm("monitoring.view_metricspull"):
        return MetricsPull.objects.none()
    return MetricsPull.objects.order_by("source")


def segment_series(*, segment: Segment, start: datetime, end: datetime) -> QuerySet[AuthBucket]:
    """The segment's buckets with start ≤ bucket_start < end, oldest first (partitions outside the
    range are pruned by PostgreSQL)."""
    return AuthBucket.objects.filter(segment=segment, bucket_start__gte=start, bucket_start__lt=end).order_by(
        "bucket_start"
    )


def segment_latest_buckets(*, segment: Segment, limit: int) -> list[AuthBucket]:
    return list(AuthBucket.objects.filter(segment=segment).order_by("-bucket_start")[:limit])


def approval_rate(*, approvals: int, attempts: int) -> Decimal | None:
    """Approvals ÷ attempts as an exact fraction rounded half-even to 4 places (0.9012 = 90.12 %);
    None without attempts."""
    if not attempts:
        return None
    return (Decimal(approvals) / Decimal(attempts)).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)
