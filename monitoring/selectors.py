"""Reads of payment data. Every desk role sees every segment (`monitoring.view_segment`):
payment data is the desk's shared picture, not anyone's own."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from django.db.models import Count, QuerySet

from cases.models import Incident
from cases.models.incident import OPEN_STATUSES
from monitoring.models import (
    AuthBucket,
    DetectorRun,
    Finding,
    FindingState,
    MetricsPull,
    MonitorSettings,
    Segment,
    SegmentMonitor,
    SegmentState,
    Suppression,
)

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


# --- the detector: findings, segment states, suppressions, settings, runs -------------------------

FINDING_TABS = {
    "watch": (FindingState.WATCH,),
    "alert": (FindingState.ALERTED,),
    "recent": (FindingState.RECOVERED, FindingState.SUPPRESSED, FindingState.FALSE_POSITIVE),
}


def findings_visible_to(*, user) -> QuerySet[Finding]:
    if not user.has_perm("monitoring.view_finding"):
        return Finding.objects.none()
    return Finding.objects.select_related(
        "segment__merchant", "segment__issuer", "segment__route", "incident", "decided_by"
    ).order_by("-created_at", "-id")


def findings_filtered(
    findings: QuerySet[Finding], *, states=(), kind: str = "", merchant: str = ""
) -> QuerySet[Finding]:
    """`merchant` is a merchant's account id."""
    if states:
        findings = findings.filter(state__in=states)
    if kind:
        findings = findings.filter(kind=kind)
    if merchant:
        findings = findings.filter(segment__merchant__account_id=merchant)
    return findings


def finding_tab_counts(*, user) -> dict[str, int]:
    """Findings per queue tab, one query."""
    counts = dict(
        findings_visible_to(user=user).order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n")
    )
    return {tab: sum(counts.get(state, 0) for state in states) for tab, states in FINDING_TABS.items()}


def segment_monitors_visible_to(*, user) -> QuerySet[SegmentMonitor]:
    if not user.has_perm("monitoring.view_segmentmonitor"):
        return SegmentMonitor.objects.none()
    return SegmentMonitor.objects.select_related("segment__merchant", "segment__issuer", "segment__route").order_by(
        "segment_id"
    )


def segment_state_counts(monitors: QuerySet[SegmentMonitor]) -> dict[str, int]:
    """Segments per state (every state named, zero included), one query."""
    counts = dict(monitors.order_by().values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    return {state: counts.get(state, 0) for state in SegmentState.values}


def suppressions_visible_to(*, user) -> QuerySet[Suppression]:
    if not user.has_perm("monitoring.view_suppression"):
        return Suppression.objects.none()
    return Suppression.objects.select_related(
        "segment__merchant", "segment__issuer", "segment__route", "created_by", "finding"
    ).order_by("-start", "-id")


def monitor_settings_visible_to(*, user) -> QuerySet[MonitorSettings]:
    if not user.has_perm("monitoring.view_monitorsettings"):
        return MonitorSettings.objects.none()
    return MonitorSettings.objects.select_related("merchant", "updated_by")


def last_detector_run(*, user) -> DetectorRun | None:
    if not user.has_perm("monitoring.view_detectorrun"):
        return None
    return DetectorRun.objects.order_by("-started_at", "-id").first()


def incidents_attachable(*, user) -> QuerySet[Incident]:
    """Open incidents a finding may be attached to, newest first."""
    if not user.has_perm("cases.view_incident"):
        return Incident.objects.none()
    return Incident.objects.filter(status__in=OPEN_STATUSES).order_by("-created_at", "-id")
