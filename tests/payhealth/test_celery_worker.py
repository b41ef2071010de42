"""A real Celery worker consumes tasks from the configured broker, and every task has a queue.

The worker test uses the configured broker (CELERY_BROKER_URL when set, Redis in CI; otherwise
the filesystem broker under var/) but a queue of its own, so a development worker or a parallel
test run on the same broker can never take its message.
"""

import time
import uuid

import pytest
from django.conf import settings

from accounts.management.commands.runstack import WORKER_QUEUES
from payhealth.celery import app, touch_file_task
from tests.support import (
    database_url_for_workers,
    delete_queue,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
)


def registered_task_names() -> list[str]:
    app.loader.import_default_modules()  # runs autodiscover_tasks(), as a worker does at start
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_every_task_has_an_explicit_queue_route():
    unrouted = [name for name in registered_task_names() if name not in settings.CELERY_TASK_ROUTES]

    assert unrouted == []


def test_every_route_names_a_registered_task_and_a_queue_the_worker_consumes():
    registered = set(registered_task_names())

    stale = sorted(name for name in settings.CELERY_TASK_ROUTES if name not in registered)
    unconsumed = sorted(
        name for name, route in settings.CELERY_TASK_ROUTES.items() if route.get("queue") not in WORKER_QUEUES
    )

    assert stale == []
    assert unconsumed == []


def test_touch_file_task_refuses_a_path(tmp_path, settings):
    settings.VAR_DIR = tmp_path

    with pytest.raises(ValueError, match="not a plain file name"):
        touch_file_task.run("../outside")

    assert not (tmp_path / "outside").exists()
    assert not (tmp_path / "touched").exists()


@pytest.fixture
def worker_queue():
    queue = f"check-{uuid.uuid4().hex[:12]}"
    yield queue
    delete_queue(app, queue)


@pytest.mark.slow
def test_a_real_worker_consumes_a_task_from_the_broker(db, tmp_path, worker_queue):
    name = worker_queue
    touched = settings.VAR_DIR / "touched" / name
    log = tmp_path / "worker.log"

    # The test database, for the recovery sweeps the worker publishes to itself on connecting.
    worker = start_celery_worker(
        queue=worker_queue, log_path=log, env=subprocess_env(DATABASE_URL=database_url_for_workers())
    )
    try:
        touch_file_task.apply_async(args=[name], queue=worker_queue)

        deadline = time.monotonic() + 90
        while not touched.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)

        assert touched.exists(), f"the worker did not run the task; its log:\n{log.read_text()}"
        assert touched.read_text() == "touched\n"
        # Stopped once idle (the touch and every recovery sweep done), so the warm shutdown has
        # nothing to wait for and the exit status says only whether the worker stopped cleanly.
        done = 1 + len(settings.PAYHEALTH_RECONNECT_TASKS)
        wait_for(lambda: log.read_text().count(" succeeded in ") >= done, timeout=60, what="every task to finish")
        assert " raised " not in log.read_text(), log.read_text()
    finally:
        stop_celery_worker(worker)
        touched.unlink(missing_ok=True)
    assert worker.returncode == 0, log.read_text()
