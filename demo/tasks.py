"""Celery tasks of the demo: thin adapters over `demo.metrics`."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from demo.metrics import replay_demo_metrics


@shared_task(name="demo.replay_demo_metrics_task", acks_late=True)
def replay_demo_metrics_task() -> int:
    """Periodic (beat, development only): the demo's payment data for the buckets just finished."""
    return replay_demo_metrics(now=timezone.now())
