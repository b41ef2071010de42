"""Holidays shipped through 2035 (Mexican bank holidays from the CNBV's standing rules, US public
holidays) and the warning leads get on a calendar that has no holidays for next year."""

import csv
from datetime import date

import pytest
from django.urls import reverse

from partners.holiday_rules import INFERRED, mx_bank_holidays
from partners.models import BusinessCalendar, Holiday
from partners.reference import DATA_DIR, HOLIDAYS_THROUGH
from partners.views_calendars import missing_holiday_year

pytestmark = pytest.mark.django_db


def bundled_rows() -> list[dict]:
    with open(DATA_DIR / "mx_bank_holidays.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_rules_give_the_days_typed_in_by_hand_for_2026_and_2027():
    for year in (2026, 2027):
        typed = [row["date"] for row in bundled_rows() if row["year"] == str(year)]
        assert [row["date"] for row in mx_bank_holidays(year)] == typed


def test_the_rules_follow_easter_mondays_and_the_inauguration():
    days = {row["date"]: row for row in mx_bank_holidays(2030)}

    assert "2030-04-18" in days and "2030-04-19" in days  # Easter Sunday 21 April 2030
    assert "2030-02-04" in days and "2030-03-18" in days and "2030-11-18" in days
    assert days["2030-10-01"]["name_es"] == "Transmisión del Poder Ejecutivo Federal"
    assert not any(row["date"].endswith("10-01") for row in mx_bank_holidays(2031))


def test_mexican_and_us_calendars_hold_every_year_through_2035_and_unpublished_years_say_so():
    mx = BusinessCalendar.objects.get(code="mx-banking")
    us = BusinessCalendar.objects.get(code="us-eastern-business")

    for year in range(2026, HOLIDAYS_THROUGH + 1):
        assert mx.holidays.filter(date__year=year).count() >= 11, year
        assert us.holidays.filter(date__year=year).count() >= 10, year
    assert mx.holidays.filter(date=date(2030, 10, 1)).exists()
    assert us.holidays.filter(date=date(2035, 11, 22), name_en__icontains="Thanksgiving").exists()
    later = [row for row in bundled_rows() if int(row["year"]) >= 2026]
    assert later and all(row["status"].startswith("inferred") for row in later)
    assert INFERRED in {row["status"] for row in later}


def test_a_calendar_without_next_years_holidays_is_found_with_an_explicit_date():
    mx = BusinessCalendar.objects.get(code="mx-banking")
    always = BusinessCalendar.objects.get(code="24x7")

    assert missing_holiday_year(mx, today=date(2026, 12, 6)) is None
    assert missing_holiday_year(mx, today=date(2035, 12, 6)) == 2036
    assert missing_holiday_year(always, today=date(2035, 12, 6)) is None


@pytest.fixture
def bare_calendar():
    calendar = BusinessCalendar.objects.create(code="bank-bare", name="Bank without holidays", timezone="UTC")
    Holiday.objects.create(calendar=calendar, date=date(2020, 1, 1), name_en="Old")
    return calendar


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "This calendar has no holidays for"), ("es", "Este calendario no tiene días feriados")],
)
def test_leads_are_warned_about_a_calendar_without_next_years_holidays(
    client, lead, analyst, bare_calendar, language, text
):
    url = reverse("partners:calendar_detail", args=[bare_calendar.code])

    client.force_login(lead)
    warned = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    client.force_login(analyst)
    not_warned = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert text in warned and "holiday-gap" in warned
    assert "holiday-gap" not in not_warned
