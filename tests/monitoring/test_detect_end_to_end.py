"""The Prosa outage through the REAL detector: nothing is hand-made but the data.

Four weeks of baseline slots for three merchants come from the generator (fixed seed), the
current buckets are posted to the API with a token, and the detector runs (once on a real
Celery worker through its beat task): one SEV1 incident with Prosa engaged and every hit
merchant affected with the impact computed here from the rows (Decimal, exact), the
attribution's sentence on the timeline in both languages; more outage buckets refresh it;
healthy buckets for `recovery_buckets` runs recover the findings and propose resolution, which
nobody but a person carries out. Webhooks finding.created and finding.recovered are emitted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone, translation
from rest_framework.test import APIClient

from accounts.services import api_token_create
from alerts.models import AlertSeverityRule
from cases.models import AffectedMerchant, CaseEvent, Incident
from cases.templatetags.cases_extras import event_sentence
from monitoring import generator as gen
from monitoring.detection.config import detector_config
from monitoring.detection.runner import detection_run
from monitoring.models import DetectorRun, Finding, FindingState
from monitoring.services import buckets_upsert
from partners.models import Partner
from tests.factories import MerchantFactory, PartnerFactory, WebhookSubscriptionFactory
from tests.monitoring.findings_support import wire_row
from webhooks.models import WebhookDelivery
from webhooks.selectors import SUBSCRIBED_TYPES_KEY

URL = "/api/v1/metrics/buckets/"
STEP = timedelta(minutes=15)
ACCOUNTS = ("acct_E2EPROSA01", "acct_E2EPROSA02", "acct_E2EPROSA03")
WEEKS = 4
SEED = 7
FOUR = Decimal("0.0001")
OUTAGE_BUCKETS = 5  # three, then two more
HEALTHY_BUCKETS = 16  # at most, for every finding to recover


def _outage_start(now: datetime) -> datetime:
    """13:00 in Mexico City (the afternoon's full volume) on the latest day whose outage and
    recovery lie in the past, with neither that day nor its baseline weeks a desk holiday."""
    holidays = gen.desk_holidays()
    day = now.astimezone(gen.LOCAL_TZ).date()
    while True:
        start = datetime.combine(day, time(13, 0), gen.LOCAL_TZ).astimezone(UTC)
        days = [day - timedelta(weeks=week) for week in range(WEEKS + 1)]
        if start + (OUTAGE_BUCKETS + HEALTHY_BUCKETS) * STEP < now and not holidays & set(days):
            return start
        day -= timedelta(days=1)


class Replay:
    """Three merchants on Prosa (two slices) and E-Global (one slice); the baseline weeks loaded
    through the API too, every row kept to compute the figures by hand."""

    def __init__(self, api: APIClient) -> None:
        self.api = api
        self.prosa = PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)
        PartnerFactory(code="e-global", name="E-Global", kind=Partner.Kind.SWITCH)
        PartnerFactory(code="bbva-mx", name="BBVA México", kind=Partner.Kind.ISSUER)
        self.merchants = [MerchantFactory(account_id=a, name=f"Tienda E2E {n}") for n, a in enumerate(ACCOUNTS, 1)]
        self.profiles = [gen.profile(account, 20_000, count=3) for account in ACCOUNTS]
        self.start = _outage_start(timezone.now())
        self.outage = gen.RouteOutage(
            start=self.start, end=self.start + OUTAGE_BUCKETS * STEP, route="prosa", failure=0.5
        )
        self.rows: list[dict] = []
        # The baseline (older than the API's late rows: the upsert behind it): each week's slots
        # around the whole story (normal hour, outage and recovery), ± the slot radius.
        for week in range(1, WEEKS + 1):
            first = self.start - timedelta(weeks=week)
            story = OUTAGE_BUCKETS + HEALTHY_BUCKETS
            rows = [wire_row(row) for row in self._generate(first - 6 * STEP, first + (story + 2) * STEP)]
            buckets_upsert(rows, source="test", now=first + timedelta(hours=8))
            self.rows += rows

    def _generate(self, start: datetime, end: datetime):
        return gen.generate(
            self.profiles, start=start, end=end, seed=SEED, regressions=[self.outage], holidays=frozenset()
        )

    def post(self, start: datetime, end: datetime) -> list[dict]:
        rows = [wire_row(row) for row in self._generate(start, end)]
        response = self.api.post(URL, rows, format="json", HTTP_IDEMPOTENCY_KEY=f"e2e-{start.isoformat()}")
        assert response.status_code == 200, response.content
        self.rows += rows
        return rows

    def expected(self, merchant, *, start: datetime, end: datetime, merchant_level: bool, prefixes=()) -> dict:
        """The merchant's impact over [start, end), by the definitions of docs/findings.md,
        from the rows posted: the merchant-level rows, or those of the given slices."""

        def mine(row) -> bool:
            if row["merchant"] != merchant.account_id:
                return False
            return row["bin_prefix"] == "" if merchant_level else row["bin_prefix"] in prefixes

        def moment(row) -> datetime:
            return datetime.fromisoformat(row["bucket_start"])

        slots = [(start - timedelta(weeks=w), end - timedelta(weeks=w)) for w in range(1, WEEKS + 1)]
        window = [r for r in self.rows if mine(r) and start <= moment(r) < end]
        base = [r for r in self.rows if mine(r) and any(a <= moment(r) < b for a, b in slots)]
        attempts = sum(r["attempts"] for r in window)
        approvals = sum(r["approvals"] for r in window)
        amount = sum((Decimal(r["amount_attempted"]) for r in window), Decimal(0))
        baseline = (Decimal(sum(r["approvals"] for r in base)) / sum(r["attempts"] for r in base)).quantize(
            FOUR, ROUND_HALF_EVEN
        )
        observed = (Decimal(approvals) / attempts).quantize(FOUR, ROUND_HALF_EVEN)
        failed = attempts - approvals
        excess = failed - int((attempts * (1 - baseline)).to_integral_value(ROUND_HALF_UP))
        return {
            "baseline_rate": baseline,
            "observed_rate": observed,
            "attempts": attempts,
            "failed_attempts": failed,
            "excess_declines": excess,
            "volume_at_risk": (max(excess, 0) * amount / attempts).quantize(Decimal("0.01"), ROUND_HALF_UP),
        }


def _severity(drop_pp: Decimal, attempts: int, volume: Decimal) -> str:
    """The leads' rules read by hand: the first (by priority) whose drop and size are met."""
    for rule in AlertSeverityRule.objects.order_by("priority"):
        big = attempts >= rule.min_attempts or (rule.min_volume is not None and volume >= rule.min_volume)
        if drop_pp >= rule.min_drop_pp and big:
            return rule.severity
    return "sev4"


def _sentence(event: CaseEvent, language: str) -> str:
    with translation.override(language):
        return str(event_sentence(event))


@pytest.fixture
def detection_worker(transactional_db, tmp_path):
    from payhealth.celery import app
    from tests.support import (
        celery_routes,
        database_url_for_workers,
        delete_queue,
        start_celery_worker,
        stop_celery_worker,
        subprocess_env,
        wait_for,
        worker_is_ready,
    )

    queue = f"e2e-detect-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(DATABASE_URL=database_url_for_workers(), PAYHEALTH_DETECTION_SETTLE_SECONDS="0")
    process = start_celery_worker(queue=queue, log_path=log, env=env)
    try:
        wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker")
        assert process.poll() is None, log.read_text()
        with celery_routes(app, ["monitoring.detection_run_task"], queue):
            yield log
    finally:
        stop_celery_worker(process)
        delete_queue(app, queue)


@pytest.fixture
def replay(analyst, settings):
    settings.PAYHEALTH_DETECTION_SETTLE_SECONDS = 0  # a run right after a post reads it
    cache.delete(SUBSCRIBED_TYPES_KEY)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=analyst, name='monitor')[1]}")
    return Replay(client)


def _run() -> DetectorRun:
    run = detection_run(now=timezone.now())
    assert run is not None and not run.error
    return run


def _worker_run(log) -> DetectorRun:
    from monitoring.tasks import detection_run_task
    from tests.support import wait_for

    before = DetectorRun.objects.count()
    sent = detection_run_task.apply_async()
    wait_for(lambda: f"[{sent.id}] succeeded" in log.read_text(), timeout=60, what="the worker to run the detector")
    assert DetectorRun.objects.count() == before + 1
    return DetectorRun.objects.latest("pk")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_prosa_outage_replayed_through_the_api_and_the_real_detector(replay, detection_worker, partner_manager):
    WebhookSubscriptionFactory(owner=partner_manager, events=["finding.created", "finding.recovered"])
    start = replay.start
    replay.post(start - 4 * STEP, start)  # an hour of normal traffic
    quiet = _run()
    assert quiet.buckets > 0 and not Finding.objects.exists()

    replay.post(start, start + 3 * STEP)  # the switch fails
    first = _run()

    assert first.findings_opened > 0
    incident = Incident.objects.get()  # exactly one, whatever the number of findings
    assert incident.status not in ("resolved", "closed")
    assert list(incident.engagements.values_list("partner__code", flat=True)) == ["prosa"]
    assert set(Finding.objects.values_list("incident", flat=True)) == {incident.pk}
    assert {"91", "96"} <= set(incident.decline_codes)
    _assert_figures(replay, incident, end=start + 3 * STEP)
    severity = incident.severity
    assert severity == "sev1"

    linked = list(incident.events.filter(kind=CaseEvent.Kind.FINDING_LINKED).order_by("pk"))
    assert len(linked) == Finding.objects.count()
    for event in linked:  # every finding's sentence names Prosa and its code (91 tops the drop)
        code = event.data["decline_code"] or "91"
        english, spanish = _sentence(event, "en"), _sentence(event, "es")
        assert event.data["sentence_en"] and event.data["sentence_es"] != event.data["sentence_en"]
        assert english.endswith(event.data["sentence_en"]) and spanish.endswith(event.data["sentence_es"])
        assert event.data["sentence_en"].startswith("Route Prosa") and f"code {code}," in event.data["sentence_en"]
        assert event.data["sentence_es"].startswith("La ruta Prosa") and f"código {code}," in event.data["sentence_es"]
    created = WebhookDelivery.objects.filter(event_type="finding.created")
    assert created.count() == Finding.objects.count()

    replay.post(start + 3 * STEP, start + OUTAGE_BUCKETS * STEP)  # two more buckets of the outage
    grown = _worker_run(detection_worker)  # the beat task, on a real worker

    assert grown.findings_updated > 0 and grown.findings_opened == 0
    assert Incident.objects.get() == incident
    incident.refresh_from_db()
    _assert_figures(replay, incident, end=start + OUTAGE_BUCKETS * STEP)
    assert incident.severity == severity  # never lowered

    # The switch is back: one healthy bucket per run. Nothing recovers before `recovery_buckets`
    # of them; a slice whose noisy bucket strays past `recovery_within_pp` waits for the next ones.
    needed = detector_config(replay.merchants[0].pk).recovery_buckets
    runs = []
    for k in range(OUTAGE_BUCKETS, OUTAGE_BUCKETS + HEALTHY_BUCKETS):
        replay.post(start + k * STEP, start + (k + 1) * STEP)
        runs.append(_run())
        if len(runs) < needed:
            assert not Finding.objects.filter(state=FindingState.RECOVERED).exists()
        if not Finding.objects.filter(state__in=(FindingState.WATCH, FindingState.ALERTED)).exists():
            break
    assert runs[needed - 1].findings_recovered > 0
    assert set(Finding.objects.values_list("state", flat=True)) == {FindingState.RECOVERED}
    incident.refresh_from_db()
    assert incident.status not in ("resolved", "closed")  # proposed; people resolve
    assert incident.severity == severity
    proposals = list(incident.events.filter(kind=CaseEvent.Kind.RESOLUTION_PROPOSED).order_by("pk"))
    assert len(proposals) == Finding.objects.count()
    assert proposals[-1].data["open_findings"] == 0
    assert _sentence(proposals[-1], "en").endswith("the incident can be resolved.")
    assert "se puede resolver" in _sentence(proposals[-1], "es")
    recovered = WebhookDelivery.objects.filter(event_type="finding.recovered")
    assert recovered.count() == Finding.objects.count()


def _assert_figures(replay: Replay, incident: Incident, *, end: datetime) -> None:
    """Every hit merchant on the incident with the figures computed here from the rows posted,
    over the window of its merchant-level finding (which covers all its slices)."""
    rows = {row.merchant_id: row for row in AffectedMerchant.objects.filter(incident=incident)}
    assert set(rows) == {merchant.pk for merchant in replay.merchants}
    for merchant in replay.merchants:
        whole = Finding.objects.get(segment__merchant=merchant, segment__parent__isnull=True, kind="approval_drop")
        assert (whole.window_start, whole.window_end) == (replay.start, end)
        expected = replay.expected(merchant, start=whole.window_start, end=whole.window_end, merchant_level=True)
        row = rows[merchant.pk]
        assert {name: getattr(row, name) for name in expected} == expected, merchant.account_id
        drop = (expected["baseline_rate"] - expected["observed_rate"]) * 100
        assert _severity(drop, expected["attempts"], expected["volume_at_risk"]) == "sev1"
