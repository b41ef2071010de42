"""The demo's payment data: `seed_demo` loads 35 days idempotently; the replay adds the buckets
just finished, idempotently, and beat runs it only in development."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Max, Min
from django.utils import timezone

from demo import metrics
from demo.desk import seed_desk
from demo.tasks import replay_demo_metrics_task
from monitoring.models import AuthBucket, Segment
from payhealth.settings import base


@pytest.fixture
def small(db, monkeypatch):
    """The demo desk, and one merchant with its three largest slices for payment data: the same
    code path, a fraction of the rows."""
    seed_desk()
    monkeypatch.setattr(metrics, "DEMO_METRICS_MERCHANTS", (("Aerolíneas Quetzal", 900),))
    monkeypatch.setattr(metrics, "SLICES_PER_MERCHANT", 3)


def snapshot() -> list[tuple]:
    return list(AuthBucket.objects.order_by("segment_id", "bucket_start").values_list())


def figures(rows: list[tuple]) -> list[tuple]:
    """The rows without their received and updated times."""
    names = [field.attname for field in AuthBucket._meta.concrete_fields]
    return [tuple(value for name, value in zip(names, row, strict=True) if not name.endswith("_at")) for row in rows]


@pytest.mark.django_db
def test_seed_demo_loads_35_days_once(small):
    call_command("seed_demo", "--no-costs", verbosity=0)
    span = AuthBucket.objects.aggregate(first=Min("bucket_start"), last=Max("bucket_start"))
    anchor = metrics.demo_anchor()
    assert span["first"] == anchor - timedelta(days=35)
    assert span["last"] == anchor - timedelta(minutes=15)
    assert Segment.objects.count() == 4  # the merchant-level segment and three slices
    assert AuthBucket.objects.count() == 4 * 35 * 96
    assert Segment.objects.filter(issuer__code="bbva-mx", route__code="prosa").exists()
    first = snapshot()
    call_command("seed_demo", "--no-costs", verbosity=0)
    assert snapshot() == first  # nothing changed, not even updated_at
    # A bucket lost since comes back with the same figures.
    lost = AuthBucket.objects.filter(bucket_start=anchor - timedelta(days=3))
    assert lost.delete()[0] == 4
    call_command("seed_demo", "--no-costs", verbosity=0)
    assert figures(snapshot()) == figures(first)
    assert snapshot() != first  # the restored rows are new


@pytest.mark.django_db
def test_the_loaded_history_holds_the_prosa_outage(small):
    metrics.seed_demo_metrics(days=3)
    anchor = metrics.demo_anchor()
    outage = next(r for r in metrics.demo_regressions(anchor) if isinstance(r, metrics.generator.RouteOutage))

    def switch_failures(inside: bool) -> float:
        rows = AuthBucket.objects.filter(segment__route__code="prosa")
        rows = rows.filter(bucket_start__gte=outage.start, bucket_start__lt=outage.end)
        if not inside:
            rows = AuthBucket.objects.filter(segment__route__code="prosa", bucket_start__lt=outage.start)
        attempts = sum(row.attempts for row in rows)
        return sum(row.decline_codes.get("91", 0) + row.decline_codes.get("96", 0) for row in rows) / attempts

    assert switch_failures(inside=True) > switch_failures(inside=False) + 0.15


@pytest.mark.django_db
def test_the_replay_adds_the_finished_buckets_once(small, monkeypatch):
    assert metrics.replay_demo_metrics(now=timezone.now()) == 0  # nothing loaded yet
    # The data as if first loaded yesterday at noon in Mexico City: the outage's first bucket then
    # carries a busy hour's volume, whatever the hour this test runs at (at night the generated
    # merchant has too few payments for the codes to tell).
    noon = (timezone.now() - timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(metrics, "demo_anchor", lambda: noon)
    metrics.seed_demo_metrics(days=1)
    anchor = metrics.demo_anchor()
    before = AuthBucket.objects.count()
    now = anchor + timedelta(minutes=50)  # buckets anchor, +15 and +30 have finished
    assert metrics.replay_demo_metrics(now=now) == 3 * 4
    assert AuthBucket.objects.count() == before + 12
    first = snapshot()
    assert metrics.replay_demo_metrics(now=now) == 0
    assert snapshot() == first
    # The live Prosa outage starts at the anchor: its first bucket is the first live one.
    live = AuthBucket.objects.get(segment__route__code="prosa", segment__bin_prefix="415231", bucket_start=anchor)
    earlier = AuthBucket.objects.get(
        segment__route__code="prosa", segment__bin_prefix="415231", bucket_start=anchor - timedelta(minutes=15)
    )
    assert live.decline_codes.get("91", 0) > earlier.decline_codes.get("91", 0) + 10


@pytest.mark.django_db
def test_the_replay_task_is_idempotent(small):
    metrics.seed_demo_metrics(days=1)
    replay_demo_metrics_task()
    first = snapshot()
    assert replay_demo_metrics_task() == 0
    assert snapshot() == first


def test_beat_replays_demo_data_in_development_only():
    local = importlib.import_module("payhealth.settings.local")
    assert local.CELERY_BEAT_SCHEDULE["replay-demo-metrics"]["task"] == "demo.replay_demo_metrics_task"
    assert "replay-demo-metrics" not in base.CELERY_BEAT_SCHEDULE
    assert "demo.replay_demo_metrics_task" not in base.CELERY_TASK_ROUTES


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_seed_demo_refuses_a_bad_number_of_days(value):
    with pytest.raises(CommandError, match="metrics-days"):
        call_command("seed_demo", "--metrics-days", value, verbosity=0)
    with pytest.raises(CommandError, match="metrics-days"):
        call_command("seed_demo", metrics_days=value, verbosity=0)
