"""Rate cards: versions approved by a lead, never changed after, superseded from their date; the most
specific rule wins and says why; the Mexico sample figures."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from costs.matching import expected_fee, rule_match
from costs.models import FeeRule, Giro, RateCard
from costs.sample import INTERCHANGE_FILE, SAMPLE_NOTE, sample_rate_card_create, sample_rules
from costs.services import fee_rule_add, rate_card_approve, rate_card_create
from tests.costs.conftest import DEBIT_ECOM, JUNE

pytestmark = pytest.mark.django_db

RULES = [
    {"fee_type": "interchange", "rate_bps": "120"},
    {"fee_type": "interchange", "funding": "debit", "rate_bps": "60"},
    {"fee_type": "interchange", "funding": "debit", "entry_mode": "ecommerce", "rate_bps": "45", "fixed_fee": "0.10"},
    {"fee_type": "interchange", "network": "visa", "funding": "debit", "rate_bps": "50", "priority": 5},
]


def test_only_a_lead_other_than_the_author_approves(acquirer, analyst, lead, partner_manager):
    card = rate_card_create(partner=acquirer, effective_from=JUNE, rules=RULES, actor=lead)
    for who in (analyst, partner_manager, lead):
        with pytest.raises(PermissionDenied):
            rate_card_approve(rate_card=card, actor=who)
    card.refresh_from_db()
    assert card.state == "draft"


def test_an_approved_card_never_changes_and_a_new_version_supersedes_it(acquirer, lead):
    first = rate_card_approve(
        rate_card=rate_card_create(partner=acquirer, effective_from=JUNE, rules=RULES), actor=lead
    )
    assert (first.version, first.state, first.approved_by, first.effective_to) == (1, "approved", lead, None)
    with pytest.raises(ValidationError):
        fee_rule_add(rate_card=first, fee_type="scheme", rate_bps="3")
    with pytest.raises(ValidationError):
        rate_card_approve(rate_card=first, actor=lead)

    second = rate_card_create(partner=acquirer, effective_from=date(2026, 7, 1), rules=RULES[:1])
    assert rule_match(partner=acquirer, on=date(2026, 7, 2), fee_type="interchange", cohort={}).rate_card == first
    rate_card_approve(rate_card=second, actor=lead)

    first.refresh_from_db()
    assert (first.state, first.effective_to) == ("approved", date(2026, 7, 1))
    assert rule_match(partner=acquirer, on=date(2026, 6, 30), fee_type="interchange", cohort={}).rate_card == first
    assert rule_match(partner=acquirer, on=date(2026, 7, 1), fee_type="interchange", cohort={}).rate_card == second

    earlier = rate_card_create(partner=acquirer, effective_from=date(2026, 5, 1), rules=RULES[:1])
    rate_card_approve(rate_card=earlier, actor=lead)
    assert set(RateCard.objects.values_list("version", "state")) == {(1, "retired"), (2, "retired"), (3, "approved")}


def test_the_most_specific_rule_wins(acquirer, lead):
    rate_card_approve(rate_card=rate_card_create(partner=acquirer, effective_from=JUNE, rules=RULES), actor=lead)
    cohort = {**DEBIT_ECOM, "network": "mastercard"}

    match = rule_match(partner=acquirer, on=JUNE, fee_type="interchange", cohort=cohort)

    assert (match.rule.rate_bps, match.rule.specificity) == (Decimal(45), 2)  # beats debit (1) and any (0)
    assert "funding = debit, entry mode = ecommerce" in match.explain()
    assert match.explain().count("wins over rule") == 2
    assert "does not match" not in match.explain()


def test_ties_in_specificity_go_to_the_priority(acquirer, lead):
    card = rate_card_approve(rate_card=rate_card_create(partner=acquirer, effective_from=JUNE, rules=RULES), actor=lead)

    match = rule_match(partner=acquirer, on=JUNE, fee_type="interchange", cohort=DEBIT_ECOM)
    assert match.rule == card.rules.get(network="visa")  # two keys each; priority 5 wins
    assert "network = visa" in match.explain() and "priority 5" in match.explain()
    assert "wins over rule" in match.explain()

    other = rule_match(partner=acquirer, on=JUNE, fee_type="interchange", cohort={"funding": "credit"})
    assert other.rule.rate_bps == 120 and "matches every cohort" in other.explain()
    none = rule_match(partner=acquirer, on=date(2026, 5, 31), fee_type="interchange", cohort={})
    assert none.rule is None and "No approved rate card" in none.explain()


def test_expected_fee_with_minimum_and_cap():
    rule = FeeRule(fee_type="markup", rate_bps=Decimal(35), fixed_fee=Decimal("0.50"), minimum_fee=Decimal(1))
    assert expected_fee(rule, volume=Decimal(100), count=1) == Decimal(1)  # 0.35 + 0.50 under the minimum
    rule.cap_fee = Decimal(5)
    assert expected_fee(rule, volume=Decimal(10000), count=1) == Decimal(5)
    assert expected_fee(rule, volume=Decimal(1000), count=1) == Decimal("4.0000")


def test_bad_rules_are_refused_with_their_number(acquirer):
    with pytest.raises(ValidationError, match="Rule 2"):
        rate_card_create(partner=acquirer, effective_from=JUNE, rules=[RULES[0], {"fee_type": "tip", "rate_bps": "1"}])
    for bad in ({"rate_bps": "-1"}, {"rate_bps": "NaN"}, {"rate_bps": "1e30"}, {"priority": "alta"}, {"giro": "a\x00"}):
        with pytest.raises(ValidationError, match="Rule 1"):
            rate_card_create(partner=acquirer, effective_from=JUNE, rules=[{"fee_type": "fx", **bad}])
    assert not RateCard.objects.exists()


def test_the_mexico_sample_figures(acquirer):
    assert Giro.objects.count() == 29
    assert set(Giro.objects.filter(zero_rated=True).values_list("code", flat=True)) == {
        "gobierno",
        "beneficencia",
        "educacion_basica",
    }
    interchange = [r for r in sample_rules("acquirer") if r["fee_type"] == "interchange"]
    debit = [Decimal(r["rate_bps"]) for r in interchange if r["funding"] == "debit"]
    credit = [Decimal(r["rate_bps"]) for r in interchange if r["funding"] == "credit"]
    assert (max(debit), max(credit), min(debit), min(credit)) == (115, 191, 0, 0)
    weights = [Decimal(row["volume_weight"]) for row in csv.DictReader(INTERCHANGE_FILE.open())]
    weighted = [sum(w * r for w, r in zip(weights, rates, strict=True)) / sum(weights) for rates in (debit, credit)]
    assert 40 <= weighted[0] <= 50 and 125 <= weighted[1] <= 135  # about 0.45 % and 1.30 %

    card = sample_rate_card_create(partner=acquirer, effective_from=JUNE)
    assert card.state == "draft" and card.notes == SAMPLE_NOTE and "SAMPLE" in card.notes
    assert card.rules.filter(fee_type="interchange").count() == 58
    assert card.rules.filter(fee_type="markup").count() == 3
