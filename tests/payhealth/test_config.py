"""Bad configuration stops start-up with one line naming the variable; nothing falls back."""

import ipaddress
import os
import subprocess
import sys
from pathlib import Path

import pytest

from payhealth import config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://root@localhost/payhealth", "DATABASE_URL must be a postgresql:// URL"),
        ("DATABASE_URL", "postgresql://localhost:notaport/payhealth", "DATABASE_URL"),
        ("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/", "DATABASE_URL names no database"),
        ("CELERY_BROKER_URL", "kafka://localhost:9092", "CELERY_BROKER_URL has unsupported scheme 'kafka'"),
        ("CELERY_BROKER_URL", "redis://:abc@127.0.0.1:xx/0", "CELERY_BROKER_URL has an invalid port"),
        ("EMAIL_URL", "pigeon://coop", "EMAIL_URL has unsupported scheme 'pigeon'"),
        ("EMAIL_URL", "smtp://mail.example:99999", "EMAIL_URL has an invalid port"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("ALLOWED_HOSTS", "payhealth.example,,x", "ALLOWED_HOSTS"),
        ("PAYHEALTH_TIME_ZONE", "Mexico/Atlantis", "PAYHEALTH_TIME_ZONE='Mexico/Atlantis' is not an IANA time zone"),
        ("PAYHEALTH_SMTP_SINK_PORT", "70000", "PAYHEALTH_SMTP_SINK_PORT=70000 is out of range"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD'"),
        ("PAYHEALTH_REQUEST_LOG_LEVEL", "chatty", "PAYHEALTH_REQUEST_LOG_LEVEL='CHATTY' is not one of DEBUG"),
        ("PAYHEALTH_WORKER_LOG_LEVEL", "5", "PAYHEALTH_WORKER_LOG_LEVEL='5' is not one of DEBUG"),
        ("PAYHEALTH_API_THROTTLE_TOKEN", "fast", "PAYHEALTH_API_THROTTLE_TOKEN='fast' is not a rate like 1200/min"),
        ("PAYHEALTH_API_THROTTLE_ANON", "0/min", "PAYHEALTH_API_THROTTLE_ANON='0/min' is not a rate"),
        ("CACHE_URL", "memcached://127.0.0.1:11211", "CACHE_URL has unsupported scheme 'memcached'"),
        ("CACHE_URL", "redis://127.0.0.1:port/1", "CACHE_URL has an invalid port"),
        (
            "PAYHEALTH_WEBHOOK_ALLOWED_HOSTS",
            "hooks.example.com,10.0.0.0/33",
            "PAYHEALTH_WEBHOOK_ALLOWED_HOSTS has '10.0.0.0/33', which is neither a host name",
        ),
        ("PAYHEALTH_WEBHOOK_ALLOWED_HOSTS", "https://hooks.example.com/", "PAYHEALTH_WEBHOOK_ALLOWED_HOSTS has"),
        ("PAYHEALTH_LOGIN_FAILURE_LIMIT", "0", "PAYHEALTH_LOGIN_FAILURE_LIMIT=0 is out of range"),
        ("PAYHEALTH_LOGIN_COOLOFF_MINUTES", "soon", "PAYHEALTH_LOGIN_COOLOFF_MINUTES='soon' is not a whole number"),
        ("PAYHEALTH_TRUSTED_PROXY", "perhaps", "PAYHEALTH_TRUSTED_PROXY='perhaps' is not a boolean"),
        (
            "PAYHEALTH_NOTICE_STUCK_AFTER",
            "30",
            "PAYHEALTH_NOTICE_STUCK_AFTER=30 must be longer than PAYHEALTH_TASK_TIME_LIMIT=30",
        ),
        (
            "PAYHEALTH_WEBHOOK_STUCK_AFTER",
            "20",
            "PAYHEALTH_WEBHOOK_STUCK_AFTER=20 must be longer than PAYHEALTH_TASK_TIME_LIMIT=30",
        ),
        ("PAYHEALTH_TASK_TIME_LIMIT", "5", "PAYHEALTH_TASK_TIME_LIMIT=5 is out of range"),
        ("PAYHEALTH_RECOVERY_SWEEP_SECONDS", "0", "PAYHEALTH_RECOVERY_SWEEP_SECONDS=0 is out of range"),
        ("PAYHEALTH_METRICS_SOURCE_URL", "mysql://wh.example/dw", "PAYHEALTH_METRICS_SOURCE_URL must be a postgresql"),
        ("PAYHEALTH_METRICS_SOURCE_URL", "postgresql://wh.example/dw", "give PAYHEALTH_METRICS_SOURCE_QUERY too"),
        ("PAYHEALTH_METRICS_SOURCE_QUERY", "DELETE FROM t", "must be a single SELECT"),
        ("PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS", "30", "must be shorter than PAYHEALTH_TASK_TIME_LIMIT=30"),
    ],
)
def test_manage_py_refuses_a_malformed_variable_with_one_line(name, value, fragment):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/payhealth")
    env[name] = value
    env["DJANGO_SETTINGS_MODULE"] = "payhealth.settings.local"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("payhealth: configuration error: ")
    assert fragment in lines[0]


def test_production_requires_a_secret_key():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/payhealth")
    env.pop("SECRET_KEY", None)
    env["DJANGO_SETTINGS_MODULE"] = "payhealth.settings.production"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == "payhealth: configuration error: SECRET_KEY is required in production (a long random string)"
    )


def test_email_url_forms():
    tls = config.email_config("EMAIL_URL", "smtp+tls://ops%40desk.example:s3cr%2Ft@mail.example.com")
    assert (tls.host, tls.port, tls.user, tls.password, tls.use_tls, tls.use_ssl) == (
        "mail.example.com",
        587,
        "ops@desk.example",
        "s3cr/t",
        True,
        False,
    )
    ssl = config.email_config("EMAIL_URL", "smtps://mail.example.com:2465?timeout=5")
    assert (ssl.port, ssl.use_ssl, ssl.timeout) == (2465, True, 5)
    assert config.email_config("EMAIL_URL", "console://").backend.endswith("console.EmailBackend")


def test_database_url_is_parsed_for_postgresql_only():
    parsed = config.database_config("DATABASE_URL", "postgresql://ph:pw@db.internal:6543/payhealth")
    assert (parsed["ENGINE"], parsed["HOST"], parsed["PORT"], parsed["NAME"], parsed["USER"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        6543,
        "payhealth",
        "ph",
    )
    assert parsed["OPTIONS"]["prepare_threshold"] == 0  # psycopg prepares on the first run
    unprepared = config.database_config("DATABASE_URL", "postgresql://ph@db:6432/payhealth", prepared=False)
    assert unprepared["OPTIONS"]["prepare_threshold"] is None  # never: a pooler without them
    with pytest.raises(config.ConfigError, match="^DATABASE_URL must be a postgresql:// URL, got scheme 'sqlite'$"):
        config.database_config("DATABASE_URL", "sqlite:///db.sqlite3")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("Yes", True), ("off", False), ("", False)])
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("DEBUG", raw)
    assert config.env_bool("DEBUG", not expected) is expected


def test_unset_boolean_takes_the_default(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    assert config.env_bool("DEBUG", True) is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        (
            " localhost , 127.0.0.1,[::1], 10.0.0.0/8, .corp.example ",
            ["localhost", "127.0.0.1", "[::1]", "10.0.0.0/8", ".corp.example"],
        ),
    ],
)
def test_host_lists(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("PAYHEALTH_WEBHOOK_ALLOWED_HOSTS", raising=False)
    else:
        monkeypatch.setenv("PAYHEALTH_WEBHOOK_ALLOWED_HOSTS", raw)

    assert config.env_hosts("PAYHEALTH_WEBHOOK_ALLOWED_HOSTS", []) == expected


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("127.0.0.1", ipaddress.ip_network("127.0.0.1/32")),
        ("[::1]", ipaddress.ip_network("::1/128")),
        ("10.1.2.3/8", ipaddress.ip_network("10.0.0.0/8")),
        ("Hooks.Example.COM.", "hooks.example.com"),
        (".corp.example", ".corp.example"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_host_entries_are_normalised(entry, parsed):
    assert config.host_entry(entry) == parsed


@pytest.mark.parametrize("entry", ["", ".", "*.example.com", "http://x.example", "-x.example", "a..b", "10.0.0.0/33"])
def test_host_entries_that_are_neither_name_nor_address_are_refused(entry):
    with pytest.raises(ValueError):
        config.host_entry(entry)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("DELETE FROM stats WHERE ts >= :start AND ts < :end", "must be a single SELECT"),
        ("SELECT * FROM stats WHERE ts >= :start AND ts < :end; DROP TABLE stats", "more than one statement"),
        ("SELECT * FROM stats WHERE ts >= :start", "does not use :end"),
        ("SELECT * FROM stats WHERE ts::date = ':start' AND ts < :end", "does not use :start"),
        ("SELECT $$x$$ FROM stats WHERE ts >= :start AND ts < :end", "dollar quoting"),
        ("  ", "is empty"),
    ],
)
def test_a_source_query_that_is_not_one_select_with_both_placeholders_is_refused(query, fragment):
    with pytest.raises(config.ConfigError, match=fragment):
        config.select_query("PAYHEALTH_METRICS_SOURCE_QUERY", query)


def test_a_source_query_may_be_a_with_select_with_semicolons_in_strings_and_comments():
    query = (
        "-- buckets; by merchant\nWITH w AS (SELECT * FROM stats WHERE note <> ';')\n"
        "SELECT * FROM w WHERE ts >= :start AND ts < :end;"
    )

    assert config.select_query("Q", query) == query.removesuffix(";")


@pytest.mark.parametrize("url", ["", "postgresql://reader@warehouse.example:5432/dw"])
def test_beat_pulls_from_the_warehouse_only_when_a_source_is_set(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/payhealth")
    env |= {"DJANGO_SETTINGS_MODULE": "payhealth.settings.local", "PAYHEALTH_METRICS_SOURCE_URL": url}
    env |= {"PAYHEALTH_METRICS_SOURCE_QUERY": "SELECT * FROM s WHERE t >= :start AND t < :end"}
    env["PAYHEALTH_METRICS_PULL_SECONDS"] = "120"
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CELERY_BEAT_SCHEDULE.get('pull-metrics-source'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    expected = "{'task': 'monitoring.pull_buckets_task', 'schedule': 120.0}" if url else "None"
    assert result.stdout.strip() == expected
