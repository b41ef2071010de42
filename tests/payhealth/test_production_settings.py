"""Production settings (`payhealth.settings.production`), each read in a fresh process as gunicorn
would: HTTPS only when cookies are secure, the proxy's headers believed only when it is trusted,
a JSON-only API, and `manage.py check --deploy` with nothing to say."""

from __future__ import annotations

import functools
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What a production process reports about itself: settings, and how it answers two requests.
REPORT = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
from rest_framework.settings import api_settings

client = Client()
login = client.get("/accounts/login/")
proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
api = client.get("/api/v1/incidents/", headers={"Accept": "text/html,*/*;q=0.8"}, secure=True)
print(json.dumps({
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": [settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD],
    "cookies_secure": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
    "num_proxies": settings.REST_FRAMEWORK["NUM_PROXIES"],
    "session": [settings.SESSION_COOKIE_AGE, settings.SESSION_EXPIRE_AT_BROWSER_CLOSE],
    "renderers": [r.__module__ + "." + r.__name__ for r in api_settings.DEFAULT_RENDERER_CLASSES],
    "login": [login.status_code, login.get("Location", "")],
    "proxied": proxied.status_code,
    "hsts_header": client.get("/accounts/login/", secure=True).get("Strict-Transport-Security", ""),
    "api": [api.status_code, api["Content-Type"]],
    "login_throttling": [settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME.total_seconds()],
}))
"""


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "PAYHEALTH_", "SECURE_"))}
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/payhealth")
    env.update(
        DJANGO_SETTINGS_MODULE="payhealth.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="payhealth.example,testserver",
        CACHE_URL="redis://127.0.0.1:6379/1",  # named, never connected to by these checks
        LOG_LEVEL="ERROR",
    )
    env.pop("DEBUG", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the browser tests' setting, never a deployment's
    env.update(extra)
    return env


def report(**env: str) -> dict:
    """The settings a production process starts with under `env` (one process per distinct `env`)."""
    return json.loads(_report(tuple(sorted(env.items()))))


@functools.cache
def _report(env: tuple[tuple[str, str], ...]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", REPORT],
        cwd=ROOT,
        env=production_env(**dict(env)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def check_deploy(**env: str) -> subprocess.CompletedProcess:
    env = {"PAYHEALTH_DESK_PHONE": "+52 55 4000 2400", **env}  # what every notice's signature gives
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_deploy_has_nothing_to_say():
    result = check_deploy()

    assert result.returncode == 0, result.stdout + result.stderr
    # One check is silenced on purpose (payhealth/settings/production.py): HSTS preload.
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_warns_when_login_failures_would_be_counted_per_process():
    result = check_deploy(CACHE_URL="")

    assert result.returncode != 0
    assert "axes.W001" in result.stderr + result.stdout


def test_check_deploy_warns_when_notices_would_carry_no_24x7_phone():
    result = check_deploy(PAYHEALTH_DESK_PHONE="")

    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "cases.W001" in output and "PAYHEALTH_DESK_PHONE" in output


def test_with_secure_cookies_it_is_https_only():
    settings = report()

    assert settings["cookies_secure"] == [True, True]
    assert settings["ssl_redirect"] is True
    assert settings["login"] == [301, "https://testserver/accounts/login/"]
    assert settings["hsts"] == [31536000, True, False]
    assert settings["hsts_header"] == "max-age=31536000; includeSubDomains"


def test_the_proxys_scheme_header_is_believed_only_from_a_trusted_proxy():
    untrusted = report()
    trusted = report(PAYHEALTH_TRUSTED_PROXY="true")

    assert untrusted["proxy_header"] is None
    assert untrusted["proxied"] == 301  # X-Forwarded-Proto from anyone is not taken for HTTPS
    assert untrusted["num_proxies"] == 0  # nor X-Forwarded-For for the API's throttling
    assert trusted["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert trusted["proxied"] == 200
    assert trusted["num_proxies"] == 1


def test_a_plain_http_trial_turns_https_off_as_a_whole():
    settings = report(SECURE_COOKIES="false")

    assert settings["cookies_secure"] == [False, False]
    assert settings["ssl_redirect"] is False
    assert settings["hsts"][0] == 0
    assert settings["login"] == [200, ""]


def test_hsts_lifetime_is_a_setting():
    assert report(PAYHEALTH_HSTS_SECONDS="3600")["hsts_header"] == "max-age=3600; includeSubDomains"


def test_the_api_answers_json_only():
    settings = report()

    assert settings["renderers"] == ["rest_framework.renderers.JSONRenderer"]
    assert settings["api"] == [401, "application/json"]  # a browser gets no browsable API


def test_sessions_last_a_working_day_unless_said_otherwise():
    assert report()["session"] == [12 * 3600, False]
    assert report(PAYHEALTH_SESSION_HOURS="8", PAYHEALTH_SESSION_EXPIRE_AT_BROWSER_CLOSE="true")["session"] == [
        8 * 3600,
        True,
    ]


def test_login_throttling_reads_its_variables():
    assert report()["login_throttling"] == [5, 15 * 60]
    assert report(PAYHEALTH_LOGIN_FAILURE_LIMIT="8", PAYHEALTH_LOGIN_COOLOFF_MINUTES="30")["login_throttling"] == [
        8,
        30 * 60,
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PAYHEALTH_SESSION_HOURS", "0", "PAYHEALTH_SESSION_HOURS=0 is out of range"),
        ("PAYHEALTH_SESSION_EXPIRE_AT_BROWSER_CLOSE", "sometimes", "is not a boolean"),
        ("PAYHEALTH_HSTS_SECONDS", "-1", "PAYHEALTH_HSTS_SECONDS=-1 is out of range"),
    ],
)
def test_a_malformed_hardening_variable_stops_start_up(name, value, message):
    result = check_deploy(**{name: value})

    assert result.returncode != 0
    assert result.stderr.strip().startswith("payhealth: configuration error: ")
    assert message in result.stderr
