"""Development: `make run`. Debug on unless DEBUG says otherwise; a fixed, public dev key."""

from payhealth import config
from payhealth.settings.base import *  # noqa: F403

DEBUG = config.env_bool("DEBUG", True)
SECRET_KEY = SECRET_KEY or "payhealth-local-development-key-not-for-production"  # noqa: F405

# The demo desk (`manage.py seed_demo`, which `make run` loads) is a development app: never in production.
INSTALLED_APPS = [*INSTALLED_APPS, "demo"]  # noqa: F405

# Login throttling counts in this process's memory unless CACHE_URL is set: right for the one
# development server process (production's `check --deploy` still warns without CACHE_URL).
SILENCED_SYSTEM_CHECKS = ["axes.W001"]

# The demo's "live" payment data: every minute, the buckets finished since the last one
# (`demo.metrics`). Development only: production has neither the demo app nor this entry.
CELERY_TASK_ROUTES = {**CELERY_TASK_ROUTES, "demo.replay_demo_metrics_task": {"queue": "default"}}  # noqa: F405
CELERY_BEAT_SCHEDULE = {  # noqa: F405
    **CELERY_BEAT_SCHEDULE,  # noqa: F405
    "replay-demo-metrics": {"task": "demo.replay_demo_metrics_task", "schedule": 60.0},
}
