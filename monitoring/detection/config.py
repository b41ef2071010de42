"""The detector's settings as one merchant's segments are tested with them.

Built-in `DETECTOR_DEFAULTS`, overridden by the global `MonitorSettings` row, overridden by the
merchant's row, field by field (an empty field inherits).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal

from django.db.models import Q

from monitoring.models import DETECTOR_DEFAULTS, MonitorSettings


@dataclass(frozen=True)
class DetectorConfig:
    enabled: bool
    min_bucket_attempts: int
    min_hour_attempts: int
    min_drop_pp: Decimal
    min_excess_declines: int
    watch_q: Decimal
    alert_q: Decimal
    alert_consecutive: int
    baseline_weeks: int
    baseline_slot_radius: int
    dispersion_floor: Decimal
    code_min_count: int
    code_min_ratio: Decimal
    code_min_share_pp: Decimal
    recovery_buckets: int
    recovery_within_pp: Decimal


TUNABLES = tuple(field.name for field in fields(DetectorConfig))
assert set(TUNABLES) == set(DETECTOR_DEFAULTS), "DetectorConfig and DETECTOR_DEFAULTS name the same settings"


def _merged(*rows: MonitorSettings | None) -> DetectorConfig:
    values = dict(DETECTOR_DEFAULTS)
    for row in rows:
        if row is None:
            continue
        for name in TUNABLES:
            value = getattr(row, name)
            if value is not None:
                values[name] = value
    return DetectorConfig(**values)


def detector_config(merchant_id: int | None = None) -> DetectorConfig:
    """The settings for one merchant (the global ones without a merchant): one query."""
    if merchant_id is None:
        return _merged(MonitorSettings.objects.filter(merchant__isnull=True).first())
    return detector_configs([merchant_id])[merchant_id]


def detector_configs(merchant_ids: Iterable[int]) -> dict[int, DetectorConfig]:
    """The settings of many merchants in one query: merchant id → config."""
    wanted = set(merchant_ids)
    rows = list(MonitorSettings.objects.filter(Q(merchant__isnull=True) | Q(merchant_id__in=wanted)))
    global_row = next((row for row in rows if row.merchant_id is None), None)
    by_merchant = {row.merchant_id: row for row in rows if row.merchant_id is not None}
    return {merchant_id: _merged(global_row, by_merchant.get(merchant_id)) for merchant_id in wanted}
