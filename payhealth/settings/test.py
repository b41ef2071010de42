"""Tests: the same PostgreSQL and broker as configured (or embedded), fast password hashing."""

from payhealth import config
from payhealth.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "payhealth-test-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The demo desk is tested like the rest; it is a development app, absent from base and production.
INSTALLED_APPS = [*INSTALLED_APPS, "demo"]  # noqa: F405
CELERY_TASK_ROUTES = {**CELERY_TASK_ROUTES, "demo.replay_demo_metrics_task": {"queue": "default"}}  # noqa: F405

# Throttling has its own test; the rest of the suite must never trip it.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"token": "100000/min", "user": "100000/min", "anon": "100000/min"},
}

# The tests' webhook receivers listen on loopback; tests of the refusals empty this list.
PAYHEALTH_WEBHOOK_ALLOWED_HOSTS = ["localhost", "127.0.0.1", "::1"]
# Login throttling counts in this process's memory (the live server runs in it too); the suite
# empties the cache before each test (tests/conftest.py), so no test inherits another's failures.
SILENCED_SYSTEM_CHECKS = ["axes.W001"]

# A test's Celery worker consumes a queue of its own (tests/support.py sets this variable for
# it): the tasks it publishes itself (a retry, an SLA mail, a sweep's work) go to that queue too.
_test_worker_queue = config.env_str("PAYHEALTH_TEST_WORKER_QUEUE")
if _test_worker_queue:
    CELERY_TASK_ROUTES = {name: {"queue": _test_worker_queue} for name in CELERY_TASK_ROUTES}  # noqa: F405
