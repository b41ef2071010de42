"""A finding's impact, computed from the buckets of its segment: what the incident records for
the merchant (docs/findings.md).

Over the finding's window [window_start, window_end):

- observed rate = approvals ÷ attempts (4 places, as the incident stores rates);
- baseline rate = approvals ÷ attempts over the same time-of-week slots of the `baseline_weeks`
  weeks before (the detector's baseline without its smoothing); the finding's own baseline rate
  when none of those weeks has data;
- failed attempts = attempts − approvals;
- excess declines = failed attempts − round(attempts × (1 − baseline rate)), exactly as the
  incident's generated column computes it from the stored figures;
- average ticket = amount attempted ÷ attempts over the window;
- volume at risk = excess declines × average ticket, rounded to the cent (never below zero);
- decline codes before (summed over the baseline slots) and during (over the window).

Money is Decimal throughout; counts are integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from monitoring.detection.config import detector_config
from monitoring.models import AuthBucket, Finding, Segment
from monitoring.selectors import RATE_PLACES, approval_rate

CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Impact:
    """The figures of one segment over one window, against its baseline."""

    window_start: datetime
    window_end: datetime
    attempts: int
    approvals: int
    baseline_attempts: int
    baseline_approvals: int
    baseline_rate: Decimal
    observed_rate: Decimal | None
    amount_attempted: Decimal
    currency: str
    codes_before: dict[str, int] = field(default_factory=dict)
    codes_during: dict[str, int] = field(default_factory=dict)

    @property
    def failed_attempts(self) -> int:
        return self.attempts - self.approvals

    @property
    def excess_declines(self) -> int:
        expected = (Decimal(self.attempts) * (1 - self.baseline_rate)).to_integral_value(rounding=ROUND_HALF_UP)
        return self.failed_attempts - int(expected)

    @property
    def average_ticket(self) -> Decimal:
        """Amount attempted ÷ attempts, unrounded (Decimal division to its context's precision)."""
        if not self.attempts:
            return Decimal("0")
        return self.amount_attempted / Decimal(self.attempts)

    @property
    def volume_at_risk(self) -> Decimal:
        excess = max(self.excess_declines, 0)
        return (Decimal(excess) * self.average_ticket).quantize(CENTS, rounding=ROUND_HALF_UP)

    @property
    def drop_pp(self) -> Decimal:
        return (self.baseline_rate - (self.observed_rate or Decimal(0))) * 100

    def rising_codes(self) -> list[tuple[str, int]]:
        """(code, count during) of the codes seen more often than the baseline's share predicts,
        most excess first: the codes of the breakage."""
        scale = Decimal(self.attempts) / Decimal(self.baseline_attempts) if self.baseline_attempts else Decimal(0)
        excess = {
            code: count - Decimal(self.codes_before.get(code, 0)) * scale for code, count in self.codes_during.items()
        }
        ranked = sorted((code for code, value in excess.items() if value > 0), key=lambda code: (-excess[code], code))
        return [(code, self.codes_during[code]) for code in ranked]


def baseline_slots(start: datetime, end: datetime, weeks: int) -> list[tuple[datetime, datetime]]:
    """The window's time-of-week slots in each of the `weeks` weeks before it."""
    return [(start - timedelta(weeks=week), end - timedelta(weeks=week)) for week in range(1, weeks + 1)]


def segment_impact(
    *, segment: Segment, start: datetime, end: datetime, weeks: int, fallback_baseline: Decimal
) -> Impact:
    """The impact of [start, end) on `segment`: one query over the window and its baseline slots."""
    slots = baseline_slots(start, end, weeks)
    ranges = Q(bucket_start__gte=start, bucket_start__lt=end)
    for slot_start, slot_end in slots:
        ranges |= Q(bucket_start__gte=slot_start, bucket_start__lt=slot_end)
    rows = AuthBucket.objects.filter(ranges, segment=segment).values_list(
        "bucket_start", "attempts", "approvals", "amount_attempted", "currency", "decline_codes"
    )
    attempts = approvals = base_attempts = base_approvals = 0
    amount = Decimal("0.00")
    currency = ""
    before: dict[str, int] = {}
    during: dict[str, int] = {}
    for moment, row_attempts, row_approvals, row_amount, row_currency, codes in rows:
        if start <= moment < end:
            attempts += row_attempts
            approvals += row_approvals
            amount += row_amount
            currency = currency or row_currency
            _add(during, codes)
        else:
            base_attempts += row_attempts
            base_approvals += row_approvals
            _add(before, codes)
    baseline = approval_rate(approvals=base_approvals, attempts=base_attempts)
    if baseline is None:
        baseline = Decimal(fallback_baseline).quantize(RATE_PLACES)
    return Impact(
        window_start=start,
        window_end=end,
        attempts=attempts,
        approvals=approvals,
        baseline_attempts=base_attempts,
        baseline_approvals=base_approvals,
        baseline_rate=baseline,
        observed_rate=approval_rate(approvals=approvals, attempts=attempts),
        amount_attempted=amount,
        currency=currency or "MXN",
        codes_before=dict(sorted(before.items())),
        codes_during=dict(sorted(during.items())),
    )


def finding_impact(finding: Finding, *, weeks: int | None = None) -> Impact:
    """The impact of the finding's window on its segment, against the merchant's baseline weeks
    (`weeks`, when the caller already read the merchant's settings)."""
    segment = finding.segment
    if weeks is None:
        weeks = detector_config(segment.merchant_id).baseline_weeks
    impact = segment_impact(
        segment=segment,
        start=finding.window_start,
        end=finding.window_end,
        weeks=weeks,
        fallback_baseline=finding.baseline_rate,
    )
    if impact.attempts:
        return impact
    # The window's buckets are gone (past retention): the finding's own figures stand in.
    return replace(
        impact,
        attempts=finding.attempts,
        approvals=finding.approvals,
        observed_rate=approval_rate(approvals=finding.approvals, attempts=finding.attempts),
    )


def combined_impact(impacts: Sequence[Impact]) -> Impact:
    """The impacts of disjoint segments of one merchant as one: counts, amounts and codes summed,
    the rates recomputed from the sums (never averaged), the window spanning them all."""
    if len(impacts) == 1:
        return impacts[0]
    before: dict[str, int] = {}
    during: dict[str, int] = {}
    for impact in impacts:
        _add(before, impact.codes_before)
        _add(during, impact.codes_during)
    attempts = sum(impact.attempts for impact in impacts)
    approvals = sum(impact.approvals for impact in impacts)
    base_attempts = sum(impact.baseline_attempts for impact in impacts)
    base_approvals = sum(impact.baseline_approvals for impact in impacts)
    baseline = approval_rate(approvals=base_approvals, attempts=base_attempts)
    if baseline is None:  # no baseline data anywhere: the stand-ins, weighted by attempts
        weighted = sum(impact.baseline_rate * impact.attempts for impact in impacts)
        baseline = (weighted / attempts).quantize(RATE_PLACES) if attempts else impacts[0].baseline_rate
    return Impact(
        window_start=min(impact.window_start for impact in impacts),
        window_end=max(impact.window_end for impact in impacts),
        attempts=attempts,
        approvals=approvals,
        baseline_attempts=base_attempts,
        baseline_approvals=base_approvals,
        baseline_rate=baseline,
        observed_rate=approval_rate(approvals=approvals, attempts=attempts),
        amount_attempted=sum((impact.amount_attempted for impact in impacts), Decimal("0.00")),
        currency=impacts[0].currency,
        codes_before=dict(sorted(before.items())),
        codes_during=dict(sorted(during.items())),
    )


def _add(total: dict[str, int], codes) -> None:
    for code, count in (codes or {}).items():
        total[code] = total.get(code, 0) + int(count)
