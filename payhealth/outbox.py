"""Handing work to Celery from the services: by task name, after the commit, never failing the request.

Services publish with `publish_on_commit("cases.deliver_correspondence_task", ids)`: one task per
id, each carrying only the id, published once the transaction that wrote the rows commits (a
rolled-back write queues nothing). Publishing by name means no service imports a task module, so
tasks (thin adapters that call services) are the only arrow between the two.

A broker outage loses nothing: every published kind of work is also a row in the database
(a queued notice, a pending webhook delivery, an unnotified SLA event) that a periodic sweep
publishes again, so a failed publish is logged and the request that already committed goes on.

`backoff` is the one retry policy of the workers: exponential from a first delay, capped, with
±20 % jitter so a recovering server is not hit by every waiting task at the same second.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from functools import partial

from django.db import transaction

logger = logging.getLogger(__name__)

# Fail fast when the broker is down (the sweeps re-publish), instead of hanging the request.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def publish(task_name: str, ids: Iterable[int]) -> int:
    """Publish one `task_name` task per id over one broker connection; returns how many went out."""
    from payhealth.celery import app

    ids = list(ids)
    published = 0
    try:
        with app.producer_or_acquire() as producer:
            for pk in ids:
                app.send_task(task_name, args=[pk], producer=producer, retry_policy=PUBLISH_RETRY_POLICY)
                published += 1
    except Exception as exc:  # kombu's OperationalError, a socket error: the broker is unreachable
        logger.warning(
            "broker unavailable (%s): %s %s task(s) not published; the sweep publishes them again",
            exc,
            len(ids) - published,
            task_name,
        )
    return published


def publish_on_commit(task_name: str, ids: Iterable[int]) -> None:
    """Publish the tasks once the current transaction commits (at once outside a transaction)."""
    ids = list(ids)
    if ids:
        transaction.on_commit(partial(publish, task_name, ids))


def backoff(retries: int, *, first: float, cap: float) -> float:
    """Seconds before the next attempt after `retries` earlier retries: first × 2^retries, at most
    `cap`, with ±20 % jitter."""
    return min(first * 2 ** max(retries, 0), cap) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not secrets
