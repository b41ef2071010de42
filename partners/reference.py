"""Reference calendars shipped with PayHealth, loaded by a migration and by `load_reference_data`.

Loaders take the model classes as arguments so migrations can pass their historical models;
each is idempotent (update_or_create on natural keys).
"""

from __future__ import annotations

import csv
from datetime import date, time
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

MX_BANKING = "mx-banking"
ALWAYS = "24x7"
US_BUSINESS = "us-eastern-business"
# Mexican bank holidays come from the bundled CSV (the CNBV's published years, then the standing
# rules of partners/holiday_rules.py); US public holidays from the `holidays` package. Both reach
# this last year.
HOLIDAYS_THROUGH = 2035
US_HOLIDAY_YEARS = range(2025, HOLIDAYS_THROUGH + 1)


def load_calendars(BusinessCalendar, WorkingHours, Holiday) -> None:  # noqa: N803 - model classes
    """The 24x7 calendar, Mexico City banking hours with Mexican bank holidays, US Eastern hours."""
    BusinessCalendar.objects.update_or_create(
        code=ALWAYS, defaults={"name": "24x7", "timezone": "UTC", "is_24x7": True}
    )
    mx, _ = BusinessCalendar.objects.update_or_create(
        code=MX_BANKING,
        defaults={"name": "México – horario bancario", "timezone": "America/Mexico_City", "is_24x7": False},
    )
    us, _ = BusinessCalendar.objects.update_or_create(
        code=US_BUSINESS,
        defaults={"name": "US Eastern business hours", "timezone": "America/New_York", "is_24x7": False},
    )
    for calendar in (mx, us):
        for weekday in range(5):
            WorkingHours.objects.update_or_create(
                calendar=calendar, weekday=weekday, opens=time(9, 0), defaults={"closes": time(18, 0)}
            )
    load_holidays(BusinessCalendar, Holiday)


def load_holidays(BusinessCalendar, Holiday) -> None:  # noqa: N803 - model classes
    """The bundled holidays of the Mexican banking and US Eastern calendars (each one that
    exists), without touching the calendars themselves: idempotent."""
    mx = BusinessCalendar.objects.filter(code=MX_BANKING).first()
    if mx is not None:
        with open(DATA_DIR / "mx_bank_holidays.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                Holiday.objects.update_or_create(
                    calendar=mx,
                    date=date.fromisoformat(row["date"]),
                    defaults={"name_en": row["name_en"], "name_es": row["name_es"]},
                )
    us = BusinessCalendar.objects.filter(code=US_BUSINESS).first()
    if us is not None:
        import holidays

        for day, name in sorted(holidays.US(years=US_HOLIDAY_YEARS, categories=("public",)).items()):
            Holiday.objects.update_or_create(calendar=us, date=day, defaults={"name_en": name, "name_es": ""})
