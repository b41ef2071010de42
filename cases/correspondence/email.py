"""Outbound notices as email: identity and threading headers, and the SMTP hand-off.

A notice's Message-ID is chosen once, when its row is created, and every attempt to send it
carries that same Message-ID. Delivery is at-least-once: a worker that dies after the server
accepted the message but before the row says "sent" leaves the row in `sending`; the sweep
re-queues it and the partner may receive the message twice, but as the same message (same
Message-ID), which mail clients and servers de-duplicate, never as a second, different notice.
"""

from __future__ import annotations

import smtplib
import threading
import time
import uuid
from email import encoders
from email.mime.base import MIMEBase
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address

MAX_REFERENCES = 10  # RFC 5322 §3.6.4: keep the first and the most recent ids of a long thread


def subject_token(reference: str) -> str:
    return f"[{reference}]"


def subject_with_token(subject: str, reference: str, *, max_length: int = 300) -> str:
    """The subject carrying `[PH-2026-000123]` (added in front when an edit removed it), one line."""
    subject = " ".join((subject or "").split())
    token = subject_token(reference)
    if token not in subject or (len(subject) > max_length and not subject.startswith(token)):
        subject = " ".join(f"{token} {subject.replace(token, ' ')}".split())
    if len(subject) > max_length:
        subject = subject[: max_length - 1].rstrip() + "…"
    return subject


def message_domain() -> str:
    """The domain of the desk's sender address (DEFAULT_FROM_EMAIL), for Message-IDs."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "payhealth.localdomain"


def message_id(*parts, domain: str | None = None) -> str:
    """The one Message-ID generator: `<part.part…@domain>`, in the desk's domain unless another is
    named. The same parts give the same id, so a message sent again after a crash is the same
    message to the receiving mail systems."""
    return f"<{'.'.join(str(part) for part in parts)}@{domain or message_domain()}>"


def new_message_id(reference: str) -> str:
    """`<ph.PH-2026-000123.<uuid>@domain>`: unique, and names the incident for people reading headers."""
    return message_id("ph", reference, uuid.uuid4().hex)


def thread_references(previous_references: str, previous_message_id: str) -> str:
    """References for a reply: the parent's References plus the parent, trimmed to a bounded list."""
    ids = [*previous_references.split(), previous_message_id]
    ids = list(dict.fromkeys(item for item in ids if item))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return " ".join(ids)


def build_email(correspondence) -> EmailMessage:
    """The message exactly as stored: fixed Message-ID, threading headers, the subject token."""
    reference = correspondence.incident.reference
    headers = {
        "Message-ID": correspondence.message_id,
        "Content-Language": "es-MX" if correspondence.language == "es" else correspondence.language,
        "X-PayHealth-Reference": reference,
    }
    if correspondence.kind:  # breakage, update, rca_request…: names the file the local mail sink keeps
        headers["X-PayHealth-Kind"] = correspondence.kind
    if correspondence.in_reply_to:
        headers["In-Reply-To"] = correspondence.in_reply_to
    if correspondence.references:
        headers["References"] = correspondence.references
    message = EmailMessage(
        subject=subject_with_token(correspondence.subject, reference),
        body=correspondence.body_text,
        from_email=correspondence.from_address or settings.DEFAULT_FROM_EMAIL,
        to=list(correspondence.to_addresses),
        cc=list(correspondence.cc_addresses),
        headers=headers,
    )
    for attachment in sendable_attachments(correspondence):
        message.attach(_mime_file(attachment.filename, attachment.content_type, bytes(attachment.content)))
    return message


# The attribute a batch's rows carry their files in, read with one query for the whole batch.
SENDABLE_ATTACHMENTS = "sendable_attachments"


def sendable_attachments_query(attachments):
    """The files a notice's message carries, in the order they were stored."""
    return attachments.filter(omitted=False).order_by("id")


def sendable_attachments(correspondence) -> list:
    """The files of `correspondence` (prefetched into SENDABLE_ATTACHMENTS, or read now)."""
    if hasattr(correspondence, SENDABLE_ATTACHMENTS):
        return getattr(correspondence, SENDABLE_ATTACHMENTS)
    if correspondence.pk is None:
        return []
    return list(sendable_attachments_query(correspondence.attachments.all()))


def _mime_file(filename: str, content_type: str, content: bytes) -> MIMEBase:
    """A file part in base64, so the partner receives the stored bytes exactly (a text part's line
    endings would be rewritten on the way)."""
    kind, *parameters = content_type.split(";")
    maintype, _sep, subtype = (kind.strip() or "application/octet-stream").partition("/")
    params = dict(item.strip().partition("=")[::2] for item in parameters if "=" in item)
    part = MIMEBase(
        maintype or "application", subtype or "octet-stream", **{k: v.strip('"') for k, v in params.items()}
    )
    part.set_payload(content)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


# One SMTP connection per worker process (per thread), kept open between notices: connecting,
# greeting and quitting cost more than the message itself when a bulk action sends hundreds.
_smtp = threading.local()
IDLE_CHECK_AFTER = 5.0  # seconds; an idle connection is probed with NOOP before it is reused


def _smtp_settings() -> tuple:
    return (
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
        settings.EMAIL_HOST_PASSWORD,
        settings.EMAIL_USE_TLS,
        settings.EMAIL_USE_SSL,
        settings.EMAIL_TIMEOUT,
    )


def _drop_smtp() -> None:
    backend = getattr(_smtp, "backend", None)
    _smtp.backend = None
    if backend is not None and backend.connection is not None:
        try:
            backend.close()  # QUIT, politely
        except (smtplib.SMTPException, OSError):  # the server is gone already
            backend.connection.close()
            backend.connection = None


def _open_smtp(backend: SmtpBackend) -> SmtpBackend:
    """The kept connection when it is still good for the current settings, else `backend`, opened."""
    kept = getattr(_smtp, "backend", None)
    if kept is not None and getattr(_smtp, "settings", None) == _smtp_settings() and kept.connection is not None:
        if time.monotonic() - _smtp.last_used < IDLE_CHECK_AFTER:
            return kept
        try:
            if kept.connection.noop()[0] == 250:
                return kept
        except (smtplib.SMTPException, OSError):
            pass
    _drop_smtp()
    backend.open()  # raises on a refused connection, a timeout, a 4xx/5xx greeting
    _smtp.backend, _smtp.settings, _smtp.last_used = backend, _smtp_settings(), time.monotonic()
    return backend


def send_email(message: EmailMessage, connection=None) -> dict[str, tuple[int, str]]:
    """Hand the message to the configured backend; returns the recipients the server refused.

    `connection` is Django's `get_connection()`, made once for a batch of messages; without it
    one is made for this message. Either way the SMTP session is the one kept open above.

    Django's SMTP backend drops smtplib's answer about refused recipients, so for SMTP the
    message goes through the backend's connection directly (the same steps as its `_send`).
    Any error (connection refused, timeout, an SMTP 4xx or 5xx answer) propagates, and the
    connection is dropped so the next notice starts on a fresh one.
    """
    connection = connection or get_connection(fail_silently=False)
    if not isinstance(connection, SmtpBackend):
        connection.send_messages([message])
        return {}
    encoding = message.encoding or settings.DEFAULT_CHARSET
    from_email = sanitize_address(message.from_email, encoding)
    recipients = [sanitize_address(address, encoding) for address in message.recipients()]
    backend = _open_smtp(connection)
    try:
        refused = backend.connection.sendmail(from_email, recipients, message.message().as_bytes(linesep="\r\n"))
    except BaseException:
        _drop_smtp()
        raise
    _smtp.last_used = time.monotonic()
    return {
        address: (code, answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer))
        for address, (code, answer) in (refused or {}).items()
    }
