"""Reference data shipped with PayHealth: what each authorization response code means.

The loader takes the model class so a migration can pass its historical model; it is idempotent
(an update of each reference row by scheme and code) and sets only the columns the model has at
that point of the migrations, so an early migration can run it before later columns exist.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def response_code_rows() -> list[dict]:
    """The bundled CSV as typed values: scheme, code, meaning, meaning_es, category, retryable, visa_category."""
    rows = []
    with open(DATA_DIR / "decline_codes.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            visa = (row.get("visa_category") or "").strip()
            rows.append(
                {
                    "scheme": row["scheme"].strip(),
                    "code": row["code"].strip(),
                    "meaning": row["meaning"].strip(),
                    "meaning_es": (row.get("meaning_es") or "").strip(),
                    "category": row["category"].strip(),
                    "retryable": row["retryable"].strip().lower() == "yes",
                    "visa_category": int(visa) if visa else None,
                }
            )
    return rows


def load_response_codes(ResponseCode) -> int:  # noqa: N803 - model class
    columns = {field.name for field in ResponseCode._meta.get_fields()}
    count = 0
    for row in response_code_rows():
        defaults = {name: value for name, value in row.items() if name not in ("scheme", "code") and name in columns}
        ResponseCode.objects.update_or_create(scheme=row["scheme"], code=row["code"], defaults=defaults)
        count += 1
    return count
