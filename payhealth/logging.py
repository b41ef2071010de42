"""Logging filters: a refused request is one line in the log, not a traceback.

Django logs every 403 (PermissionDenied) on `django.request` at WARNING with the exception
attached, so a refused page printed its whole traceback; a refusal is an expected answer, not an
error, and one line ("Forbidden (Permission denied): /incidents/") says all an operator needs.
"""

from __future__ import annotations

import logging


class RefusedRequestsWithoutTraceback(logging.Filter):
    """Drop the exception (and so the traceback) from the log record of a 403 answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
