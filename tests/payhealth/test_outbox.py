"""The one way services hand work to Celery: by task name, after the commit, never failing the request."""

from __future__ import annotations

import contextlib

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from payhealth import outbox
from payhealth.celery import app
from tests.support import published

TASK = "cases.deliver_correspondence_task"


@pytest.fixture
def sent(monkeypatch):
    """What reaches the broker: (task name, args) per task, through one producer."""
    sent: list[tuple[str, list]] = []

    def send_task(name, args, **options):
        assert options["retry_policy"] == outbox.PUBLISH_RETRY_POLICY
        assert options["producer"] is not None
        sent.append((name, args))

    monkeypatch.setattr(app, "send_task", send_task)
    monkeypatch.setattr(app, "producer_or_acquire", lambda: contextlib.nullcontext("producer"))
    return sent


def test_publish_sends_one_task_per_id_by_name(sent, settings):
    settings.PAYHEALTH_NOTICE_DELIVERY_BATCH = 1  # notices are published in batches (test_delivery.py)
    assert outbox.publish(TASK, [3, 1, 2]) == 3

    assert sent == [(TASK, [3]), (TASK, [1]), (TASK, [2])]


def test_a_broker_outage_is_logged_and_does_not_fail_the_caller(monkeypatch, caplog, settings):
    settings.PAYHEALTH_NOTICE_DELIVERY_BATCH = 1
    sent = []

    def send_task(name, args, **options):
        if sent:
            raise OperationalError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
        sent.append((name, args))

    monkeypatch.setattr(app, "send_task", send_task)
    monkeypatch.setattr(app, "producer_or_acquire", contextlib.nullcontext)

    assert outbox.publish(TASK, [11, 12, 13]) == 1

    assert sent == [(TASK, [11])]
    assert f"2 {TASK} task(s) not published" in caplog.text


@pytest.mark.django_db
def test_publish_on_commit_waits_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        outbox.publish_on_commit(TASK, [7, 8])
        outbox.publish_on_commit(TASK, [])  # nothing to publish: no callback

    assert published(callbacks, TASK) == [[7, 8]]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_publishes_nothing(sent):
    with contextlib.suppress(RuntimeError), transaction.atomic():
        outbox.publish_on_commit(TASK, [5])
        raise RuntimeError("the write failed")
    with transaction.atomic():
        outbox.publish_on_commit(TASK, [6])

    assert sent == [(TASK, [6])]


@pytest.mark.parametrize(("retries", "nominal"), [(0, 10), (1, 20), (2, 40), (3, 60), (9, 60)])
def test_backoff_doubles_from_the_first_delay_up_to_the_cap_with_jitter(retries, nominal):
    delays = [outbox.backoff(retries, first=10, cap=60) for _ in range(50)]

    assert all(nominal * 0.8 <= delay <= nominal * 1.2 for delay in delays)
    assert len(set(delays)) > 1  # jittered, so waiting tasks spread out


def test_an_outcome_is_recorded_again_while_the_database_blinks_then_given_up_after_the_budget(monkeypatch):
    from django.db import OperationalError as DatabaseDown

    closed: list[bool] = []
    monkeypatch.setattr(outbox.connection, "close", lambda: closed.append(True))
    tries: list[int] = []

    def write() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise DatabaseDown("server closed the connection unexpectedly")
        return "recorded"

    assert outbox.with_database_retries(write, within=5, first=0.01, cap=0.02) == "recorded"
    assert (len(tries), len(closed)) == (3, 2)  # a fresh connection before each new try

    def never() -> None:
        raise DatabaseDown("connection refused")

    with pytest.raises(DatabaseDown):
        outbox.with_database_retries(never, within=0.05, first=0.01, cap=0.02)
