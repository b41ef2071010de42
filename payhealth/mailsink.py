"""The local SMTP sink of the embedded mode: every message sent to it is kept as an .eml file.

`python manage.py mailsink` runs it on loopback (PAYHEALTH_SMTP_SINK_PORT) and `runstack` starts
it with the rest of the stack, so notices sent in development can be opened in any mail reader
instead of leaving the machine. Files are named `<UTC arrival time>-<counter>.eml`: sorting the
names sorts the messages by arrival, and a name that exists already is never reused, so nothing
is overwritten, not even by a restarted sink within the same microsecond.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

LOOPBACK = "127.0.0.1"


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
        self._counter = 0
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
        with self._lock:
            stamp = self.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            while True:
                self._counter += 1
                path = self.mail_dir / f"{stamp}-{self._counter:06d}.eml"
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
