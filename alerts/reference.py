"""The default severity rules, loaded by migration 0002 and after test flushes.

Drop thresholds are the design's: SEV1 ≥ 20 pp, SEV2 5–20 pp, SEV3 2–5 pp, SEV4 otherwise.

Size thresholds keep a rate measured on a handful of attempts from paging anyone. Each rule's
attempts minimum makes its drop about three standard errors of a binomial approval rate at a
90% baseline: 3·√(0.9·0.1/n) ≤ d gives n ≥ 0.81/d² (d as a fraction), so 20 pp needs 21
attempts (rounded up to 100), 5 pp needs 324 (→ 500) and 2 pp needs 2,025 (→ 2,000, 2.98 SE).
The volume alternative lets a high-ticket merchant with few attempts count: MXN 500,000 (about
USD 25,000) for SEV1, 100,000 for SEV2, 20,000 for SEV3, roughly a day's card volume of a
mid-market merchant. Volume thresholds are in MXN, the desk's currency; leads add rows for
others. A big drop on too little traffic falls through to the next rule, and to SEV4 at the end.
"""

from __future__ import annotations

from decimal import Decimal

DEFAULT_RULES = [
    # priority, min drop (pp), min attempts, min volume (MXN) or None, severity, description
    (10, "20", 100, "500000", "sev1", "Switch or network outage: drop of 20 pp or more"),
    (20, "5", 500, "100000", "sev2", "Major regression: drop of 5 to 20 pp (e.g. one issuer down)"),
    (30, "2", 2000, "20000", "sev3", "Sustained regression: drop of 2 to 5 pp"),
    (100, "0", 0, None, "sev4", "Anything else: minor or informational"),
]


def load_default_severity_rules(rule_model) -> None:
    """Create the default rules when there are none (takes the model so migrations can pass theirs)."""
    if rule_model.objects.exists():
        return
    for priority, drop, attempts, volume, severity, description in DEFAULT_RULES:
        rule_model.objects.create(
            priority=priority,
            min_drop_pp=Decimal(drop),
            min_attempts=attempts,
            min_volume=Decimal(volume) if volume else None,
            volume_currency="MXN" if volume else "",
            severity=severity,
            description=description,
        )
