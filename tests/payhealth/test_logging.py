"""A refused request is one line in the server log (method, path, status, user): no traceback,
printed once; a server error keeps its traceback; requests log only refusals and errors unless
PAYHEALTH_REQUEST_LOG_LEVEL asks for more; no line carries a card number."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse

from payhealth.logging import MaskCardNumbers, RefusedRequestsWithoutTraceback
from tests.support import ROOT, subprocess_env


@pytest.fixture
def console():
    """What the project's console handler (the root's, as configured in LOGGING) writes."""
    [handler] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RefusedRequestsWithoutTraceback) for f in handler.filters)
    ]
    written = io.StringIO()
    previous = handler.setStream(written)
    try:
        yield written
    finally:
        handler.setStream(previous)


def _lines(written: io.StringIO) -> list[str]:
    return written.getvalue().splitlines()


@pytest.mark.django_db
def test_a_refused_page_logs_one_line_without_a_traceback(client, outsider, console, caplog):
    client.force_login(outsider)

    with caplog.at_level(logging.INFO):
        response = client.get(reverse("cases:incident_list"))

    assert response.status_code == 403
    [record] = [record for record in caplog.records if record.name.startswith("django")]
    assert (record.name, record.levelname, record.exc_info) == ("django.request", "WARNING", None)
    [line] = _lines(console)
    assert line.endswith(
        f" WARNING django.request: GET /incidents/ 403 user={outsider.username}: Forbidden (Permission denied)"
    )


@pytest.mark.django_db
def test_a_missing_page_logs_one_line_without_a_traceback(client, lead, console):
    client.force_login(lead)

    response = client.get("/incidents/PH-1999-999999/")

    assert response.status_code == 404
    [line] = _lines(console)
    assert line.endswith(f" WARNING django.request: GET /incidents/PH-1999-999999/ 404 user={lead.username}: Not Found")


@pytest.mark.django_db
def test_a_suspicious_request_logs_one_line_without_a_traceback(client, console):
    """A forged Host header: Django logs it on `django.security.DisallowedHost`, with the exception."""
    response = client.get("/login/", HTTP_HOST="evil.example\nforged: line")

    assert response.status_code == 400
    [line] = _lines(console)
    assert (
        " ERROR django.security.DisallowedHost: GET /login/ 400 user=-: Invalid HTTP_HOST header" in line
    )  # before the login was read
    assert "\\n" in line  # the newline the client sent is written as an escape, on the same line


def test_the_servers_access_line_for_a_reported_refusal_is_dropped(console):
    """The development server writes its own line after Django's for the same request (same thread)."""
    request = RequestFactory().post("/incidents/")
    request.user = AnonymousUser()
    logging.getLogger("django.request").warning(
        "Forbidden (Permission denied): %s", "/incidents/", extra={"status_code": 403, "request": request}
    )
    server = logging.getLogger("django.server")
    server.warning('"%s" %s %s', "POST /incidents/ HTTP/1.1", "403", "0", extra={"status_code": 403})
    # An access line Django did not report (a static file the server could not find) stays.
    server.warning('"%s" %s %s', "GET /static/x.css HTTP/1.1", "404", "0", extra={"status_code": 404})

    lines = _lines(console)
    assert len(lines) == 2, lines
    assert lines[0].endswith("django.request: POST /incidents/ 403 user=anonymous: Forbidden (Permission denied)")
    assert lines[1].endswith('django.server: "GET /static/x.css HTTP/1.1" 404 0')


def test_djangos_records_are_printed_by_one_handler_only():
    """Django's default logging adds a console handler to `django` (in debug); with the root's own,
    every record, traceback included, was printed twice."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate


@pytest.mark.django_db
def test_a_server_error_still_logs_its_traceback(client, lead, monkeypatch, console, caplog):
    """Only refusals lose the traceback; a real failure keeps it."""
    from cases.views import overview

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(overview, "incident_overview", broken)
    client.raise_request_exception = False
    client.force_login(lead)

    with caplog.at_level(logging.INFO):
        response = client.get(reverse("overview"))

    assert response.status_code == 500
    [record] = [record for record in caplog.records if record.name == "django.request"]
    assert record.exc_info is not None
    written = console.getvalue()
    assert " ERROR django.request: Internal Server Error: /" in written
    assert "Traceback (most recent call last)" in written and "RuntimeError: boom" in written


# --- how much requests log ----------------------------------------------------------------------

REQUESTS_LOGGED = """
import logging
import django
django.setup()
logging.getLogger("django.server").info(
    '"%s" %s %s', "GET /sla/badges/?q=4111+1111+1111+1111 HTTP/1.1", "200", "512", extra={"status_code": 200}
)
logging.getLogger("django.request").warning("Not Found: %s", "/nowhere/")
"""


def _logged_by_a_new_process(**variables: str) -> str:
    env = subprocess_env(DJANGO_SETTINGS_MODULE="payhealth.settings.local")
    for name in ("LOG_LEVEL", "PAYHEALTH_REQUEST_LOG_LEVEL"):
        env.pop(name, None)
    env.update(variables)
    result = subprocess.run(
        [sys.executable, "-c", REQUESTS_LOGGED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_requests_log_only_refusals_and_errors_by_default():
    assert settings.LOGGING["loggers"]["django.server"]["level"] == "WARNING"
    written = _logged_by_a_new_process()
    assert "Not Found: /nowhere/" in written
    assert "GET /sla/badges/" not in written  # a poll that succeeded: nothing


def test_the_request_log_level_turns_the_access_lines_on():
    written = _logged_by_a_new_process(PAYHEALTH_REQUEST_LOG_LEVEL="info")
    # Through the project's handler: card numbers masked like every other line.
    assert 'INFO django.server: "GET /sla/badges/?q=411111******1111 HTTP/1.1" 200 512' in written
    assert "Not Found: /nowhere/" in written


def test_a_stricter_log_level_quiets_requests_too_unless_they_are_asked_for():
    assert "Not Found" not in _logged_by_a_new_process(LOG_LEVEL="ERROR")
    assert "Not Found" in _logged_by_a_new_process(LOG_LEVEL="ERROR", PAYHEALTH_REQUEST_LOG_LEVEL="WARNING")


# --- card numbers ------------------------------------------------------------------------------

PAN = "4111111111111111"
FORMS_OF_A_PAN = (PAN, "4111 1111 1111 1111", "4111-1111-1111-1111")


def _written(record: logging.LogRecord) -> str:
    handler = logging.StreamHandler()
    handler.addFilter(MaskCardNumbers())
    handler.setFormatter(logging.Formatter("%(message)s"))
    assert handler.filter(record)
    return handler.format(record)


def test_no_log_line_carries_a_card_number_spaced_dashed_or_url_encoded():
    line = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" %s', ("GET /?q=4111+1111+1111+1111 HTTP/1.1", 200), None
    )
    assert _written(line) == '"GET /?q=411111******1111 HTTP/1.1" 200'
    try:
        raise ValueError(f"bad value 4111-1111-1111-1111 in {PAN}")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (PAN,), sys.exc_info())
    text = _written(failed)
    assert "Traceback" in text and "ValueError: bad value 411111******1111 in 411111******1111" in text
    assert all(shape not in text for shape in FORMS_OF_A_PAN)


def test_every_log_handler_of_the_project_masks_card_numbers():
    handlers = settings.LOGGING["handlers"]
    assert handlers and all("mask_card_numbers" in handler.get("filters", ()) for handler in handlers.values())
    assert settings.LOGGING["filters"]["mask_card_numbers"] == {"()": "payhealth.logging.MaskCardNumbers"}


def test_a_celery_worker_masks_card_numbers_in_its_own_handlers():
    from payhealth.celery import _mask_card_numbers_in_worker_logs

    logger = logging.getLogger("test.worker")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        _mask_card_numbers_in_worker_logs(logger=logger)
        _mask_card_numbers_in_worker_logs(logger=logger)
        assert [type(f) for f in handler.filters] == [MaskCardNumbers]
    finally:
        logger.removeHandler(handler)
