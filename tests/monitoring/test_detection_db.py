"""The detector against the database: idempotent runs, late batches, the hour test, suppressions
and holidays, constant queries, findings and monitors written, the beat task on a real worker."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring import generator as gen
from monitoring.detection import core
from monitoring.detection.runner import detection_run, dispersion_estimate, evaluate_buckets
from monitoring.models import DetectorRun, Finding, MonitorSettings, Segment, SegmentMonitor, Suppression
from monitoring.services import buckets_upsert
from partners.models import BusinessCalendar, Holiday, Partner
from tests.factories import MerchantFactory, PartnerFactory

pytestmark = pytest.mark.django_db

ACCOUNT = "acct_DETECT0001"
# A Tuesday; the data runs from one week and a day before to END.
END = datetime(2026, 6, 10, 0, 0, tzinfo=UTC)
START = END - timedelta(days=8)
BIG = gen.Slice("415231", "visa", "debit", "ecommerce", 0.8, 0.9, gen.Decimal("500.00"), "bbva-mx", "prosa")
SMALL = gen.Slice("402766", "visa", "prepaid", "ecommerce", 0.03, 0.85, gen.Decimal("240.00"))


@pytest.fixture(autouse=True)
def _settled_at_once(settings):
    """The runs below pass the same `now` as the batches they read: no settling time."""
    settings.PAYHEALTH_DETECTION_SETTLE_SECONDS = 0


@pytest.fixture
def desk(db):
    merchant = MerchantFactory(account_id=ACCOUNT, name="Tienda Detectada")
    PartnerFactory(code="bbva-mx", name="BBVA México", kind=Partner.Kind.ISSUER)
    PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)
    MonitorSettings.objects.create(baseline_weeks=1)  # one week of history keeps the data small
    return merchant


def _profile(peak=2500, slices=(BIG,)):
    return gen.MerchantProfile(ACCOUNT, peak, tuple(slices))


def _load(start, end, *, regressions=(), holidays=frozenset(), now=None, profile=None, seed=3):
    rows = list(
        gen.generate(
            [profile or _profile()], start=start, end=end, seed=seed, regressions=regressions, holidays=holidays
        )
    )
    return buckets_upsert(rows, source="test", now=now or end)


def _drop_findings():
    return list(Finding.objects.filter(kind="approval_drop").order_by("pk"))


def _outage(start, end):
    return gen.RouteOutage(start=start, end=end, route="prosa", failure=0.2)


def test_a_drop_opens_a_finding_then_alerts_and_recovers_with_the_monitor_following(desk):
    outage_start = END - timedelta(hours=8)
    _load(START, END, regressions=[_outage(outage_start, outage_start + timedelta(hours=2))])

    run = detection_run(now=END)

    assert run.buckets > 0 and run.tests >= run.buckets and run.findings_opened >= 1
    child = Segment.objects.get(parent__isnull=False)
    (finding,) = Finding.objects.filter(segment=child, kind="approval_drop")
    assert finding.state == "recovered" and finding.alerted_at is not None and finding.recovered_at is not None
    assert outage_start - timedelta(minutes=15) <= finding.started_at <= outage_start + timedelta(minutes=15)
    assert finding.window_start >= outage_start - timedelta(minutes=15)
    assert finding.window_end <= outage_start + timedelta(hours=2, minutes=15)
    assert finding.baseline_rate - finding.observed_rate > gen.Decimal("0.1")
    assert finding.baseline_rate.as_tuple().exponent == -6
    assert finding.excess_declines > 0
    monitor = SegmentMonitor.objects.get(segment=child)
    assert monitor.state == "ok" and monitor.last_bucket_start == END - timedelta(minutes=15)
    assert monitor.baseline_rate is not None and monitor.observed_rate is not None


def test_running_again_or_reposting_a_batch_changes_nothing(desk):
    _load(START, END, regressions=[_outage(END - timedelta(hours=1), END)])
    first = detection_run(now=END)
    findings = [(f.pk, f.state, f.window_end, f.attempts, f.updated_at) for f in Finding.objects.all()]
    monitors = [
        (m.segment_id, m.state, m.cusum, m.last_bucket_start, m.updated_at) for m in SegmentMonitor.objects.all()
    ]
    assert first.findings_opened >= 1

    second = detection_run(now=END + timedelta(minutes=5))
    again = _load(END - timedelta(hours=3), END, regressions=[_outage(END - timedelta(hours=1), END)])
    third = detection_run(now=END + timedelta(minutes=10))

    assert again.unchanged == again.rows and again.inserted == again.updated == 0
    for run in (second, third):
        assert (run.buckets, run.tests, run.findings_opened, run.findings_updated) == (0, 0, 0, 0)
        assert run.watermark == first.watermark
    assert [(f.pk, f.state, f.window_end, f.attempts, f.updated_at) for f in Finding.objects.all()] == findings
    assert [
        (m.segment_id, m.state, m.cusum, m.last_bucket_start, m.updated_at) for m in SegmentMonitor.objects.all()
    ] == monitors


def test_a_late_or_corrected_batch_is_evaluated_again(desk):
    _load(START, END)
    detection_run(now=END)
    assert not _drop_findings()

    # Two buckets of three hours ago are corrected: a switch failed then after all.
    late = END - timedelta(hours=3)
    rows = list(
        gen.generate(
            [_profile()],
            start=late,
            end=late + timedelta(minutes=30),
            seed=3,
            regressions=[gen.RouteOutage(start=late, end=late + timedelta(minutes=30), route="prosa", failure=0.5)],
            holidays=frozenset(),
        )
    )
    result = buckets_upsert(rows, source="test", now=END + timedelta(minutes=5))
    run = detection_run(now=END + timedelta(minutes=5))

    assert result.updated == 4  # two buckets of the slice and of the merchant-level segment
    assert run.buckets == 4 and run.findings_opened >= 1
    (finding, *_) = _drop_findings()
    assert finding.window_start == late and finding.state == "watch"  # late buckets move no state
    assert SegmentMonitor.objects.get(segment=finding.segment).last_bucket_start == END - timedelta(minutes=15)


def test_a_60_attempt_segment_is_tested_only_hourly(desk):
    profile = _profile(peak=2000, slices=(gen.replace(SMALL, share=0.03),))  # about 60 attempts a bucket by day
    _load(START, END, profile=profile)
    child = Segment.objects.get(parent__isnull=False)
    day = END - timedelta(hours=8)  # 10:00 in Mexico City (16:00 UTC): daytime volume
    pairs = [(child.pk, day + timedelta(minutes=15 * k)) for k in range(8)]

    results, _ = evaluate_buckets(pairs, now=END)

    tested = [int(t) for t in results.test[: len(results.test)]]
    assert core.BUCKET not in tested
    assert tested.count(core.HOUR) == 2  # the two hour ends among the eight buckets


def test_a_suppressed_outage_raises_nothing_and_the_same_outage_unsuppressed_does(desk):
    outage = _outage(END - timedelta(hours=2), END)
    _load(START, END, regressions=[outage])
    merchant_level = Segment.objects.get(parent__isnull=True)
    suppression = Suppression.objects.create(
        segment=merchant_level, start=outage.start, end=outage.end, reason="Planned switch maintenance"
    )

    run = detection_run(now=END)

    assert run.findings_opened == 0 and not Finding.objects.exists()
    suppression.delete()
    DetectorRun.objects.all().delete()
    SegmentMonitor.objects.all().delete()
    assert detection_run(now=END).findings_opened >= 1


def test_a_bank_holiday_with_40_percent_less_volume_raises_nothing(desk):
    holiday = date(2026, 6, 8)  # a Monday, in the last week of data
    calendar = BusinessCalendar.objects.get(code="mx-banking")
    Holiday.objects.update_or_create(calendar=calendar, date=holiday, defaults={"name_en": "Test holiday"})
    _load(START, END, holidays=frozenset({holiday}))

    run = detection_run(now=END)

    assert not Finding.objects.exists()
    assert run.buckets > 0
    # Without the calendar's holiday the same data is tested on that day, and its buckets feed baselines.
    Holiday.objects.filter(calendar=calendar, date=holiday).delete()
    DetectorRun.objects.all().delete()
    SegmentMonitor.objects.all().delete()
    assert detection_run(now=END).buckets > run.buckets


def test_rows_still_settling_wait_for_the_next_run(desk, settings):
    settings.PAYHEALTH_DETECTION_SETTLE_SECONDS = 60
    _load(START, END)

    early = detection_run(now=END + timedelta(seconds=59))
    settled = detection_run(now=END + timedelta(seconds=60))

    assert (early.segments, early.watermark) == (0, None)
    assert settled.segments == 2 and settled.watermark == END


def test_a_run_while_another_holds_the_lock_is_skipped(desk):
    import psycopg

    from monitoring.detection import runner
    from tests.support import database_url_for_workers

    _load(START, END)
    with psycopg.connect(database_url_for_workers()) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", [runner._LOCK_KEY])
        assert detection_run(now=END) is None
    assert not DetectorRun.objects.exists()
    assert detection_run(now=END).segments == 2


def test_a_disabled_merchant_is_skipped(desk):
    MonitorSettings.objects.create(merchant=desk, enabled=False)
    _load(START, END, regressions=[_outage(END - timedelta(hours=2), END)])

    run = detection_run(now=END)

    assert run.buckets == 0 and not Finding.objects.exists()


def test_a_run_takes_the_same_number_of_queries_for_more_segments(desk):
    _load(START, END - timedelta(hours=1))
    detection_run(now=END - timedelta(hours=1))
    _load(END - timedelta(hours=1), END)
    with CaptureQueriesContext(connection) as few:
        detection_run(now=END)

    wide = gen.profile(ACCOUNT, 2500, issuers=["bbva-mx"], routes=["prosa"], count=6)
    _load(START, END + timedelta(hours=1), profile=wide, now=END + timedelta(hours=1))
    with CaptureQueriesContext(connection) as many:
        run = detection_run(now=END + timedelta(hours=1))

    assert run.segments == 7
    assert len(many) == len(few), [q["sql"][:80] for q in many.captured_queries]


def test_the_nightly_dispersion_is_floored_and_stored(desk):
    _load(START, END)

    assert dispersion_estimate(now=END) == 2

    for monitor in SegmentMonitor.objects.all():
        assert monitor.dispersion >= 0.0001 and monitor.dispersion_estimated_at == END


def test_the_detect_command_runs_and_replays(desk, capsys):
    from django.core.management import call_command

    _load(START, END)
    call_command("detect", "--replay", "2026-06-09T20:00Z", "2026-06-09T21:00Z")
    assert DetectorRun.objects.count() == 4
    assert "4 buckets replayed" in capsys.readouterr().out


# --- the beat task on a real worker -------------------------------------------------------------


@pytest.fixture(scope="module")
def detection_worker(django_db_setup, tmp_path_factory):
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

    queue = f"detect-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("detect-worker") / "worker.log"
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


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_runs_on_a_real_worker(detection_worker, settings):
    from django.utils import timezone

    from monitoring.tasks import detection_run_task

    MerchantFactory(account_id=ACCOUNT, name="Tienda Detectada")
    PartnerFactory(code="bbva-mx", name="BBVA México", kind=Partner.Kind.ISSUER)
    PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)
    now = timezone.now()
    end = now - timedelta(seconds=now.timestamp() % 900)
    _load(end - timedelta(hours=2), end, now=now)
    assert "detect" in settings.CELERY_BEAT_SCHEDULE
    assert settings.CELERY_BEAT_SCHEDULE["detect"]["task"] == "monitoring.detection_run_task"

    from tests.support import wait_for

    sent = detection_run_task.apply_async()
    wait_for(
        lambda: f"[{sent.id}] succeeded" in detection_worker.read_text(), timeout=60, what="the worker to run the task"
    )

    run = DetectorRun.objects.get()  # written by the worker's process
    assert run.segments == 2 and run.watermark is not None  # two hours of data: no baseline yet, nothing tested
    assert SegmentMonitor.objects.count() == 2
    assert "'state': 'ran'" in detection_worker.read_text()
