"""Reference data shipped with PayHealth: response codes and the default SLA policies.

Loaders take model classes so migrations can pass their historical models; each is idempotent.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

H = timedelta(hours=1)
M = timedelta(minutes=1)
BUSINESS_DAY = 9 * H  # 09:00–18:00

# DESIGN.md §4: severity → (acknowledge, first notice, update every, resolve, calendar code)
DEFAULT_SLA_TARGETS = {
    "sev1": (15 * M, 30 * M, 30 * M, 4 * H, "24x7"),
    "sev2": (30 * M, 1 * H, 2 * H, 8 * H, "24x7"),
    "sev3": (4 * H, BUSINESS_DAY, BUSINESS_DAY, 5 * BUSINESS_DAY, "mx-banking"),
    "sev4": (BUSINESS_DAY, None, 5 * BUSINESS_DAY, 20 * BUSINESS_DAY, "mx-banking"),
}


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


def load_default_sla_policies(SlaPolicy, BusinessCalendar) -> None:  # noqa: N803 - model classes
    for severity, (ack, notice, update, resolve, calendar_code) in DEFAULT_SLA_TARGETS.items():
        SlaPolicy.objects.get_or_create(
            severity=severity,
            partner_kind="",
            partner=None,
            active=True,
            defaults={
                "name": f"{severity.upper()} default",
                "acknowledge_target": ack,
                "first_notice_target": notice,
                "update_every": update,
                "resolve_target": resolve,
                "calendar": BusinessCalendar.objects.get(code=calendar_code),
            },
        )
