"""Which fee rule prices a cohort: the rate card in force that day, then its most specific matching rule.

A rule matches when each key it gives equals the cohort's (an empty key matches anything); of the
matching rules of the fee type the one giving the most keys wins, then the highest priority, then
the first written. The checks apply the same order in SQL (`costs.checks`); `rule_match` is the
one-row version the pages and the tests use, with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Q

from costs.models import MATCH_KEYS, FeeRule, RateCard

TEN_THOUSAND = Decimal(10000)


@dataclass
class Match:
    rule: FeeRule | None
    rate_card: RateCard | None
    reasons: list[str] = field(default_factory=list)

    def explain(self) -> str:
        return "; ".join(self.reasons)


def rate_card_in_force(*, partner, on: date) -> RateCard | None:
    """The partner's approved rate card for that day."""
    return (
        RateCard.objects.filter(partner=partner, state=RateCard.State.APPROVED, effective_from__lte=on)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=on))
        .order_by("-effective_from", "-version")
        .first()
    )


def rule_matches(rule: FeeRule, cohort: dict) -> bool:
    return all(cohort.get(key, "") == value for key, value in rule.keys().items())


def rule_match(*, partner, on: date, fee_type: str, cohort: dict) -> Match:
    """The rule that prices `fee_type` for `cohort` on day `on`, and why (or why none does)."""
    from django.utils.translation import gettext as _

    card = rate_card_in_force(partner=partner, on=on)
    if card is None:
        return Match(None, None, [_("No approved rate card is in force on %(day)s.") % {"day": on.isoformat()}])
    candidates = [r for r in card.rules.filter(fee_type=fee_type) if rule_matches(r, cohort)]
    if not candidates:
        return Match(None, card, [_("No rule of %(card)s matches this cohort.") % {"card": card}])
    candidates.sort(key=lambda r: (-r.specificity, -r.priority, r.id))
    best = candidates[0]
    reasons = [best.explain(cohort)]
    for other in candidates[1:]:
        reasons.append(
            _("wins over rule %(id)d (specificity %(specificity)d, priority %(priority)d)")
            % {"id": other.id, "specificity": other.specificity, "priority": other.priority}
        )
    return Match(best, card, reasons)


def expected_fee(rule: FeeRule, *, volume: Decimal, count: int) -> Decimal:
    """volume × bps / 10⁴ + count × fixed, held between count × minimum and count × cap."""
    fee = volume * rule.rate_bps / TEN_THOUSAND + count * rule.fixed_fee
    if rule.minimum_fee is not None:
        fee = max(fee, count * rule.minimum_fee)
    if rule.cap_fee is not None:
        fee = min(fee, count * rule.cap_fee)
    return fee


__all__ = ["MATCH_KEYS", "Match", "expected_fee", "rate_card_in_force", "rule_match", "rule_matches"]
