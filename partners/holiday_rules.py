"""Mexican bank holidays from the standing rules of the CNBV calendar, for years not yet published.

The CNBV publishes each year's calendar of days banks close; between publications the rules
below have held for years, so PayHealth ships the days they give, marked as inferred:

- 1 January; first Monday of February; third Monday of March; Holy Thursday and Good Friday
  (from Easter Sunday, computed by `dateutil.easter`); 1 May; 16 September; 2 November; third
  Monday of November; 12 December; 25 December;
- 1 October every six years from 2024, when a new federal executive takes office.

`python -m partners.holiday_rules 2028 2035` prints the CSV rows for those years (the format of
`partners/data/mx_bank_holidays.csv`) for whoever extends the bundled calendar; a published
CNBV calendar replaces the inferred rows of its year.
"""

from __future__ import annotations

import csv
import sys
from datetime import date, timedelta

from dateutil.easter import easter

INFERRED = "inferred from standing rule"
INAUGURATION_FIRST_YEAR = 2024
INAUGURATION_EVERY = 6


def nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


def _weekend(day: date) -> tuple[str, str]:
    if day.weekday() == 5:
        return " (cae en sábado)", " (Saturday)"
    if day.weekday() == 6:
        return " (cae en domingo)", " (Sunday)"
    return "", ""


def mx_bank_holidays(year: int) -> list[dict]:
    """The year's days by the standing rules: {"year", "date", "name_es", "name_en", "status"}, by date."""
    sunday = easter(year)
    days = [
        (date(year, 1, 1), "Año Nuevo", "New Year's Day", INFERRED),
        (nth_monday(year, 2, 1), "Día de la Constitución", "Constitution Day", INFERRED),
        (nth_monday(year, 3, 3), "Natalicio de Benito Juárez", "Benito Juárez", INFERRED),
        (sunday - timedelta(days=3), "Jueves Santo", "Holy Thursday", f"inferred (Easter {sunday.isoformat()})"),
        (sunday - timedelta(days=2), "Viernes Santo", "Good Friday", f"inferred (Easter {sunday.isoformat()})"),
        (date(year, 5, 1), "Día del Trabajo", "Labour Day", INFERRED),
        (date(year, 9, 16), "Día de la Independencia", "Independence Day", INFERRED),
        (date(year, 11, 2), "Día de Muertos", "Day of the Dead", INFERRED),
        (nth_monday(year, 11, 3), "Revolución Mexicana", "Revolution Day", INFERRED),
        (date(year, 12, 12), "Día del Empleado Bancario", "Bank Employee Day", INFERRED),
        (date(year, 12, 25), "Navidad", "Christmas", INFERRED),
    ]
    if year >= INAUGURATION_FIRST_YEAR and (year - INAUGURATION_FIRST_YEAR) % INAUGURATION_EVERY == 0:
        days.append(
            (date(year, 10, 1), "Transmisión del Poder Ejecutivo Federal", "Presidential inauguration", INFERRED)
        )
    rows = []
    for day, name_es, name_en, status in sorted(days):
        es, en = _weekend(day)
        rows.append(
            {"year": year, "date": day.isoformat(), "name_es": name_es + es, "name_en": name_en + en, "status": status}
        )
    return rows


def main(argv: list[str]) -> None:
    first, last = int(argv[0]), int(argv[1])
    writer = csv.DictWriter(
        sys.stdout, fieldnames=["year", "date", "name_es", "name_en", "status"], lineterminator="\n"
    )
    for year in range(first, last + 1):
        writer.writerows(mx_bank_holidays(year))


if __name__ == "__main__":
    main(sys.argv[1:])
