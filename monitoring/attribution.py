"""Which slices and decline codes explain a finding's excess declines (Adtributor-style), and
whether the drop is real or a mix shift. The attribution helper fills this module in; the
interface below is what the detector and the incident flow call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring.models import Finding


@dataclass(frozen=True)
class AttributionRow:
    dimension: str  # "issuer", "route", "bin_prefix", "network", "country", "funding", "entry_mode", "decline_code"
    key: str  # the slice's value: a partner id, a BIN prefix, a choice value, a code
    label: str  # as people read it: "BBVA México", "BIN 415231", "Visa", "91"
    explained: float  # share of the finding's excess declines this slice explains (0–1)
    surprise: float  # Jensen–Shannon divergence of the slice's decline mix, baseline vs window
    excess_declines: int
    partner_id: int | None = None
    bin_prefix: str = ""
    codes: list[dict] = field(default_factory=list)  # [{"code": "91", "explained": 0.9}]


@dataclass(frozen=True)
class Attribution:
    kind: str  # AttributionKind value ("drop" or "mix_shift"), "" when nothing could be said
    excess_declines: int
    rows: list[AttributionRow] = field(default_factory=list)


def finding_attribution(finding: Finding) -> Attribution:
    """The attribution of the finding's window against its baseline."""
    return Attribution(kind="", excess_declines=finding.excess_declines)


def attribution_rows_json(attribution: Attribution) -> list[dict]:
    """The rows as `Finding.attribution` stores them."""
    return [row.__dict__ | {"codes": list(row.codes)} for row in attribution.rows]


def attribution_sentence(finding: Finding, *, language: str) -> str:
    """One sentence in `language` ("en" or "es") from the finding's stored attribution."""
    return ""
