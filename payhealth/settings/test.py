"""Tests: the same PostgreSQL and broker as configured (or embedded), fast password hashing."""

from payhealth.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "payhealth-test-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The demo desk is tested like the rest; it is a development app, absent from base and production.
INSTALLED_APPS = [*INSTALLED_APPS, "demo"]  # noqa: F405

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
