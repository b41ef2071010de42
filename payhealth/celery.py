"""The Celery application: configured from Django settings (CELERY_*), tasks found per app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")

app = Celery("payhealth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="payhealth.ping_task")
def ping_task() -> str:
    """Answers 'pong': lets tests and operators prove a worker consumes from the broker."""
    return "pong"
