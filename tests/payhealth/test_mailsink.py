"""The local SMTP sink keeps every message as a file named after its date, kind and incident, and
never overwrites one."""

import email
import re
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


def test_a_notice_lands_named_after_its_date_kind_and_reference(sink, sink_settings):
    _, mail_dir, reports = sink

    EmailMessage(
        subject="[PH-2026-000183] SEV2 Aviso de falla: Débito BBVA",
        body="-",
        to=["operacion@bbva.test"],
        headers={
            "Date": "Sun, 06 Dec 2026 04:15:30 -0600",
            "X-PayHealth-Kind": "breakage",
            "X-PayHealth-Reference": "PH-2026-000183",
        },
    ).send()
    EmailMessage(
        subject="[PH-2026-000183] RCA",
        body="-",
        to=["operacion@bbva.test"],
        headers={"Date": "Sun, 06 Dec 2026 10:15:31 +0000", "X-PayHealth-Kind": "rca_request"},
    ).send()

    names = sorted(path.name for path in mail_dir.glob("*.eml"))
    assert len(names) == 2
    assert re.fullmatch(r"20261206-101530-breakage-PH-2026-000183-[0-9a-f]{6}\.eml", names[0]), names
    # No reference header: the subject's token names the incident; `_` is not kept.
    assert re.fullmatch(r"20261206-101531-rca-request-PH-2026-000183-[0-9a-f]{6}\.eml", names[1]), names
    assert reports[0].startswith(f"mail {names[0]}: from ")


@pytest.mark.django_db
def test_a_delivered_notice_gets_its_kind_and_reference_in_the_name(sink, sink_settings, analyst, partner_manager):
    from cases.correspondence.compose import notice_compose
    from cases.correspondence.delivery import correspondence_deliver
    from cases.correspondence.dispatch import notice_send
    from tests.cases.correspondence.data import notice_desk

    desk = notice_desk(owner=analyst)
    drafts = notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.bbva]).drafts
    for draft in drafts:
        notice_send(correspondence=draft, actor=partner_manager)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"

    names = sorted(path.name for path in sink[1].glob("*.eml"))
    pattern = rf"\d{{8}}-\d{{6}}-update-{desk.incident.reference}-[0-9a-f]{{6}}\.eml"
    assert len(names) == len(drafts) and all(re.fullmatch(pattern, name) for name in names), names


def test_a_message_without_those_headers_is_named_after_its_arrival(tmp_path):
    instant = datetime(2026, 3, 2, 15, 4, 5, 123456, tzinfo=UTC)
    handler = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant)

    plain = handler.store("a@example.test", ["b@example.test"], b"Subject: hello\r\n\r\nhi\r\n")
    hostile = handler.store(
        "a@example.test",
        ["b@example.test"],
        b"Date: yesterday, more or less\r\nX-PayHealth-Kind: ../../etc/passwd\r\n"
        b"X-PayHealth-Reference: PH-1/../..\\x \xff\r\nSubject: =?utf-8?q?broken\r\n\r\nhi\r\n",
    )
    no_time_zone = handler.store(
        "a@example.test", ["b@example.test"], b"Date: Mon, 02 Mar 2026 09:00:00 -0000\r\n\r\nhi\r\n"
    )

    assert re.fullmatch(r"20260302-150405-mail-[0-9a-f]{6}\.eml", plain.name), plain.name
    assert re.fullmatch(r"20260302-150405-etc-passwd-PH-1-x-[0-9a-f]{6}\.eml", hostile.name), hostile.name
    assert re.fullmatch(r"20260302-150405-mail-[0-9a-f]{6}\.eml", no_time_zone.name), no_time_zone.name
    assert {path.parent for path in (plain, hostile, no_time_zone)} == {tmp_path}


def test_the_same_message_twice_never_overwrites_a_file(tmp_path):
    """A notice sent again after a crash (same headers, same second), and by a restarted sink."""
    instant = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)
    first = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant)
    restarted = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant)
    message = b"X-PayHealth-Kind: update\r\nX-PayHealth-Reference: PH-2026-000001\r\nSubject: one\r\n\r\nx\r\n"

    paths = [handler.store("a@example.test", ["b@example.test"], message) for handler in (first, restarted, first)]

    assert len({path.name for path in paths}) == 3
    assert sorted(tmp_path.glob("*.eml")) == sorted(paths)
    assert all(path.name.startswith("20260302-150405-update-PH-2026-000001-") for path in paths)
    assert [read_eml(path)["Subject"] for path in paths] == ["one", "one", "one"]


def test_a_taken_name_draws_another_short_id(tmp_path, monkeypatch):
    from payhealth import mailsink

    instant = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)
    (tmp_path / "20260302-150405-mail-aaaaaa.eml").write_bytes(b"kept")
    drawn = iter(["aaaaaa", "bbbbbb"])
    monkeypatch.setattr(mailsink.secrets, "token_hex", lambda n: next(drawn))

    path = MailSinkHandler(tmp_path, report=lambda line: None, clock=lambda: instant).store("a@x.test", [], b"\r\n")

    assert path.name == "20260302-150405-mail-bbbbbb.eml"
    assert (tmp_path / "20260302-150405-mail-aaaaaa.eml").read_bytes() == b"kept"


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
