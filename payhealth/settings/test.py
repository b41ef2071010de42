"""Tests: the same PostgreSQL and broker as configured (or embedded), fast password hashing."""

from payhealth.settings.base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "payhealth-test-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
