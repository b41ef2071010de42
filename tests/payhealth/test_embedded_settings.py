"""The embedded PostgreSQL runs with the recommended settings (docs/performance.md), each overridable."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from payhealth.config import ConfigError
from payhealth.embedded import SERVER_SETTINGS, server_settings

ROOT = Path(__file__).resolve().parents[2]
SHOWN = ("jit", "work_mem", "shared_buffers", "effective_cache_size", "maintenance_work_mem", "random_page_cost")


def test_the_recommended_settings_by_default():
    assert server_settings(None) == SERVER_SETTINGS
    assert server_settings("") == SERVER_SETTINGS
    assert SERVER_SETTINGS["jit"] == "off"
    assert SERVER_SETTINGS["random_page_cost"] == "1.1"
    assert set(SHOWN) <= set(SERVER_SETTINGS)


def test_options_override_and_add_settings():
    settings = server_settings(" work_mem = 64MB ,JIT=on, statement_timeout=30s,")
    assert settings["work_mem"] == "64MB"
    assert settings["jit"] == "on"
    assert settings["statement_timeout"] == "30s"
    assert settings["shared_buffers"] == SERVER_SETTINGS["shared_buffers"]


@pytest.mark.parametrize(
    "options",
    ["work_mem", "=64MB", "work_mem=", "work_mem=64MB; DROP DATABASE payhealth", "work mem=64MB", "jit='off'"],
)
def test_malformed_options_are_a_configuration_error_naming_the_variable(options):
    with pytest.raises(ConfigError, match="PAYHEALTH_EMBEDDED_PG_OPTIONS"):
        server_settings(options)


def embedded(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "payhealth.embedded", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def shown(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SHOWN}


@pytest.fixture
def var_env(tmp_path):
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for name in ("DATABASE_URL", "PAYHEALTH_EMBEDDED_PG_OPTIONS"):
        env.pop(name, None)
    env["PAYHEALTH_VAR_DIR"] = str(var_dir)
    yield env
    stopped = embedded(env, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()


@pytest.mark.slow
def test_the_embedded_server_runs_with_them_and_follows_a_changed_option(var_env):
    started = embedded(var_env, "url")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert shown(url) == {
        "jit": "off",
        "work_mem": "32MB",
        "shared_buffers": "256MB",
        "effective_cache_size": "1GB",
        "maintenance_work_mem": "256MB",
        "random_page_cost": "1.1",
    }

    # A reloadable setting and one that needs a restart, on the server already running.
    changed = embedded({**var_env, "PAYHEALTH_EMBEDDED_PG_OPTIONS": "work_mem=64MB,shared_buffers=192MB"}, "url")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == url
    after = shown(url)
    assert (after["work_mem"], after["shared_buffers"], after["jit"]) == ("64MB", "192MB", "off")

    # Without the variable again, the recommended values come back.
    again = embedded(var_env, "url")
    assert again.returncode == 0, again.stderr
    assert (shown(url)["work_mem"], shown(url)["shared_buffers"]) == ("32MB", "256MB")

    # A setting PostgreSQL does not know stops the start with a message naming the variable.
    refused = embedded({**var_env, "PAYHEALTH_EMBEDDED_PG_OPTIONS": "work_mem=lots"}, "url")
    assert refused.returncode != 0
    assert "PAYHEALTH_EMBEDDED_PG_OPTIONS: work_mem=lots" in refused.stderr
