"""A refused request is one line in the server log: no traceback, printed once."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse


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
