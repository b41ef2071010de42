"""Logging filters: a refused request is one line in the log, not a traceback; no line carries a
card number.

Django logs every 403 (PermissionDenied) on `django.request` at WARNING with the exception
attached, so a refused page printed its whole traceback; a refusal is an expected answer, not an
error, and one line ("Forbidden (Permission denied): /incidents/") says all an operator needs.
"""

from __future__ import annotations

import logging

from payhealth.pan import mask_text


class RefusedRequestsWithoutTraceback(logging.Filter):
    """Drop the exception (and so the traceback) from the log record of a 403 answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
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
