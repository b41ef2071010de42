"""Handing work to Celery from the services: by task name, after the commit, never failing the request.

Services publish with `publish_on_commit("cases.deliver_correspondence_task", ids)`: one task per
id, each carrying only the id (or, for a task registered with `publish_in_batches`, one task per
batch of ids, carrying their list), published once the transaction that wrote the rows commits (a
rolled-back write queues nothing). Publishing by name means no service imports a task module, so
tasks (thin adapters that call services) are the only arrow between the two.

A broker outage loses nothing: every published kind of work is also a row in the database
(a queued notice, a pending webhook delivery, an unnotified SLA event) that a periodic sweep
publishes again, so a failed publish is logged and the request that already committed goes on.

`backoff` is the one retry policy of the workers: exponential from a first delay, capped, with
±20 % jitter so a recovering server is not hit by every waiting task at the same second.
`with_database_retries` is the one policy for recording an outcome while the database blinks.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Fail fast when the broker is down (the sweeps re-publish), instead of hanging the request.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


# Tasks that take a list of ids as well as one id, and how many ids one of their tasks carries
# (`publish_in_batches`); every other task gets one id.
BATCHED: dict[str, Callable[[], int]] = {}


def publish_in_batches(task_name: str, size: Callable[[], int]) -> None:
    """Publish `task_name` with up to `size()` ids a task (a list; a lone id stays an id)."""
    BATCHED[task_name] = size


def _chunks(task_name: str, ids: list[int]) -> list[int | list[int]]:
    size = max(BATCHED[task_name](), 1) if task_name in BATCHED else 1
    if size == 1:
        return list(ids)
    return [ids[start] if len(ids) - start == 1 else ids[start : start + size] for start in range(0, len(ids), size)]


def publish(task_name: str, ids: Iterable[int]) -> int:
    """Publish `task_name` for the ids over one broker connection, one task per id (or per batch
    of ids, see `publish_in_batches`); returns how many ids went out."""
    from payhealth.celery import app

    ids = list(ids)
    published = 0
    try:
        with app.producer_or_acquire() as producer:
            for chunk in _chunks(task_name, ids):
                app.send_task(task_name, args=[chunk], producer=producer, retry_policy=PUBLISH_RETRY_POLICY)
                published += len(chunk) if isinstance(chunk, list) else 1
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


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant a task received as text (JSON carries no datetimes); None stays None."""
    return datetime.fromisoformat(value) if value else None


def backoff(retries: int, *, first: float, cap: float) -> float:
    """Seconds before the next attempt after `retries` earlier retries: first × 2^retries, at most
    `cap`, with ±20 % jitter."""
    return min(first * 2 ** max(retries, 0), cap) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not secrets


# A database that went away for a moment: the connection is dropped and the write tried again.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def with_database_retries(write: Callable[[], T], *, within: float, first: float = 0.5, cap: float = 4.0) -> T:
    """`write()`, tried again with backoff while the database is unreachable, for at most `within`
    seconds; then the last error propagates.

    For the outcome of something that cannot be undone (an SMTP server said 250, a receiver
    answered 2xx): the worker knows it and must record it before anything may send it again. The
    caller is outside any transaction (each try is its own), so the broken connection can be closed.
    """
    deadline = time.monotonic() + within
    retries = 0
    while True:
        try:
            return write()
        except DATABASE_ERRORS as exc:
            delay = backoff(retries, first=first, cap=cap)
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable (%s): recording again in %.1fs", exc, delay)
            with contextlib.suppress(*DATABASE_ERRORS):
                connection.close()  # a new connection on the next try
            time.sleep(delay)
            retries += 1
