"""Findings, segments and monitor states for the triage, page and API tests (written directly:
the detector that writes them for real is tested on its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from monitoring.models import Finding, FindingKind, FindingState, Segment, SegmentMonitor, dimensions_hash
from tests.factories import MerchantFactory


def merchant_segment(merchant) -> Segment:
    segment, _ = Segment.objects.get_or_create(
        dimensions_hash=dimensions_hash(merchant_id=merchant.pk), defaults={"merchant": merchant}
    )
    return segment


def slice_segment(merchant, *, network: str = "visa", bin_prefix: str = "415231") -> Segment:
    parent = merchant_segment(merchant)
    key = dimensions_hash(merchant_id=merchant.pk, network=network, bin_prefix=bin_prefix)
    segment, _ = Segment.objects.get_or_create(
        dimensions_hash=key,
        defaults={"merchant": merchant, "network": network, "bin_prefix": bin_prefix, "parent": parent},
    )
    return segment


def make_finding(segment: Segment | None = None, **changes) -> Finding:
    if segment is None:
        segment = slice_segment(MerchantFactory())
    window_start = changes.pop("window_start", datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1))
    values = {
        "kind": FindingKind.APPROVAL_DROP,
        "state": FindingState.ALERTED,
        "window_start": window_start,
        "window_end": window_start + timedelta(minutes=45),
        "started_at": window_start,
        "baseline_rate": Decimal("0.930000"),
        "observed_rate": Decimal("0.710000"),
        "attempts": 1200,
        "approvals": 852,
        "excess_declines": 264,
        "p_value": 1e-9,
        "q_value": 4e-8,
        "attribution": [
            {
                "dimension": "issuer",
                "key": "7",
                "label": "BBVA México",
                "bin_prefix": "",
                "partner_id": None,
                "explained": 0.83,
                "surprise": 0.41,
                "excess_declines": 219,
                "codes": [{"code": "91", "explained": 0.9}],
            }
        ],
    }
    values.update(changes)
    return Finding.objects.create(segment=segment, **values)


def make_monitor(segment: Segment, state: str = "ok") -> SegmentMonitor:
    return SegmentMonitor.objects.update_or_create(
        segment=segment,
        defaults={"state": state, "baseline_rate": Decimal("0.93"), "observed_rate": Decimal("0.91")},
    )[0]


def wire_row(row) -> dict:
    """A generated row as a monitoring system posts it (JSON values)."""
    return {
        "merchant": row.merchant,
        "network": row.network,
        "bin_prefix": row.bin_prefix,
        "issuer": row.issuer,
        "route": row.route,
        "country": row.country,
        "funding": row.funding,
        "entry_mode": row.entry_mode,
        "bucket_start": row.bucket_start.isoformat(),
        "attempts": row.attempts,
        "approvals": row.approvals,
        "soft_declines": row.soft_declines,
        "hard_declines": row.hard_declines,
        "errors": row.errors,
        "amount_attempted": str(row.amount_attempted),
        "amount_approved": str(row.amount_approved),
        "currency": row.currency,
        "decline_codes": row.decline_codes,
    }
