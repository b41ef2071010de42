"""What each chart panel shows, assembled from `series` and drawn with `svg`: the incident
panel, the merchant's 30 days and the segment page. Each function reads a bounded number of
queries, whatever the data size (the tests count them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Merchant
from cases.pir.extensions import ReportChart
from monitoring.charts.series import (
    DIMENSION_COLUMNS,
    Bin,
    binned_series,
    children_breakdown,
    decline_mix,
    series_with_band,
)
from monitoring.charts.svg import Marker, Point, Stack, rate_chart_svg, sparkline_svg, stacked_bars_svg
from monitoring.detection.config import detector_config
from monitoring.models import EntryMode, Finding, Funding, Segment
from partners.models import Partner

PADDING = timedelta(hours=3)  # shown either side of an impact window
MAX_CHART_SPAN = timedelta(days=4)
MAX_INCIDENT_MERCHANTS = 4
MERCHANT_DAYS = 30
MAX_MARKERS = 200
TOP_CODES = 6
SEGMENT_WINDOWS = {
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "72h": timedelta(hours=72),
    "7d": timedelta(days=7),
}
DEFAULT_WINDOW = "24h"


def dimension_choices() -> list[tuple[str, str]]:
    return [
        ("issuer", _("Issuer")),
        ("route", _("Route")),
        ("bin_prefix", _("BIN prefix")),
        ("network", _("Network")),
        ("funding", _("Funding")),
        ("entry_mode", _("Entry mode")),
    ]


def chart_step(span: timedelta) -> timedelta:
    """Bucket-sized points up to two days, hourly beyond."""
    bucket = timedelta(minutes=settings.PAYHEALTH_METRICS_BUCKET_MINUTES)
    return bucket if span <= timedelta(days=2) else max(bucket, timedelta(hours=1))


def _code_stacks(mixes) -> tuple[list[Stack], list[dict]]:
    """The two bars (baseline, during) over the top codes of both, the rest as "other", and
    declines without a code as "no code"; plus the table rows."""
    totals: dict[str, int] = {}
    for mix in mixes.values():
        for code, count in mix.codes.items():
            totals[code] = totals.get(code, 0) + count
    top = [code for code, _count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:TOP_CODES]]
    stacks, rows = [], []
    for name, label in (("baseline", _("Baseline")), ("during", _("During"))):
        mix = mixes[name]
        declines = max(mix.declines, sum(mix.codes.values()))
        parts = []
        for code in top:
            parts.append((code, mix.codes.get(code, 0) / declines if declines else 0.0))
        other = sum(count for code, count in mix.codes.items() if code not in top)
        parts.append((_("other"), other / declines if declines else 0.0))
        parts.append((_("no code"), (declines - sum(mix.codes.values())) / declines if declines else 0.0))
        stacks.append(Stack(label=label, parts=parts))
        rows.append({"label": label, "declines": declines, "parts": parts})
    return stacks, rows


@dataclass
class MerchantChart:
    merchant: Merchant
    segment: Segment
    start: datetime
    end: datetime
    window: tuple[datetime, datetime]
    chart: str
    rows: list[dict]
    codes_chart: str
    code_rows: list[dict]
    code_names: list[str] = field(default_factory=list)


def incident_window(incident, findings: list[Finding], merchant_id: int) -> tuple[datetime, datetime]:
    """The impact window of one merchant: its findings' windows, else the incident's impact
    times (started → resolved, mitigated or now), else the incident's creation."""
    own = [f for f in findings if f.segment.merchant_id == merchant_id] or findings
    if own:
        return min(f.window_start for f in own), max(f.window_end for f in own)
    now = timezone.now()
    start = incident.started_at or incident.detected_at or incident.created_at
    end = incident.resolved_at or incident.mitigated_at or now
    return start, max(end, start + timedelta(minutes=settings.PAYHEALTH_METRICS_BUCKET_MINUTES))


def incident_panel(*, incident, affected_merchant_ids: list[int]) -> list[MerchantChart]:
    """One chart pair per merchant of the incident's findings and affected merchants (at most
    MAX_INCIDENT_MERCHANTS): 3 queries, then 6 per merchant."""
    findings = list(Finding.objects.filter(incident=incident).select_related("segment").order_by("window_start"))
    merchant_ids = list(dict.fromkeys([f.segment.merchant_id for f in findings] + list(affected_merchant_ids)))
    segments = {
        s.merchant_id: s
        for s in Segment.objects.filter(merchant_id__in=merchant_ids, parent__isnull=True).select_related("merchant")
    }
    charts = []
    for merchant_id in [m for m in merchant_ids if m in segments][:MAX_INCIDENT_MERCHANTS]:
        segment = segments[merchant_id]
        window = incident_window(incident, findings, merchant_id)
        start = window[0] - PADDING
        end = min(window[1] + PADDING, timezone.now() + PADDING)
        if end - start > MAX_CHART_SPAN:
            start = end - MAX_CHART_SPAN
        step = chart_step(end - start)
        points, rows = series_with_band(segment=segment, start=start, end=end, step=step)
        chart_id = f"chart-incident-{merchant_id}"
        title = _("Approval rate of %(merchant)s against its expected band") % {"merchant": segment.merchant.name}
        description = _(
            "The merchant's approval rate per %(minutes)d minutes from %(start)s to %(end)s, the band of rates "
            "expected from the same hours of the previous weeks (99 %%), and the impact window shaded."
        ) % {
            "minutes": int(step.total_seconds() // 60),
            "start": _when(start),
            "end": _when(end),
        }
        chart = rate_chart_svg(
            chart_id=chart_id,
            title=title,
            description=description,
            points=points,
            start=start,
            end=end,
            shade=window,
            observed_label=_("Observed approval rate"),
            band_label=_("Expected band (99 %)"),
            shade_label=_("Impact window"),
            time_format="d M H:i",
        )
        weeks = int(detector_config(merchant_id).baseline_weeks)
        mixes = decline_mix(segment=segment, start=window[0], end=window[1], weeks=weeks)
        stacks, code_rows = _code_stacks(mixes)
        codes_chart = stacked_bars_svg(
            chart_id=f"chart-codes-{merchant_id}",
            title=_("Decline codes of %(merchant)s: baseline and during the impact")
            % {"merchant": segment.merchant.name},
            description=_(
                "The share of each decline code among the declines in the impact window and in the same hours of "
                "the previous %(weeks)d weeks."
            )
            % {"weeks": weeks},
            stacks=stacks,
        )
        charts.append(
            MerchantChart(
                merchant=segment.merchant,
                segment=segment,
                start=start,
                end=end,
                window=window,
                chart=chart,
                rows=rows,
                codes_chart=codes_chart,
                code_rows=code_rows,
                code_names=[name for name, _share in stacks[0].parts] if stacks else [],
            )
        )
    return charts


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def merchant_panel(*, merchant: Merchant, now: datetime | None = None) -> dict | None:
    """The merchant-level approval rate of the last 30 days, hourly, with findings marked:
    three queries. None when the merchant has no payment data."""
    segment = Segment.objects.filter(merchant=merchant, parent__isnull=True).first()
    if segment is None:
        return None
    now = now or timezone.now()
    step = timedelta(hours=1)
    end = now - (now - datetime(2000, 1, 3, tzinfo=now.tzinfo)) % step + step
    start = end - timedelta(days=MERCHANT_DAYS)
    bins: list[Bin] = binned_series(segment_ids=[segment.pk], start=start, end=end, step=step)[segment.pk]
    findings = list(
        Finding.objects.filter(segment__merchant=merchant, window_end__gt=start)
        .select_related("segment")
        .order_by("window_start")[:MAX_MARKERS]
    )
    markers = [
        Marker(
            at=f.window_start,
            label=f"{f.get_kind_display()}{' ' + f.decline_code if f.decline_code else ''} · {_when(f.window_start)}",
            url=reverse("monitoring:segment_detail", args=[f.segment_id]),
        )
        for f in findings
    ]
    chart = rate_chart_svg(
        chart_id="chart-merchant-30d",
        title=_("Approval rate of %(merchant)s, last %(days)d days")
        % {"merchant": merchant.name, "days": MERCHANT_DAYS},
        description=_("Hourly approval rate of every attempt of the merchant; each mark under the axis is a finding."),
        points=[Point(b.start, b.rate) for b in bins],
        start=start,
        end=end,
        markers=markers,
        observed_label=_("Hourly approval rate"),
        time_format="d M",
    )
    days: dict[str, list[int]] = {}
    for b in bins:
        day = timezone.localtime(b.start).date().isoformat()
        totals = days.setdefault(day, [0, 0])
        totals[0] += b.attempts
        totals[1] += b.approvals
    table = [
        {"day": day, "attempts": n, "approvals": k, "rate": (k / n if n else None)} for day, (n, k) in days.items()
    ]
    return {"segment": segment, "chart": chart, "table": table, "findings": findings}


def _labels(dimension: str, keys: list) -> dict:
    if dimension in ("issuer", "route"):
        names = dict(Partner.objects.filter(pk__in=[k for k in keys if k]).values_list("pk", "name"))
        return {k: names.get(k, str(k)) for k in keys}
    if dimension == "funding":
        return {k: Funding(k).label if k in Funding.values else k for k in keys}
    if dimension == "entry_mode":
        return {k: EntryMode(k).label if k in EntryMode.values else k for k in keys}
    if dimension == "network":
        from cases.models.incident import CardNetwork

        return {k: CardNetwork(k).label if k in CardNetwork.values else k for k in keys}
    return {k: k for k in keys}


def segment_page(*, segment: Segment, window: str, dimension: str, now: datetime | None = None) -> dict:
    """The segment's series with its band over the chosen window, and (for a merchant-level
    segment) its slices by the chosen dimension: about eight queries."""
    now = now or timezone.now()
    span = SEGMENT_WINDOWS[window]
    step = chart_step(span)
    end = now - (now - datetime(2000, 1, 3, tzinfo=now.tzinfo)) % step + step
    start = end - span
    points, rows = series_with_band(segment=segment, start=start, end=end, step=step)
    chart = rate_chart_svg(
        chart_id="chart-segment",
        title=_("Approval rate of %(segment)s") % {"segment": str(segment)},
        description=_(
            "Approval rate per %(minutes)d minutes over the last %(hours)d hours, with the band of rates "
            "expected from the same hours of the previous weeks (99 %%)."
        )
        % {"minutes": int(step.total_seconds() // 60), "hours": int(span.total_seconds() // 3600)},
        points=points,
        start=start,
        end=end,
        observed_label=_("Observed approval rate"),
        band_label=_("Expected band (99 %)"),
        time_format="d M H:i",
    )
    children = []
    if segment.is_merchant_level:
        weeks = int(detector_config(segment.merchant_id).baseline_weeks)
        children = children_breakdown(
            segment=segment, dimension=dimension, start=start, end=end, step=step, weeks=weeks
        )
        labels = _labels(dimension, [row.key for row in children])
        for index, row in enumerate(children):
            row.label = str(labels.get(row.key) or "—") if row.key is not None else _("not known")
            row.sparkline = sparkline_svg(
                chart_id=f"spark-{index}",
                title=_("Approval rate of %(slice)s") % {"slice": row.label},
                values=[b.rate for b in row.bins],
            )
    return {"chart": chart, "rows": rows, "children": children, "start": start, "end": end}


__all__ = ["DIMENSION_COLUMNS", "incident_panel", "merchant_panel", "segment_page"]


def incident_report_charts(incident) -> list[ReportChart]:
    """The approval-rate charts of the incident's merchants for its post-incident report
    (`cases.pir.extensions`): the same drawings as the incident page's panel."""
    merchant_ids = list(incident.affected_merchants.order_by("merchant__name").values_list("merchant_id", flat=True))
    return [
        ReportChart(title=item.merchant.name, svg=str(item.chart))
        for item in incident_panel(incident=incident, affected_merchant_ids=merchant_ids)
    ]
