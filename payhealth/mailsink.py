"""The local SMTP sink of the embedded mode: every message sent to it is kept as an .eml file.

`python manage.py mailsink` runs it on loopback (PAYHEALTH_SMTP_SINK_PORT) and `runstack` starts
it with the rest of the stack, so notices sent in development can be opened in any mail reader
instead of leaving the machine. Files are named after what they are:
`<UTC date>-<time>-<kind>-<reference>-<short id>.eml`, e.g.
`20261206-101530-breakage-PH-2026-000183-3f9a1c.eml`, from the message's own headers: its Date,
the notice kind (`X-PayHealth-Kind`) and the incident (`X-PayHealth-Reference`, else the
`[PH-…]` token of the subject). A message without them still gets a name: the arrival time, the
kind `mail`, no reference. Names hold only letters, digits and `-`, sort by date, and a name that
exists already is never reused (a new short id is drawn), so nothing is overwritten, not even by
a restarted sink within the same second.
"""

from __future__ import annotations

import errno
import logging
import re
import secrets
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

LOOPBACK = "127.0.0.1"
KIND_HEADER = "X-PayHealth-Kind"
REFERENCE_HEADER = "X-PayHealth-Reference"
REFERENCE_IN_SUBJECT = re.compile(r"\[(PH-\d{4}-\d{3,})\]")
UNSAFE = re.compile(r"[^A-Za-z0-9]+")
MAX_PART = 40  # characters of a kind or a reference in a file name


def _header(headers, name: str) -> str:
    try:
        return str(headers.get(name, "") or "")
    except (TypeError, ValueError, IndexError):  # a header the parser cannot read counts as absent
        return ""


def safe_part(text: str) -> str:
    """`text` as a piece of a file name: letters, digits and single dashes, at most MAX_PART."""
    return UNSAFE.sub("-", text).strip("-")[:MAX_PART].strip("-")


def file_stem(content: bytes, arrived: datetime) -> str:
    """`<date>-<time>-<kind>[-<reference>]` from the message's headers, `arrived` when it has no Date."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
    try:
        sent = parsedate_to_datetime(_header(headers, "Date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        sent = None
    when = sent if sent is not None and sent.tzinfo is not None else arrived
    try:
        stamp = when.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    except (OverflowError, ValueError, OSError):
        stamp = arrived.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    kind = safe_part(_header(headers, KIND_HEADER)) or "mail"
    reference = safe_part(_header(headers, REFERENCE_HEADER))
    if not reference:
        found = REFERENCE_IN_SUBJECT.search(_header(headers, "Subject"))
        reference = found.group(1) if found else ""
    return "-".join(part for part in (stamp, kind.lower(), reference) if part)


class PortInUseError(OSError):
    """The sink's port is taken (another sink, or another program)."""


class MailSinkHandler:
    """aiosmtpd handler that writes each accepted message under `mail_dir` and reports it."""

    def __init__(
        self,
        mail_dir: Path,
        *,
        report: Callable[[str], None] = print,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mail_dir = Path(mail_dir)
        self.report = report
        self.clock = clock
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        path = self.store(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or b"")
        headers = BytesHeaderParser(policy=default_policy).parsebytes(envelope.original_content or b"")
        self.report(
            f"mail {path.name}: from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}"
            f" subject {str(headers.get('Subject', ''))!r}"
        )
        return "250 Message accepted for delivery"

    def store(self, mail_from: str, rcpt_tos: list[str], content: bytes) -> Path:
        """Write the message with its envelope (Bcc recipients appear only there) to a new file.

        Lines end in LF, as in a Maildir: SMTP's CRLF is wire format, not part of the message.
        """
        envelope_headers = f"X-MailFrom: {mail_from}\nX-RcptTo: {', '.join(rcpt_tos)}\n".encode()
        content = content.replace(b"\r\n", b"\n")
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        stem = file_stem(content, self.clock())
        with self._lock:
            while True:
                path = self.mail_dir / f"{stem}-{secrets.token_hex(3)}.eml"
                try:
                    with path.open("xb") as file:  # "x": fails instead of overwriting
                        file.write(envelope_headers + content)
                except FileExistsError:
                    continue
                return path


def mailsink_start(
    *, mail_dir: Path, port: int, host: str = LOOPBACK, report: Callable[[str], None] = print
) -> Controller:
    """Start the sink in a background thread; the caller stops it with `.stop()`."""
    # aiosmtpd logs every SMTP command at INFO; the report (one line per message) is enough.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    in_use = PortInUseError(errno.EADDRINUSE, f"port {port} on {host} is already in use")
    # Checked first because Controller.start() reports a failed bind only after its 5 s ready timeout.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise in_use from None
            raise
    controller = Controller(MailSinkHandler(mail_dir, report=report), hostname=host, port=port)
    try:
        controller.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise in_use from None
        raise
    return controller
