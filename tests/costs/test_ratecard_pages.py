"""Rate-card pages: the index, a version and its CSV, the diff, drafting and approving (who may),
rules added and removed on a draft, the "which rule applies?" tester, and the thresholds page."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from costs.models import CostThresholds, FeeRule, RateCard
from costs.services import rate_card_create

VISA_DEBIT = {"fee_type": "interchange", "network": "visa", "funding": "debit", "rate_bps": "45"}
ANY_INTERCHANGE = {"fee_type": "interchange", "rate_bps": "150"}


@pytest.fixture
def versions(acquirer, approved_card, partner_manager):
    """v1 approved (visa debit 45, any interchange 150, markup 20 + 1.50); v2 draft by the partner
    manager: visa debit at 50 with a cap, markup gone, a carnet credit rule added."""
    v1 = approved_card(
        acquirer, [VISA_DEBIT, ANY_INTERCHANGE, {"fee_type": "markup", "rate_bps": "20", "fixed_fee": "1.50"}]
    )
    v2 = rate_card_create(
        partner=acquirer,
        effective_from=date(2026, 7, 1),
        actor=partner_manager,
        rules=[
            {**VISA_DEBIT, "rate_bps": "50", "cap_fee": "12"},
            ANY_INTERCHANGE,
            {"fee_type": "interchange", "network": "carnet", "funding": "credit", "rate_bps": "160"},
        ],
    )
    return v1, v2


def test_the_index_lists_each_partner_with_its_versions(client, analyst, versions):
    client.force_login(analyst)
    html = client.get(reverse("costs:ratecard_index")).content.decode()
    assert "Adquirente MX" in html
    assert reverse("costs:ratecard_detail", args=[versions[0].pk]) in html
    assert "Approved" in html and "Draft" in html and "2026-07-01" in html


def test_a_version_shows_its_rules_and_exports_them(client, analyst, versions):
    v1, v2 = versions
    client.force_login(analyst)
    html = client.get(reverse("costs:ratecard_detail", args=[v2.pk])).content.decode()
    assert "network=carnet, funding=credit" in html or "funding=credit, network=carnet" in html
    assert f"{reverse('costs:ratecard_diff', args=[v2.pk])}?against={v1.pk}" in html  # compare with previous
    assert reverse("costs:ratecard_approve", args=[v2.pk]) not in html  # an analyst does not approve
    response = client.get(reverse("costs:ratecard_rules_csv", args=[v1.pk]))
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert [(r["fee_type"], r["network"], r["rate_bps"], r["fixed_fee"], r["specificity"]) for r in rows] == [
        ("interchange", "visa", "45.0000", "0.0000", "2"),
        ("interchange", "", "150.0000", "0.0000", "0"),
        ("markup", "", "20.0000", "1.5000", "0"),
    ]


def test_the_diff_names_rules_added_removed_and_changed(client, analyst, versions):
    v1, v2 = versions
    client.force_login(analyst)
    html = client.get(reverse("costs:ratecard_diff", args=[v2.pk]), {"against": v1.pk}).content.decode()
    added = html.split('id="diff-added"')[1].split("</ul>")[0]
    removed = html.split('id="diff-removed"')[1].split("</ul>")[0]
    changed = html.split('id="diff-changed"')[1].split("</ul>")[0]
    assert added.count("<li>") == 1 and "network=carnet" in added and "160.0000 bps" in added
    assert removed.count("<li>") == 1 and "Processing markup" in removed and "20.0000 bps + 1.5000" in removed
    assert changed.count("<li>") == 1
    assert "funding=debit, network=visa" in changed or "network=visa, funding=debit" in changed
    assert "rate_bps 45.0000 → 50.0000" in changed and "cap_fee — → 12.0000" in changed
    assert "1 rule added" in html and "1 rule removed" in html and "1 rule changed" in html
    dates = html.split('id="diff-dates"')[1].split("</table>")[0]
    assert "2026-06-01 → 2026-07-01" not in dates  # v1 is not superseded until v2 is approved
    assert "2026-06-01 → …" in dates and "2026-07-01 → …" in dates


def test_a_version_of_another_partner_cannot_be_compared(client, analyst, versions, make_partner, approved_card):
    other = approved_card(make_partner(), [ANY_INTERCHANGE])
    client.force_login(analyst)
    assert client.get(reverse("costs:ratecard_diff", args=[versions[1].pk]), {"against": other.pk}).status_code == 404


def test_a_partner_manager_drafts_from_a_version_and_the_copy_is_a_new_draft(client, partner_manager, versions):
    v1, _v2 = versions
    client.force_login(partner_manager)
    page = client.get(reverse("costs:ratecard_create"), {"from": v1.pk})
    assert page.status_code == 200
    rules = page.context["rules"]
    assert [form.initial.get("rate_bps") for form in rules.forms[:3]] == [Decimal("45"), Decimal("150"), Decimal("20")]
    data = {
        "partner": v1.partner_id,
        "effective_from": "2026-08-01",
        "currency": "MXN",
        "notes": "",
        "rules-TOTAL_FORMS": "3",
        "rules-INITIAL_FORMS": "0",
        "rules-0-fee_type": "interchange",
        "rules-0-network": "visa",
        "rules-0-rate_bps": "47",
        "rules-1-fee_type": "scheme",
        "rules-1-rate_bps": "3",
        "rules-2-fee_type": "",
    }
    response = client.post(reverse("costs:ratecard_create"), data)
    card = RateCard.objects.get(version=3)
    assert response.status_code == 302 and response["Location"] == reverse("costs:ratecard_detail", args=[card.pk])
    assert card.state == "draft" and card.created_by == partner_manager
    assert sorted((r.fee_type, r.network, r.rate_bps) for r in card.rules.all()) == [
        ("interchange", "visa", Decimal("47")),
        ("scheme", "", Decimal("3")),
    ]


def test_a_bad_rule_is_a_form_error_and_writes_nothing(client, partner_manager, acquirer):
    client.force_login(partner_manager)
    data = {
        "partner": acquirer.pk,
        "effective_from": "2026-08-01",
        "currency": "MXN",
        "rules-TOTAL_FORMS": "1",
        "rules-INITIAL_FORMS": "0",
        "rules-0-fee_type": "interchange",
        "rules-0-rate_bps": "-1",
        "rules-0-minimum_fee": "5",
        "rules-0-cap_fee": "2",
    }
    response = client.post(reverse("costs:ratecard_create"), data)
    assert response.status_code == 400
    assert "Ensure this value is greater than or equal to 0." in response.content.decode()
    data["rules-0-rate_bps"] = "10"  # now the cap below the minimum: the service refuses it
    response = client.post(reverse("costs:ratecard_create"), data)
    assert response.status_code == 400 and "Rule 1: the cap is below the minimum." in response.content.decode()
    data["rules-0-cap_fee"] = ""
    data["rules-0-fee_type"] = ""  # figures without a fee type
    response = client.post(reverse("costs:ratecard_create"), data)
    assert response.status_code == 400 and "Choose a fee type, or empty the row." in response.content.decode()
    assert not RateCard.objects.exists()


def test_rules_are_added_to_and_removed_from_a_draft_only(client, partner_manager, versions):
    v1, v2 = versions
    client.force_login(partner_manager)
    url = reverse("costs:ratecard_rule_add", args=[v2.pk])
    assert client.post(url, {"rule-fee_type": "fx", "rule-rate_bps": "30"}).status_code == 302
    assert v2.rules.filter(fee_type="fx", rate_bps=30).exists()
    response = client.post(url, {"rule-fee_type": "fx", "rule-rate_bps": "abc"})
    assert response.status_code == 400 and "Enter a number." in response.content.decode()
    carnet = v2.rules.get(network="carnet")
    assert client.post(reverse("costs:ratecard_rule_remove", args=[v2.pk, carnet.pk])).status_code == 302
    assert not FeeRule.objects.filter(pk=carnet.pk).exists()
    # an approved card never changes
    response = client.post(reverse("costs:ratecard_rule_add", args=[v1.pk]), {"rule-fee_type": "fx"})
    assert response.status_code == 400 and "never changes" in response.content.decode()
    kept = v1.rules.first()
    response = client.post(reverse("costs:ratecard_rule_remove", args=[v1.pk, kept.pk]), follow=True)
    assert "never changes" in response.content.decode() and FeeRule.objects.filter(pk=kept.pk).exists()


def test_only_a_lead_approves_and_never_their_own_card(client, analyst, partner_manager, lead, versions, acquirer):
    _v1, v2 = versions
    url = reverse("costs:ratecard_approve", args=[v2.pk])
    for who in (analyst, partner_manager):
        client.force_login(who)
        assert client.post(url).status_code == 403
    own = rate_card_create(partner=acquirer, effective_from=date(2026, 9, 1), actor=lead, rules=[ANY_INTERCHANGE])
    client.force_login(lead)
    response = client.post(reverse("costs:ratecard_approve", args=[own.pk]))
    assert response.status_code == 400
    assert "A rate card is approved by another lead than its author." in response.content.decode()
    own.refresh_from_db()
    assert own.state == "draft"
    assert url in client.get(reverse("costs:ratecard_detail", args=[v2.pk])).content.decode()
    assert client.post(url).status_code == 302
    v2.refresh_from_db()
    assert v2.state == "approved" and v2.approved_by == lead


def test_the_tester_explains_which_rule_wins_and_why(client, analyst, versions):
    v1, _v2 = versions
    client.force_login(analyst)
    query = {"partner": v1.partner_id, "on": "2026-06-15", "fee_type": "interchange", "network": "visa"}
    response = client.get(reverse("costs:rule_tester"), {**query, "funding": "debit"})
    html = response.content.decode()
    visa = v1.rules.get(network="visa")
    anyone = v1.rules.get(fee_type="interchange", network="")
    explanation = html.split('id="match-explanation">')[1].split("</p>")[0]
    assert "Interchange rule of Adquirente MX v1, 45.0000 bps + 0.0000 per transaction" in explanation
    assert "specificity 2, priority 0" in explanation
    required = html.split('id="match-required"')[1].split("</dd>")[0]
    assert "network=visa" in required and "funding=debit" in required
    assert "product, region, giro, entry_mode, program_code" in html.split('id="match-open"')[1].split("</dd>")[0]
    beaten = html.split('id="match-beaten"')[1].split("</ul>")[0]
    assert f"wins over rule {anyone.pk} (specificity 0, priority 0)" in beaten
    assert visa.pk != anyone.pk
    # credit: only the catch-all matches
    html = client.get(reverse("costs:rule_tester"), {**query, "funding": "credit"}).content.decode()
    assert "150.0000 bps" in html.split('id="match-explanation">')[1] and "No other rule matches." in html
    # before any approved card
    html = client.get(reverse("costs:rule_tester"), {**query, "on": "2026-05-01"}).content.decode()
    assert "No approved rate card is in force on 2026-05-01." in html
    assert client.get(reverse("costs:rule_tester"), {**query, "on": "never"}).status_code == 400


def test_leads_edit_thresholds_starting_from_the_defaults(client, analyst, lead, acquirer):
    url = reverse("costs:thresholds_edit", args=[acquirer.pk])
    client.force_login(analyst)
    assert client.get(url).status_code == 403
    assert client.get(reverse("costs:thresholds_index")).status_code == 200
    client.force_login(lead)
    page = client.get(url)
    assert 'id="defaults-note"' in page.content.decode()
    assert page.context["form"]["deviation_bps"].value() == 2
    data = {
        "deviation_bps": "3.5",
        "deviation_amount": "10000",
        "deviation_count": "50",
        "regression_bps": "3",
        "downgrade_pp": "1",
        "downgrade_q": "0.01",
        "unknown_fee_amount": "1000",
        "spike_bps": "6",
        "dispute_window_days": "45",
    }
    assert client.post(url, {**data, "downgrade_q": "2"}).status_code == 400
    assert not CostThresholds.objects.exists()
    assert client.post(url, data).status_code == 302
    saved = CostThresholds.objects.get(partner=acquirer)
    assert (saved.deviation_bps, saved.deviation_count, saved.downgrade_q) == (Decimal("3.5"), 50, 0.01)
    assert (saved.spike_bps, saved.dispute_window_days) == (Decimal(6), 45)


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", ("Rate cards", "Which rule applies?", "Compare with previous")), ("es", ())],
)
def test_the_pages_render_in_english_and_spanish(client, analyst, versions, language, words):
    v1, v2 = versions
    client.force_login(analyst)
    client.cookies["django_language"] = language
    urls = [
        reverse("costs:ratecard_index"),
        reverse("costs:ratecard_detail", args=[v2.pk]),
        f"{reverse('costs:ratecard_diff', args=[v2.pk])}?against={v1.pk}",
        reverse("costs:rule_tester"),
        reverse("costs:thresholds_index"),
    ]
    html = "".join(client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode() for url in urls)
    with translation.override(language):
        for word in words or (translation.gettext("Rate cards"), translation.gettext("Which rule applies?")):
            assert word in html
    if language == "es":
        assert "Tarifas" in html and "¿Qué regla aplica?" in html
        assert "Compare with previous" not in html
