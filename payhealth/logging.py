"""Logging filters: a refused request is one line in the log, not a traceback; no line carries a
card number.

Django logs every refusal with the exception attached: a 403 (PermissionDenied) on
`django.request`, a 400 (SuspiciousOperation, a forged host, a failed CSRF check) on a logger
below `django.security`, so a refused page printed its whole traceback, and the development
server added its own access line for the same request. A refusal is an expected answer, not an
error: one line ("GET /incidents/ 403 user=analyst: Forbidden (Permission denied)") says all an
operator needs. A 5xx keeps its traceback.
"""

from __future__ import annotations

import logging
import threading

from payhealth.pan import mask_text


def _escaped(text: str) -> str:
    """ASCII, one line, whatever a client sent: as Django escapes the path it logs."""
    return text.encode("unicode_escape").decode("ascii")


def _one_line(text: str) -> str:
    """`text` with its control characters (a newline in a forged header) escaped."""
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _user_name(request) -> str:
    try:
        user = request.user
        if not user.is_authenticated:
            return "anonymous"
        return _one_line(user.get_username())
    except Exception:  # no auth middleware ran, the database is away: a log line must not fail
        return "-"


class RefusedRequestsWithoutTraceback(logging.Filter):
    """A 4xx answer is one line without its exception: method, path, status, user and reason.

    On the handler, so that it sees every logger's records (`django.request`, `django.security.*`).
    The development server's access line (`django.server`) for a request that Django already
    reported is dropped: the same thread writes both, Django's first.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._reported = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500:
            return True
        if record.name == "django.server":
            reported = getattr(self._reported, "status", None)
            self._reported.status = None
            return reported != status
        record.exc_info = None
        record.exc_text = None
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        method = getattr(request, "method", None)
        if not isinstance(path, str) or not isinstance(method, str):
            return True
        try:
            reason = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: the formatter reports it as it would
            return True
        path = _escaped(path)
        reason = _one_line(reason.removesuffix(f": {path}"))
        record.msg = "%s %s %s user=%s: %s"
        record.args = (_escaped(method), path, status, _user_name(request), reason)
        self._reported.status = status
        return True


class MaskCardNumbers(logging.Filter):
    """Mask every card number in what a handler writes: the message, its traceback, its stack.

    On the handler every record reaches (the root's, and a Celery worker's own): a request line
    with a search in its query string (`GET /incidents/?q=…`), an error quoting what it was
    given. The line keeps its shape, with `411111******1111` instead of the number; spaces a URL
    encodes (`4111+1111+…`, `4111%201111…`) are read as spaces.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: the formatter reports it as it would
            return True
        safe, count = mask_text(message)
        decoded, in_decoded = mask_text(message.replace("%20", " ").replace("+", " "))
        if in_decoded > count:
            safe, count = decoded, in_decoded
        if count:
            record.msg, record.args = safe, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)[0]
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)[0]
        return True
