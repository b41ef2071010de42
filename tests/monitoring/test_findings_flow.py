"""From finding to incident: the Prosa outage across merchants lands on one incident with Prosa
engaged and the impact measured from the buckets; refresh, recovery, mix shifts, people opening
and attaching, and the timeline in both languages. Findings are written as the detector writes
them (one per hit merchant segment, then its hook)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from accounts.services import api_token_create
from cases.models import AffectedMerchant, CaseEvent, Incident
from cases.services import incident_transition
from cases.templatetags.cases_extras import event_sentence
from cases.timeline.sentences import person
from monitoring import findings
from monitoring.attribution import attribution_rows_json, finding_attribution
from monitoring.findings import (
    DETECTOR_USERNAME,
    finding_attach,
    finding_escalated,
    finding_fingerprint,
    finding_open_incident,
    finding_opened,
    finding_recovered,
    finding_refreshed,
)
from monitoring.generator import RouteOutage, generate, profile
from monitoring.models import Finding, FindingState, Segment
from monitoring.services import buckets_upsert
from partners.models import Partner
from tests.factories import IncidentFactory, MerchantFactory, PartnerFactory
from tests.monitoring.findings_support import wire_row

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics/buckets/"
MINUTES = 15
ACCOUNTS = ("acct_PROSAHIT01", "acct_PROSAHIT02", "acct_PROSAHIT03")
SENTENCES = {
    "en": "Prosa explains 95 % of the excess declines, with codes 91 and 96.",
    "es": "Prosa explica el 95 % de las declinaciones en exceso, con los códigos 91 y 96.",
}


def _floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % MINUTES, second=0, microsecond=0)


class Outage:
    """Three merchants with two Prosa slices and an E-Global slice; four weeks of baseline slots
    loaded through the upsert, the outage's buckets posted through the API."""

    def __init__(self, api: APIClient) -> None:
        self.api = api
        self.prosa = PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)
        PartnerFactory(code="e-global", name="E-Global", kind=Partner.Kind.SWITCH)
        PartnerFactory(code="bbva-mx", name="BBVA México", kind=Partner.Kind.ISSUER)
        self.merchants = [MerchantFactory(account_id=account, name=f"Tienda {n}") for n, account in enumerate(ACCOUNTS)]
        self.profiles = [profile(account, 20_000, count=3) for account in ACCOUNTS]
        # The window: four buckets ending two buckets ago; a fifth one arrives later.
        self.end = _floor(datetime.now(UTC)) - timedelta(minutes=MINUTES)
        self.start = self.end - timedelta(minutes=4 * MINUTES)
        self.regression = RouteOutage(start=self.start, end=self.end + timedelta(minutes=MINUTES))
        self.posted: list[dict] = []
        self.baseline: list[dict] = []
        for week in range(1, 5):
            start = self.start - timedelta(weeks=week)
            rows = [wire_row(row) for row in self._rows(start, start + timedelta(minutes=5 * MINUTES))]
            buckets_upsert(rows, source="test", now=start + timedelta(hours=2))
            self.baseline += rows

    def _rows(self, start: datetime, end: datetime):
        return generate(self.profiles, start=start, end=end, regressions=[self.regression], holidays=frozenset())

    def post(self, start: datetime, end: datetime) -> None:
        rows = [wire_row(row) for row in self._rows(start, end)]
        response = self.api.post(URL, rows, format="json", HTTP_IDEMPOTENCY_KEY=f"outage-{start.isoformat()}")
        assert response.status_code == 200, response.content
        self.posted += rows

    def segments(self, merchant) -> list[Segment]:
        """The merchant's slices routed through Prosa: the segments the outage hits."""
        return list(Segment.objects.filter(merchant=merchant, route=self.prosa).order_by("bin_prefix"))

    def segment(self, merchant) -> Segment:
        return self.segments(merchant)[0]

    def expected(
        self, merchant, end: datetime, segments: list[Segment] | None = None, *, merchant_level: bool = False
    ) -> dict:
        """The impact computed by hand from the rows posted and loaded (Decimal, exact), over
        `segments` (every Prosa slice of the merchant unless given), or over the merchant-level
        rows."""
        prefixes = {segment.bin_prefix for segment in segments or self.segments(merchant)}

        def prosa(row) -> bool:
            if row["merchant"] != merchant.account_id:
                return False
            if merchant_level:
                return row["bin_prefix"] == "" and row["route"] == ""
            return row["route"] == "prosa" and row["bin_prefix"] in prefixes

        def moment(row) -> datetime:
            return datetime.fromisoformat(row["bucket_start"])

        window = [r for r in self.posted if prosa(r) and self.start <= moment(r) < end]
        slots = [
            (self.start - timedelta(weeks=week), end - timedelta(weeks=week)) for week in range(1, 5)
        ]  # same time of week
        base = [r for r in self.baseline if prosa(r) and any(a <= moment(r) < b for a, b in slots)]
        attempts = sum(r["attempts"] for r in window)
        approvals = sum(r["approvals"] for r in window)
        amount = sum((Decimal(r["amount_attempted"]) for r in window), Decimal(0))
        four = Decimal("0.0001")
        baseline = (Decimal(sum(r["approvals"] for r in base)) / sum(r["attempts"] for r in base)).quantize(
            four, ROUND_HALF_EVEN
        )
        observed = (Decimal(approvals) / attempts).quantize(four, ROUND_HALF_EVEN)
        failed = attempts - approvals
        excess = failed - int((attempts * (1 - baseline)).to_integral_value(ROUND_HALF_UP))
        return {
            "baseline_rate": baseline,
            "observed_rate": observed,
            "attempts": attempts,
            "failed_attempts": failed,
            "excess_declines": excess,
            "volume_at_risk": (excess * amount / attempts).quantize(Decimal("0.01"), ROUND_HALF_UP),
        }


def _finding(segment: Segment, *, start, end, state=FindingState.ALERTED, partner=None, kind="drop", **extra):
    rows = []
    if partner is not None:
        rows = [
            {
                "dimension": "route",
                "key": str(partner.pk),
                "label": partner.name,
                "partner_id": partner.pk,
                "bin_prefix": "",
                "explained": 0.95,
                "surprise": 0.4,
                "excess_declines": 300,
                "codes": [{"code": "91", "explained": 0.6}, {"code": "96", "explained": 0.35}],
            }
        ]
    values = {
        "kind": "approval_drop",
        "segment": segment,
        "state": state,
        "window_start": start,
        "window_end": end,
        "baseline_rate": Decimal("0.860000"),
        "observed_rate": Decimal("0.560000"),
        "attempts": 1000,
        "approvals": 560,
        "excess_declines": 300,
        "p_value": 1e-9,
        "q_value": 1e-8,
        "attribution": rows,
        "attribution_kind": kind,
        "alerted_at": end if state == FindingState.ALERTED else None,
    }
    values.update(extra)
    return Finding.objects.create(**values)


@pytest.fixture
def sentences(monkeypatch):
    """The attribution's sentence, as the attribution module will write it (a placeholder now)."""
    monkeypatch.setattr(findings, "attribution_sentence", lambda finding, *, language: SENTENCES[language])


@pytest.fixture
def outage(analyst):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=analyst, name='monitor')[1]}")
    data = Outage(client)
    data.post(data.start, data.end)
    return data


def _sentence(event: CaseEvent, language: str) -> str:
    with translation.override(language):
        return str(event_sentence(event))


def _hits(outage: Outage) -> list[Finding]:
    """One finding per hit segment: both Prosa slices of each merchant."""
    return [
        _finding(segment, start=outage.start, end=outage.end, partner=outage.prosa)
        for merchant in outage.merchants
        for segment in outage.segments(merchant)
    ]


def test_a_prosa_outage_on_three_merchants_opens_one_sev1_incident_with_prosa_and_hand_computed_impact(
    outage, sentences
):
    hits = _hits(outage)
    assert len(hits) == 6
    for finding in hits:
        finding_opened(finding)
        finding_escalated(finding)

    incident = Incident.objects.get()
    assert incident.severity == "sev1"
    assert incident.fingerprint == finding_fingerprint(partner=outage.prosa, account_id="")
    assert list(incident.engagements.values_list("partner__code", flat=True)) == ["prosa"]
    assert set(Finding.objects.values_list("incident", flat=True)) == {incident.pk}
    assert {"91", "96"} <= set(incident.decline_codes)
    rows = {row.merchant_id: row for row in AffectedMerchant.objects.filter(incident=incident)}
    assert set(rows) == {m.pk for m in outage.merchants}
    for merchant in outage.merchants:
        expected = outage.expected(merchant, outage.end)
        row = rows[merchant.pk]
        assert {name: getattr(row, name) for name in expected} == expected
        assert expected["excess_declines"] > 0  # the database's generated column agrees with the hand figure

    linked = incident.events.filter(kind=CaseEvent.Kind.FINDING_LINKED)
    assert linked.count() == 6
    assert {event.actor.username for event in linked} == {DETECTOR_USERNAME}
    first = linked.first()
    english, spanish = _sentence(first, "en"), _sentence(first, "es")
    assert english.startswith("Detector alert on Tienda")
    assert english.endswith(SENTENCES["en"])
    assert spanish.startswith("Alerta del detector en Tienda")
    assert spanish.endswith(SENTENCES["es"])
    assert "Debit" in english and "Débito" in spanish  # the segment in the reader's language
    assert "Decline codes, expected from the baseline → seen: 9" in english  # 91 or 96 rose most
    assert "Códigos de rechazo, esperados según la línea base → vistos: 9" in spanish
    assert first.data["codes_during"]["91"] > first.data["codes_before"].get("91", 0)


def test_further_buckets_refresh_the_impact_and_recovery_proposes_resolution(outage, django_assert_max_num_queries):
    hits = _hits(outage)
    for finding in hits:
        finding_escalated(finding)
    incident = Incident.objects.get()
    later = outage.end + timedelta(minutes=MINUTES)
    outage.post(outage.end, later)

    merchant = outage.merchants[0]
    for grown in hits[:2]:  # the merchant's two Prosa slices
        grown.window_end = later
        grown.save()
        # Per finding per run, whatever the number of buckets: most are the intake's own, and a
        # refresh that brings a new decline code or a higher severity also updates the incident.
        with django_assert_max_num_queries(90):
            finding_refreshed(grown)

    row = AffectedMerchant.objects.get(incident=incident, merchant=merchant)
    expected = outage.expected(merchant, later)
    assert {name: getattr(row, name) for name in expected} == expected
    assert expected["attempts"] > outage.expected(merchant, outage.end)["attempts"]
    assert Incident.objects.count() == 1

    for finding in hits:
        finding.state, finding.recovered_at = FindingState.RECOVERED, later
        finding.save()
        finding_recovered(finding)

    incident.refresh_from_db()
    assert incident.status not in ("resolved", "closed")  # proposed, never done by itself
    proposals = list(incident.events.filter(kind=CaseEvent.Kind.RESOLUTION_PROPOSED))
    assert len(proposals) == 6
    assert proposals[-1].data["open_findings"] == 0
    assert _sentence(proposals[-1], "en").startswith("The approval rate of Tienda")
    assert _sentence(proposals[-1], "en").endswith(
        "is back within 1 pp of the baseline for 4 buckets (56.00 % against 86.00 %): the incident can be resolved."
    )
    assert "dentro de 1 pp de la línea base durante 4 intervalos" in _sentence(proposals[-1], "es")
    assert "se puede resolver" in _sentence(proposals[-1], "es")


def test_a_second_alert_in_the_same_window_updates_the_incident_instead_of_opening_another(outage):
    finding = _finding(outage.segment(outage.merchants[0]), start=outage.start, end=outage.end, partner=outage.prosa)
    finding_escalated(finding)
    finding_escalated(finding)  # the detector says it again
    other = _finding(outage.segment(outage.merchants[1]), start=outage.start, end=outage.end, partner=outage.prosa)
    finding_escalated(other)

    assert Incident.objects.count() == 1
    assert AffectedMerchant.objects.count() == 2
    assert Incident.objects.get().engagements.count() == 1


def test_a_milder_refresh_replaces_the_figures_but_never_lowers_the_severity(outage):
    finding = _finding(outage.segment(outage.merchants[0]), start=outage.start, end=outage.end, partner=outage.prosa)
    finding_escalated(finding)
    incident = Incident.objects.get()
    assert incident.severity == "sev1"

    # Corrected buckets put the window a week back, where the slice was healthy.
    finding.window_start -= timedelta(weeks=1)
    finding.window_end -= timedelta(weeks=1)
    finding.save()
    finding_refreshed(finding)

    incident.refresh_from_db()
    assert incident.severity == "sev1"
    row = AffectedMerchant.objects.get(incident=incident)
    assert row.observed_rate > Decimal("0.75") and row.excess_declines < 200  # the healthy week's figures


def test_a_mix_shift_engages_no_partner_and_says_why(analyst):
    merchant = MerchantFactory(name="Tienda Mezcla")
    segment = Segment.objects.create(merchant=merchant, dimensions_hash="mix-shift-merchant-level")
    end = _floor(datetime.now(UTC))
    finding = _finding(segment, start=end - timedelta(hours=1), end=end, kind="mix_shift")

    finding_escalated(finding)

    incident = Incident.objects.get()
    assert incident.engagements.count() == 0
    assert incident.fingerprint == finding_fingerprint(partner=None, account_id=merchant.account_id)
    event = incident.events.get(kind=CaseEvent.Kind.FINDING_LINKED)
    assert event.data["partner"] == "" and event.data["attribution_kind"] == "mix_shift"
    english, spanish = _sentence(event, "en").lower(), _sentence(event, "es").lower()
    assert "mix shift" in english and "cambio de mezcla" in spanish  # the attribution's sentence, or ours


def test_a_person_opens_an_incident_from_a_watch_finding_and_the_timeline_says_who(outage, analyst, outsider):
    finding = _finding(
        outage.segment(outage.merchants[0]), start=outage.start, end=outage.end, partner=outage.prosa, state="watch"
    )
    with pytest.raises(PermissionDenied):
        finding_open_incident(finding=finding, actor=outsider)

    incident = finding_open_incident(finding=finding, actor=analyst)

    assert incident.engagements.get().partner == outage.prosa
    event = incident.events.get(kind=CaseEvent.Kind.FINDING_LINKED)
    assert event.actor == analyst
    assert _sentence(event, "en").startswith(f"{person(analyst)} opened the incident from a detector finding")
    # Opening it again returns the same incident; the detector's later alert updates it.
    assert finding_open_incident(finding=finding, actor=analyst) == incident
    finding.state = FindingState.ALERTED
    finding.save()
    finding_escalated(finding)
    assert Incident.objects.count() == 1


def test_a_person_attaches_a_finding_to_an_open_incident(outage, analyst, sentences):
    incident = IncidentFactory(status="investigating")
    finding = _finding(outage.segment(outage.merchants[2]), start=outage.start, end=outage.end, partner=outage.prosa)

    finding_attach(finding=finding, incident=incident, actor=analyst)

    finding.refresh_from_db()
    assert finding.incident == incident
    row = AffectedMerchant.objects.get(incident=incident)
    assert row.merchant == outage.merchants[2]
    only = [finding.segment]
    assert row.excess_declines == outage.expected(outage.merchants[2], outage.end, only)["excess_declines"]
    event = incident.events.get(kind=CaseEvent.Kind.FINDING_LINKED)
    assert _sentence(event, "es").endswith(SENTENCES["es"])
    closed = IncidentFactory(status="closed")
    other = _finding(outage.segment(outage.merchants[1]), start=outage.start, end=outage.end, partner=outage.prosa)
    with pytest.raises(ValidationError):
        finding_attach(finding=other, incident=closed, actor=analyst)


def test_the_incident_page_shows_the_proposal_with_a_resolve_button_on_the_status_change_path(client, analyst):
    merchant = MerchantFactory(name="Tienda Recuperada")
    segment = Segment.objects.create(merchant=merchant, dimensions_hash="recovered-merchant-level")
    end = _floor(datetime.now(UTC))
    finding = _finding(segment, start=end - timedelta(hours=1), end=end, kind="mix_shift")
    finding_escalated(finding)
    incident = incident_transition(incident=Incident.objects.get(), actor=analyst, to="investigating")
    page = reverse("cases:incident_detail", args=[incident.reference])
    client.force_login(analyst)
    assert "resolution-proposal" not in client.get(page).content.decode()

    finding.state, finding.recovered_at = FindingState.RECOVERED, end
    finding.save()
    finding_recovered(finding)

    html = client.get(page).content.decode()
    assert "resolution-proposal" in html and "the incident can be resolved" in html
    response = client.post(reverse("cases:incident_transition", args=[incident.reference]), {"to": "resolved"})
    assert response.status_code in (200, 302)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    changed = incident.events.filter(kind=CaseEvent.Kind.STATUS_CHANGED).latest("created_at")
    assert changed.actor == analyst
    assert "resolution-proposal" not in client.get(page).content.decode()


def test_merchant_level_findings_attributed_to_prosa_by_the_attribution_land_on_one_incident(outage):
    """The detector's other path: the drop found on each merchant as a whole, the attribution
    (the real one) naming the Prosa route as the top slice, the partner engaged from that row."""
    for merchant in outage.merchants:
        hand = outage.expected(merchant, outage.end, merchant_level=True)
        segment = Segment.objects.get(merchant=merchant, parent__isnull=True)
        finding = _finding(
            segment,
            start=outage.start,
            end=outage.end,
            baseline_rate=hand["baseline_rate"],
            observed_rate=hand["observed_rate"],
            attempts=hand["attempts"],
            approvals=hand["attempts"] - hand["failed_attempts"],
            excess_declines=hand["excess_declines"],
            attribution_kind="",
        )
        attribution = finding_attribution(finding)
        finding.attribution, finding.attribution_kind = attribution_rows_json(attribution), attribution.kind
        finding.save()
        assert finding.attribution[0]["partner_id"] == outage.prosa.pk  # the attribution's top slice
        finding_escalated(finding)

    incident = Incident.objects.get()
    assert list(incident.engagements.values_list("partner__code", flat=True)) == ["prosa"]
    for merchant in outage.merchants:
        row = AffectedMerchant.objects.get(incident=incident, merchant=merchant)
        expected = outage.expected(merchant, outage.end, merchant_level=True)
        assert {name: getattr(row, name) for name in expected} == expected
    event = incident.events.filter(kind=CaseEvent.Kind.FINDING_LINKED).first()
    assert event.data["sentence_en"] and event.data["sentence_es"] != event.data["sentence_en"]
    assert "Prosa" in event.data["sentence_en"] and "Prosa" in event.data["sentence_es"]  # the attribution's own
    assert _sentence(event, "en").endswith(event.data["sentence_en"])
    assert _sentence(event, "es").endswith(event.data["sentence_es"])


def test_a_recovered_merchant_level_finding_still_gives_the_merchant_its_figures(outage):
    """A run catching up on hours of data recovers the merchant-level finding before it links a
    slice's: the merchant keeps its whole figures, not the slice's alone."""
    merchant = outage.merchants[0]
    whole = Segment.objects.get(merchant=merchant, parent__isnull=True)
    level = _finding(whole, start=outage.start, end=outage.end, partner=outage.prosa)
    finding_escalated(level)
    level.state, level.recovered_at = FindingState.RECOVERED, outage.end
    level.save()
    finding_recovered(level)

    finding_escalated(_finding(outage.segment(merchant), start=outage.start, end=outage.end, partner=outage.prosa))

    row = AffectedMerchant.objects.get(merchant=merchant)
    expected = outage.expected(merchant, outage.end, merchant_level=True)
    assert {name: getattr(row, name) for name in expected} == expected
