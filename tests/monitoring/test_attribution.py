"""Attribution: which issuer, route, BIN or code explains a finding's excess declines, and a mix
shift told apart from a real drop. Data from the generator (fixed seed), one 60-minute bucket of
the window and the same hour of the four weeks before, loaded with the ordinary upsert."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import generator
from monitoring.attribution import (
    Attribution,
    attribution_rows_json,
    attribution_sentence,
    decompose,
    finding_attribution,
    surprise,
)
from monitoring.generator import IssuerCodeSpike, MixShift, Slice
from monitoring.models import AttributionKind, Finding, FindingKind, FindingState, Segment, Suppression
from monitoring.services import buckets_upsert
from partners.models import Partner
from tests.factories import MerchantFactory, PartnerFactory

ACCOUNT = "acct_ATTRIB00001"
WINDOW = datetime(2026, 3, 30, 19, tzinfo=UTC)  # a Monday, 13:00 in Mexico City: the weekly peak
HOUR = timedelta(hours=1)
# 40,000 attempts an hour at the peak (10,000 per 15 minutes, scaled to 60-minute buckets).
SLICES = (
    Slice("415231", "visa", "debit", "ecommerce", 0.30, 0.88, Decimal("612.40"), "bbva-mx", "prosa"),
    Slice("493172", "visa", "debit", "ecommerce", 0.25, 0.86, Decimal("540.10"), "banorte", "prosa"),
    Slice("455503", "visa", "credit", "3ds", 0.20, 0.90, Decimal("1615.00"), "santander-mx", "e-global"),
    Slice("418080", "visa", "debit", "card_present", 0.15, 0.70, Decimal("295.60"), "banco-azteca", "prosa"),
    Slice("402766", "mastercard", "prepaid", "ecommerce", 0.10, 0.80, Decimal("240.00")),
)
PROFILE = generator.MerchantProfile(ACCOUNT, 10_000, SLICES)
# BBVA México drops 15 pp (0.88 → 0.73): 17 % of its approvals become declines, 90 % of them 91.
MOVED = 0.15 / 0.88
BBVA_DROP = (
    IssuerCodeSpike(start=WINDOW, end=WINDOW + HOUR, issuer="bbva-mx", funding="debit", code="91", extra=0.9 * MOVED),
    IssuerCodeSpike(
        start=WINDOW,
        end=WINDOW + HOUR,
        issuer="bbva-mx",
        funding="debit",
        code="05",
        extra=0.1 * MOVED / (1 - 0.9 * MOVED),
    ),
)
TO_AZTECA = (MixShift(start=WINDOW, end=WINDOW + HOUR, bin_prefix="418080", share=0.15),)


@pytest.fixture
def partners(db):
    names = {
        "bbva-mx": "BBVA México",
        "banorte": "Banorte",
        "santander-mx": "Santander México",
        "banco-azteca": "Banco Azteca",
    }
    made = {code: PartnerFactory(code=code, name=name, kind=Partner.Kind.ISSUER) for code, name in names.items()}
    for code in ("prosa", "e-global"):
        made[code] = PartnerFactory(code=code, name=code.title(), kind=Partner.Kind.SWITCH)
    return made


@pytest.fixture
def merchant(db):
    return MerchantFactory(account_id=ACCOUNT, name="Tienda Atribución")


def load(regressions=(), *, profile=PROFILE, weeks: int = 4) -> list:
    """The window's bucket and the same hour of `weeks` weeks before, upserted; all the rows."""
    rows = []
    for week in range(weeks + 1):
        start = WINDOW - timedelta(weeks=week)
        rows += generator.generate(
            [profile], start=start, end=start + HOUR, minutes=60, regressions=regressions, holidays=frozenset()
        )
    rows = [dataclasses.replace(row, number=number) for number, row in enumerate(rows, start=1)]
    buckets_upsert(rows, source="test")
    return rows


def finding_for(rows, *, account: str = ACCOUNT, **changes) -> Finding:
    """The merchant-level finding of the window, its figures from the merchant-level rows."""
    level = [row for row in rows if not row.bin_prefix and row.merchant == account]
    window = [row for row in level if row.bucket_start == WINDOW]
    base = [row for row in level if row.bucket_start < WINDOW]
    baseline = sum(row.approvals for row in base) / sum(row.attempts for row in base)
    attempts = sum(row.attempts for row in window)
    approvals = sum(row.approvals for row in window)
    values = {
        "kind": FindingKind.APPROVAL_DROP,
        "segment": Segment.objects.get(merchant__account_id=account, parent__isnull=True),
        "state": FindingState.ALERTED,
        "window_start": WINDOW,
        "window_end": WINDOW + HOUR,
        "baseline_rate": Decimal(baseline).quantize(Decimal("0.000001")),
        "observed_rate": Decimal(approvals / attempts).quantize(Decimal("0.000001")),
        "attempts": attempts,
        "approvals": approvals,
        "excess_declines": round(attempts - approvals - attempts * (1 - baseline)),
        "p_value": 1e-12,
        "q_value": 1e-10,
    }
    values.update(changes)
    return Finding.objects.create(**values)


def store(finding: Finding, attribution: Attribution) -> Finding:
    finding.attribution = attribution_rows_json(attribution)
    finding.attribution_kind = attribution.kind
    finding.save(update_fields=["attribution", "attribution_kind"])
    return finding


def test_an_issuer_drop_on_code_91_is_named_with_its_code_in_english_and_spanish(merchant, partners):
    rows = load(BBVA_DROP)
    finding = finding_for(rows)
    assert finding.attempts > 38_000 and finding.drop_pp > 4

    with CaptureQueriesContext(connection) as captured:
        attribution = finding_attribution(finding)
    assert len(captured) == 3  # settings, slices, their sums: never one query per slice

    assert attribution.kind == AttributionKind.DROP == "drop"
    assert attribution.excess_declines == finding.excess_declines
    top = attribution.rows[0]
    assert (top.dimension, top.label, top.partner_id) == ("issuer", "BBVA México", partners["bbva-mx"].pk)
    assert top.key == str(partners["bbva-mx"].pk) and top.bin_prefix == "415231"
    assert top.explained >= 0.8 and top.surprise > 0
    assert -0.17 < top.rate_change < -0.13
    assert top.codes[0]["code"] == "91" and top.codes[0]["explained"] >= 0.8
    assert all(code["code"] in {"91", "05"} for code in top.codes)

    store(finding, attribution)
    percent, excess = round(top.explained * 100), f"{finding.excess_declines:,}"
    assert "," in excess
    assert attribution_sentence(finding, language="en") == (
        f"Issuer BBVA México (BIN 415231), code 91, explains {percent} % of {excess} excess declines."
    )
    assert attribution_sentence(finding, language="es") == (
        f"El emisor BBVA México (BIN 415231), código 91, explica el {percent} % de {excess} rechazos en exceso."
    )


def test_volume_moved_to_the_weakest_issuer_is_a_mix_shift_that_blames_no_partner(merchant, partners):
    rows = load(TO_AZTECA)
    finding = finding_for(rows)
    assert finding.drop_pp > 1.5 and finding.excess_declines > 500

    attribution = finding_attribution(finding)

    assert attribution.kind == AttributionKind.MIX_SHIFT == "mix_shift"
    assert attribution.rows and all(row.partner_id is None for row in attribution.rows)
    top = attribution.rows[0]
    assert (top.dimension, top.label) == ("issuer", "Banco Azteca")
    assert 0.12 < top.share_change < 0.14 and abs(top.rate_change) < 0.02
    assert top.explained >= 0.8
    store(finding, attribution)
    moved = f"{round(top.share_change * 100):+d}"
    assert attribution_sentence(finding, language="en") == (
        f"Mix shift: volume moved to Banco Azteca ({moved} pp of attempts) whose approval rate did not change; "
        "no partner's rate dropped."
    )
    assert attribution_sentence(finding, language="es") == (
        f"Cambio de mezcla: el volumen se desplazó a Banco Azteca ({moved} pp de los intentos), cuya tasa de "
        "aprobación no cambió; la tasa de ningún socio bajó."
    )


def test_the_same_drop_on_the_ordinary_mix_is_not_a_mix_shift_and_costs_the_same_queries(merchant, partners):
    # Eighteen slices, three of them BBVA México's: the issuer still explains it, code 91 too.
    big = dataclasses.replace(PROFILE, slices=generator.MX_SLICES)
    for code in ("nu-mx", "banamex"):
        PartnerFactory(code=code, kind=Partner.Kind.ISSUER)
    rows = load(BBVA_DROP, profile=big)
    finding = finding_for(rows)
    finding = Finding.objects.get(pk=finding.pk)  # its segment not loaded: one query more
    with CaptureQueriesContext(connection) as captured:
        attribution = finding_attribution(finding)
    assert len(captured) == 4
    assert attribution.kind == "drop"
    top = attribution.rows[0]
    assert (top.dimension, top.label) == ("issuer", "BBVA México")
    assert top.explained >= 0.8 and top.codes[0]["code"] == "91"
    # Two debit BINs share the drop, so the row names no single BIN.
    assert top.bin_prefix == ""


def test_a_finding_on_a_slice_is_named_by_the_partner_that_explains_its_parent(merchant, partners):
    # BBVA México fails its debit cards, all of them routed through Prosa: the slice's finding
    # names the issuer (what explains the merchant), not the route it shares with healthy slices.
    rows = load(BBVA_DROP)
    child = Segment.objects.get(bin_prefix="415231")
    on_child = finding_for(rows, segment=child, excess_declines=40)
    attribution = finding_attribution(on_child)
    assert attribution.kind == "drop" and len(attribution.rows) == 1
    (row,) = attribution.rows
    assert (row.dimension, row.partner_id, row.bin_prefix, row.explained) == ("issuer", child.issuer_id, "415231", 1.0)
    assert row.codes and row.codes[0]["code"] == "91"
    store(on_child, attribution)
    assert attribution_sentence(on_child, language="en") == (
        "Issuer BBVA México (BIN 415231), code 91, explains 100 % of 40 excess declines."
    )
    assert attribution_sentence(on_child, language="es").startswith("El emisor BBVA México (BIN 415231), código 91,")

    on_child.delete()
    none = finding_for(rows, excess_declines=0)
    with CaptureQueriesContext(connection) as captured:
        assert finding_attribution(none) == Attribution(kind="", excess_declines=0, rows=[])
    assert len(captured) == 0
    assert attribution_sentence(none, language="en") == "No excess declines to explain."
    assert attribution_sentence(none, language="es") == "No hay rechazos en exceso que explicar."


def test_no_drop_in_any_slice_keeps_no_row(merchant, partners):
    # Nothing changed, but the finding claims excess declines: no slice carries them.
    rows = load()
    finding = finding_for(rows, excess_declines=300)
    attribution = finding_attribution(finding)
    assert attribution == Attribution(kind="drop", excess_declines=300, rows=[])
    assert attribution_sentence(store(finding, attribution), language="en") == (
        "No slice explains the 300 excess declines."
    )


def test_hostile_labels_and_odd_stored_rows_never_break_the_sentence(merchant, partners):
    partners["bbva-mx"].name = "<script>alert(1)</script> %(x)s {0} 100 %"
    partners["bbva-mx"].save()
    rows = load(BBVA_DROP)
    finding = finding_for(rows)
    store(finding, finding_attribution(finding))
    sentence = attribution_sentence(finding, language="en")
    assert sentence.startswith("Issuer <script>alert(1)</script> %(x)s {0} 100 % (BIN 415231), code 91, explains")

    for stored in (
        {"not": "a list"},
        ["a string"],
        [{"dimension": 5, "explained": "NaN", "codes": "91", "bin_prefix": None}],
        [{"dimension": "network", "key": "<b>", "explained": 1e308 * 10, "codes": [{"nope": 1}, "x"]}],
        [{"dimension": "issuer", "label": {"a": 1}, "explained": 1e307, "bin_prefix": 415231, "codes": [{"code": 91}]}],
    ):
        finding.attribution = stored
        for language in ("en", "es"):
            assert attribution_sentence(finding, language=language)
    finding.attribution_kind = AttributionKind.MIX_SHIFT
    finding.attribution = [{"share_change": "bad"}]
    assert "+0 pp" in attribution_sentence(finding, language="en")
    finding.attribution = [{"label": "X", "share_change": -1e307}]
    assert "(-100 pp de los intentos)" in attribution_sentence(finding, language="es")


def test_suppressed_baseline_buckets_are_left_out(merchant, partners):
    # A week of the baseline where BBVA México was already down, suppressed as a known test:
    # without the suppression the baseline would hide half of the drop.
    early = tuple(
        dataclasses.replace(item, start=item.start - timedelta(weeks=1), end=item.end - timedelta(weeks=1))
        for item in BBVA_DROP
    )
    rows = load(BBVA_DROP + early)
    finding = finding_for(rows)
    parent = finding.segment
    kept = finding_attribution(finding).rows[0]
    Suppression.objects.create(
        segment=parent, start=WINDOW - timedelta(weeks=1), end=WINDOW - timedelta(weeks=1) + HOUR, reason="test"
    )
    suppressed = finding_attribution(finding).rows[0]
    assert suppressed.label == "BBVA México"
    assert suppressed.rate_change < kept.rate_change - 0.02


def test_surprise_and_the_decomposition_add_up():
    assert surprise({"a": 10, "b": 0}, {"a": 0, "b": 10}) == pytest.approx(1.0)
    assert surprise({"a": 5}, {"a": 9}) == 0.0
    assert surprise({}, {"a": 1}) == 0.0
    from monitoring.attribution import Counts

    pairs = [(Counts(1000, 900), Counts(1000, 750)), (Counts(1000, 700), Counts(3000, 2100))]
    mix = decompose(pairs, default_rate=0.8)
    assert mix.drop == pytest.approx(mix.rate_effect * -1 - mix.mix_effect)
    assert not mix.is_mix_shift
    only_mix = decompose(
        [(Counts(1000, 900), Counts(1000, 900)), (Counts(1000, 700), Counts(3000, 2100))], default_rate=0.8
    )
    assert only_mix.rate_effect == pytest.approx(0.0) and only_mix.is_mix_shift


def test_over_dispersion_widens_the_noise_a_mix_shift_is_judged_against():
    from monitoring.attribution import Counts

    # Volume moves to the weak slice and the strong one loses 7 pp: 4 binomial standard errors.
    pairs = [
        (Counts(10000, 9000, buckets=4), Counts(10000, 8300, buckets=4)),
        (Counts(10000, 7000, buckets=4), Counts(30000, 21000, buckets=4)),
    ]
    binomial = decompose(pairs, default_rate=0.8)
    assert -binomial.mix_effect >= 2 / 3 * binomial.drop and abs(binomial.rate_effect) > 3 * binomial.rate_error
    assert not binomial.is_mix_shift
    # Buckets that vary more than binomially (the detector's estimate) make the same change noise.
    dispersed = decompose(pairs, default_rate=0.8, dispersions=[0.003, 0.003])
    assert dispersed.rate_error > 2 * binomial.rate_error and dispersed.is_mix_shift


@pytest.mark.parametrize(
    ("regression", "dimension", "key", "code"),
    [
        (generator.RouteOutage(start=WINDOW, end=WINDOW + HOUR, route="prosa", failure=0.2), "route", "prosa", "91"),
        (generator.ThreeDSFailure(start=WINDOW, end=WINDOW + HOUR, extra=0.3), "entry_mode", "3ds", "1A"),
    ],
)
def test_a_route_outage_names_the_route_and_a_3ds_failure_the_entry_mode(
    merchant, partners, regression, dimension, key, code
):
    # On the ordinary eighteen-slice mix, where five slices of three issuers are 3DS.
    for extra in ("nu-mx", "banamex"):
        PartnerFactory(code=extra, kind=Partner.Kind.ISSUER)
    finding = finding_for(load((regression,), profile=dataclasses.replace(PROFILE, slices=generator.MX_SLICES)))
    attribution = finding_attribution(finding)
    top = attribution.rows[0]
    assert attribution.kind == "drop" and top.dimension == dimension and top.explained >= 0.8
    if dimension == "route":
        assert top.partner_id == partners[key].pk and top.label == "Prosa"
    else:
        assert top.key == key and top.partner_id is None
    assert top.codes[0]["code"] == code
    store(finding, attribution)
    assert attribution_sentence(finding, language="es").startswith(
        "La ruta Prosa" if dimension == "route" else "El modo de entrada Comercio electrónico con 3DS"
    )


def test_a_decline_code_spike_attributes_the_excess_of_its_own_code(merchant, partners):
    spike = (IssuerCodeSpike(start=WINDOW, end=WINDOW + HOUR, issuer="banorte", funding="debit", code="51", extra=0.1),)
    rows = load(spike)
    finding = finding_for(rows, kind=FindingKind.DECLINE_CODE_SPIKE, decline_code="51", excess_declines=900)
    attribution = finding_attribution(finding)
    top = attribution.rows[0]
    assert attribution.kind == "drop" and (top.dimension, top.label) == ("issuer", "Banorte")
    assert top.explained >= 0.8 and top.codes == []
    store(finding, attribution)
    assert attribution_sentence(finding, language="en").startswith("Issuer Banorte (BIN 493172), code 51, explains")
