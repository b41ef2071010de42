"""`make run`'s terminal: `manage.py runstack` starts web, worker, beat and the mail sink quietly
and prints one banner (address, demo logins, where mail lands) once all four answer, again when
start-up has settled if anything was printed after it.

A real runstack on free ports, the test database and a filesystem broker of its own (so its
worker never takes another test's tasks).
"""

from __future__ import annotations

import queue
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

import pytest

from tests.support import ROOT, database_url_for_workers, free_port, kill_process_group, subprocess_env

pytestmark = pytest.mark.slow

BANNER_START = "PayHealth is running at "
BANNER_END = "Press Ctrl-C to stop everything."
CELERY_BANNERS = re.compile(r"-------------- celery@|celery beat v\d|\[config\]|\.> app:|LocalTime -> |\[queues\]")
# A per-request line: the development server's access line or a request record of Django.
REQUEST_LINES = re.compile(r'"(GET|POST|HEAD) /\S* HTTP/1\.[01]" \d{3}|django\.server|django\.request')


class Output:
    """The lines a process writes, read in a thread, so a test can wait for one with a deadline."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate, *, timeout: float) -> list[str]:
        """The lines read up to and including the first that satisfies `predicate`."""
        start = len(self.lines)
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("timed out; the output so far:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError("runstack ended; its output:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if predicate(line):
                return self.lines[start:]


@pytest.fixture
def runstack(transactional_db, tmp_path):
    web_port, sink_port = free_port(), free_port()
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="payhealth.settings.local",
        DATABASE_URL=database_url_for_workers(),
        PAYHEALTH_VAR_DIR=str(tmp_path / "var"),
        PAYHEALTH_SMTP_SINK_PORT=str(sink_port),
        EMAIL_URL=f"smtp://127.0.0.1:{sink_port}",
        NO_COLOR="1",
    )
    for name in ("CELERY_BROKER_URL", "LOG_LEVEL", "PAYHEALTH_REQUEST_LOG_LEVEL", "PAYHEALTH_WORKER_LOG_LEVEL"):
        env.pop(name, None)  # a filesystem broker under the var dir; the default levels
    process = subprocess.Popen(
        # Start-up ends after 10 s without output: time enough for the test to print after the banner.
        [sys.executable, "manage.py", "runstack", "--port", str(web_port), "--settle", "10"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, Output(process), web_port, sink_port, tmp_path / "var" / "mail"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                kill_process_group(process)


def test_the_banner_comes_once_everything_answers_and_nothing_noisy_before_it(runstack):
    process, output, web_port, sink_port, mail_dir = runstack

    before = output.until(lambda line: line.startswith(BANNER_START), timeout=240)
    banner = before[-1:] + output.until(lambda line: line == BANNER_END, timeout=10)

    assert banner[0] == f"PayHealth is running at http://127.0.0.1:{web_port}/"
    text = "\n".join(banner)
    assert "password 'payhealth'" in text
    for login, role in [("analyst", "analyst"), ("partner_manager", "partner manager"), ("lead", "lead")]:
        assert re.search(rf"^  {login} +{role}$", text, re.MULTILINE), text
    assert re.search(r"^  admin +superuser", text, re.MULTILINE), text
    assert f"lands as .eml files in {mail_dir}" in text
    assert f"smtp://127.0.0.1:{sink_port}" in text
    # Quiet up to the banner: no Celery banner, no line per request (its own readiness GET included).
    assert not [line for line in before if CELERY_BANNERS.search(line)], "\n".join(before)
    assert not [line for line in before if REQUEST_LINES.search(line)], "\n".join(before)
    # Every process answered before the banner, so mail sent now lands at once.
    assert process.poll() is None

    # A line printed after the banner (here: the sink reporting a message) brings it back once
    # start-up has settled, so the address is never scrolled away.
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.test", "b@example.test", "[PH-2026-000007] Hola"
    message["X-PayHealth-Kind"] = "breakage"
    message.set_content("-")
    with smtplib.SMTP("127.0.0.1", sink_port, timeout=10) as smtp:
        smtp.send_message(message)
    after = output.until(lambda line: line.startswith(BANNER_START), timeout=120)
    [report] = [line for line in after if line.startswith("mailsink| mail ")]
    assert re.search(r"mail \d{8}-\d{6}-breakage-PH-2026-000007-[0-9a-f]{6}\.eml: from a@example\.test", report)
    assert [path.name for path in mail_dir.glob("*.eml")] == [report.split()[2].rstrip(":")]

    process.send_signal(signal.SIGTERM)
    output.until(lambda line: line.endswith("all stopped"), timeout=40)
    assert process.wait(timeout=10) == 0
