"""The Celery application: configured from Django settings (CELERY_*), tasks found per app."""

import logging
import os
import re

from celery import Celery, bootsteps
from celery.signals import after_setup_logger, after_setup_task_logger, beat_init, worker_ready

from payhealth.logging import MaskCardNumbers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
# `runstack` names a file here for each worker and beat it starts; the process creates it once it
# is ready (a worker connected to the broker, beat with its schedule loaded), so the "running at"
# banner waits for the real thing.
READY_FILE_VARIABLE = "PAYHEALTH_READY_FILE"

app = Celery("payhealth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)


class RecoverOnConnect(bootsteps.StartStopStep):
    """Each time a worker's consumer connects to the broker (at start, and again after the broker
    came back), it publishes the recovery sweeps of PAYHEALTH_RECONNECT_TASKS with the moment it
    connected: work queued before then whose task the broker may have lost is published again at
    once, instead of waiting for its stuck threshold. Celery restarts the consumer's steps on
    every reconnection, so `start` runs each time."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def start(self, consumer) -> None:
        from django.conf import settings
        from django.utils import timezone

        connected = timezone.now().isoformat()
        # Into a queue this worker consumes (the default one when it does), so it runs them itself.
        queues = sorted(queue.name for queue in getattr(consumer.task_consumer, "queues", None) or [])
        default = settings.CELERY_TASK_DEFAULT_QUEUE
        options = {"queue": default if default in queues or not queues else queues[0]}
        for name in settings.PAYHEALTH_RECONNECT_TASKS:
            try:
                consumer.app.send_task(name, kwargs={"reconnected_at": connected}, **options)
            except Exception as exc:  # the broker went away again: the next connection retries
                logger.warning("could not publish %s after connecting: %s", name, exc)
                return
        logger.info("connected to the broker: recovery sweeps published")


app.steps["consumer"].add(RecoverOnConnect)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_card_numbers_in_worker_logs(logger, **kwargs) -> None:
    """A worker writes its log through handlers of its own: they mask card numbers too."""
    for handler in logger.handlers:
        if not any(isinstance(existing, MaskCardNumbers) for existing in handler.filters):
            handler.addFilter(MaskCardNumbers())


@worker_ready.connect
@beat_init.connect
def _say_ready(**kwargs) -> None:
    path = os.environ.get(READY_FILE_VARIABLE)
    if path:
        with open(path, "a"):
            pass


@app.task(name="payhealth.ping_task")
def ping_task() -> str:
    """Answers 'pong': lets tests and operators prove a worker consumes from the broker."""
    return "pong"


@app.task(name="payhealth.touch_file_task")
def touch_file_task(name: str) -> None:
    """Creates VAR_DIR/touched/<name>: a visible effect that proves a worker consumed a task.

    Results are ignored (no result backend), so tests and operators check for the file instead.
    Only a plain name is accepted, never a path: a message must not choose where a worker writes.
    """
    from django.conf import settings

    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ValueError(f"not a plain file name: {name!r}")
    folder = settings.VAR_DIR / "touched"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("touched\n")
