"""The SLA report's date fields in both languages: the browser's date picker takes its value in ISO
form whatever the language (a Spanish "06/09/2026" would leave it empty, and the next submit would
silently lose the start date); an unchanged field keeps its value; a start after the end is an
error on the form, never a silent reset."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import translation

from cases.sla.reports.filters import DEFAULT_DAYS, desk_today

pytestmark = pytest.mark.django_db

REPORT = reverse("cases:sla_report")
AFTER = {"en": "The start date is after the end date.", "es": "La fecha inicial es posterior a la fecha final."}


def _input(html: str, name: str) -> dict:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
    return dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag))


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_default_range_is_in_the_date_inputs_as_iso_dates(client, lead, language):
    client.force_login(lead)
    today = desk_today()

    html = client.get(REPORT, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    start, end = _input(html, "start"), _input(html, "end")
    assert (start["type"], end["type"]) == ("date", "date")
    assert end["value"] == today.isoformat()
    assert start["value"] == (today - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat()
    if language == "es":  # the dates shown as text stay in Spanish words
        assert "Relojes iniciados del" in html


@pytest.mark.parametrize("language", ["en", "es"])
def test_changing_only_the_end_date_keeps_the_start(client, lead, language):
    """What the browser sends when only the end was changed: the start as the page showed it."""
    client.force_login(lead)
    shown = client.get(REPORT, {"start": "2026-03-02", "end": "2026-05-31"}, HTTP_ACCEPT_LANGUAGE=language)
    start = _input(shown.content.decode(), "start")["value"]

    response = client.get(REPORT, {"start": start, "end": "2026-04-30"}, HTTP_ACCEPT_LANGUAGE=language)

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["filters"].start == dt.date(2026, 3, 2)
    assert response.context["filters"].end == dt.date(2026, 4, 30)
    assert (_input(html, "start")["value"], _input(html, "end")["value"]) == ("2026-03-02", "2026-04-30")


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_start_after_the_end_is_an_error_and_both_dates_stay(client, lead, language):
    client.force_login(lead)

    response = client.get(REPORT, {"start": "2026-05-10", "end": "2026-05-01"}, HTTP_ACCEPT_LANGUAGE=language)

    html = response.content.decode()
    assert response.context["filters"] is None
    assert f'<span class="errorlist" id="start-errors">{AFTER[language]}</span>' in html
    assert (_input(html, "start")["value"], _input(html, "end")["value"]) == ("2026-05-10", "2026-05-01")


def test_every_date_picker_of_the_desk_renders_iso_in_spanish():
    """The shared widgets every form with a date uses: ISO values in Spanish, localized text elsewhere."""
    from cases.filters import IncidentFilterSet
    from cases.forms import LocalDateTimeField
    from cases.sla.reports import SlaReportForm
    from costs.forms import RateCardForm
    from costs.views.billing import CreditNoteForm, RecoveryFilterForm
    from payhealth.forms import DateInput, DateTimeLocalInput, MonthInput

    day = dt.date(2026, 6, 9)
    moment = dt.datetime(2026, 6, 9, 14, 5)
    with translation.override("es"):
        assert 'value="2026-06-09"' in DateInput().render("d", day)
        assert 'type="datetime-local"' in DateTimeLocalInput().render("m", moment)
        assert 'value="2026-06-09T14:05"' in DateTimeLocalInput().render("m", moment)
        assert 'type="month" name="p" value="2026-06"' in MonthInput().render("p", day)
        assert (
            'value="2026-06-09"'
            in SlaReportForm(None, now=dt.datetime(2026, 6, 9, 18, tzinfo=dt.UTC))["end"].as_widget()
        )
        assert 'value="2026-06-09"' in RateCardForm(initial={"effective_from": day})["effective_from"].as_widget()
        assert 'value="2026-06-09"' in CreditNoteForm(initial={"issued_on": day})["issued_on"].as_widget()
        assert 'value="2026-06"' in RecoveryFilterForm(initial={"start": day})["start"].as_widget()
        assert 'value="2026-06-09T14:05"' in LocalDateTimeField().widget.render("x", moment)
        assert isinstance(IncidentFilterSet.base_filters["created_from"].field.widget, DateInput)
        from django.utils import formats

        assert formats.date_format(day, "SHORT_DATE_FORMAT") == "09/06/2026"  # text stays Mexican
