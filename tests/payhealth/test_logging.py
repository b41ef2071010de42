"""A refused request is one line in the server log: no traceback, printed once; no line carries a
card number."""

from __future__ import annotations

import logging
import sys

import pytest
from django.conf import settings
from django.urls import reverse

from payhealth.logging import MaskCardNumbers


@pytest.mark.django_db
def test_a_refused_page_logs_one_line_without_a_traceback(client, outsider, caplog):
    client.force_login(outsider)

    with caplog.at_level(logging.INFO):
        response = client.get(reverse("cases:incident_list"))

    assert response.status_code == 403
    [record] = [record for record in caplog.records if record.name.startswith("django")]
    assert (record.name, record.levelname) == ("django.request", "WARNING")
    assert record.exc_info is None
    line = logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in line and line.endswith("Forbidden (Permission denied): /incidents/")


def test_djangos_records_are_printed_by_one_handler_only():
    """Django's default logging adds a console handler to `django` (in debug); with the root's own,
    every record, traceback included, was printed twice."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate


@pytest.mark.django_db
def test_a_server_error_still_logs_its_traceback(client, lead, monkeypatch, caplog):
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
