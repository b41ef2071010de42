"""Reference data shipped with PayHealth: what each authorization response code means.

The loader takes the model class so a migration can pass its historical model; it is idempotent.
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_response_codes(ResponseCode) -> int:  # noqa: N803 - model class
    count = 0
    with open(DATA_DIR / "decline_codes.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ResponseCode.objects.update_or_create(
                scheme=row["scheme"].strip(),
                code=row["code"].strip(),
                defaults={
                    "meaning": row["meaning"].strip(),
                    "category": row["category"].strip(),
                    "retryable": row["retryable"].strip().lower() == "yes",
                },
            )
            count += 1
    return count
