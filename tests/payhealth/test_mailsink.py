"""The local SMTP sink keeps every message as a file, in arrival order, and never overwrites one."""

import email
import socket
import subprocess
import sys
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path

import pytest
from django.core.mail import EmailMessage

from payhealth.mailsink import MailSinkHandler, PortInUseError, mailsink_start
from tests.support import ROOT, free_port, smtp_settings, subprocess_env


@pytest.fixture
def sink(tmp_path):
    """A sink on a free loopback port, in this process, with what it reported."""
    reports = []
    port = free_port()
    controller = mailsink_start(mail_dir=tmp_path / "mail", port=port, report=reports.append)
    yield port, tmp_path / "mail", reports
    controller.stop()


@pytest.fixture
def sink_settings(settings, sink):
    smtp_settings(settings, sink[0])
    return settings


def read_eml(path: Path):
    return email.message_from_bytes(path.read_bytes(), policy=default_policy)


def test_a_message_sent_through_django_smtp_backend_lands_as_an_eml_file(sink, sink_settings):
    _, mail_dir, reports = sink

    sent = EmailMessage(
        subject="Caída de aprobación BBVA débito",
        body="Hola equipo,\nla tasa de aprobación bajó a 71 %.\n",
        from_email="PayHealth Operations <payhealth@localhost>",
        to=["ops@acquirer.example"],
        bcc=["lead@payhealth.example"],
    ).send()

    assert sent == 1
    files = sorted(mail_dir.glob("*.eml"))
    assert len(files) == 1
    message = read_eml(files[0])
    assert message["Subject"] == "Caída de aprobación BBVA débito"
    assert message["To"] == "ops@acquirer.example"
    assert message.get_content() == "Hola equipo,\nla tasa de aprobación bajó a 71 %.\n"
    assert message["X-MailFrom"] == "payhealth@localhost"
    assert message["X-RcptTo"] == "ops@acquirer.example, lead@payhealth.example"
    assert reports == [
        f"mail {files[0].name}: from payhealth@localhost to ops@acquirer.example, lead@payhealth.example"
        " subject 'Caída de aprobación BBVA débito'"
    ]


def test_files_sort_by_arrival(sink, sink_settings):
    _, mail_dir, _ = sink

    for number in range(1, 4):
        EmailMessage(subject=f"Update {number}", body="-", to=["ops@acquirer.example"]).send()

    subjects = [read_eml(path)["Subject"] for path in sorted(mail_dir.glob("*.eml"))]
    assert subjects == ["Update 1", "Update 2", "Update 3"]


def test_a_restarted_sink_never_overwrites_a_file_from_the_same_instant(tmp_path):
    instant = datetime(2026, 3, 2, 15, 4, 5, 123456, tzinfo=UTC)
    first = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant)
    restarted = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant)

    first.store("a@example.test", ["b@example.test"], b"Subject: one\r\n\r\nfirst\r\n")
    restarted.store("a@example.test", ["b@example.test"], b"Subject: two\r\n\r\nsecond\r\n")

    files = sorted(tmp_path.glob("*.eml"))
    assert [path.name for path in files] == [
        "20260302T150405.123456Z-000001.eml",
        "20260302T150405.123456Z-000002.eml",
    ]
    assert [read_eml(path)["Subject"] for path in files] == ["one", "two"]


def test_a_port_in_use_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            mailsink_start(mail_dir=tmp_path, port=port)


def test_the_command_reports_a_port_in_use_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = subprocess.run(
            [sys.executable, "manage.py", "mailsink", "--port", str(port)],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"CommandError: mailsink: port {port} on 127.0.0.1 is already in use; stop the other program or pass --port"
    )
