"""The Mexico sample figures (costs/data/): SAMPLE figures to start from, not published rates.

`mx_interchange_sample.csv` holds domestic interchange for the 29 giros (debit and credit, in bps;
0 for the social-impact giros, which are marked zero-rated); `mx_fees_sample.csv` network scheme
and cross-border fees and example switch and acquirer markups. The giros are loaded by a
migration; `sample_rate_card_create` turns the figures into a draft rate card for a partner, which
the desk edits before a lead approves it.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from costs.models import FeeType, Funding, Region

DATA = Path(__file__).resolve().parent / "data"
INTERCHANGE_FILE = DATA / "mx_interchange_sample.csv"
FEES_FILE = DATA / "mx_fees_sample.csv"
SAMPLE_NOTE = "SAMPLE figures (costs/data/): replace them with the partner's own rate card before approving."


def _read(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def giros_load(giro_model) -> int:
    """Create or refresh the giros from the sample file (takes the model: migrations pass theirs)."""
    rows = _read(INTERCHANGE_FILE)
    for row in rows:
        giro_model.objects.update_or_create(
            code=row["giro"],
            defaults={"name_es": row["name_es"], "name_en": row["name_en"], "zero_rated": row["zero_rated"] == "true"},
        )
    return len(rows)


def sample_rules(partner_kind: str) -> list[dict]:
    """The sample fee rules for a partner of this kind (partners.Partner.Kind)."""
    rules: list[dict] = []
    if partner_kind in ("acquirer", "card_network"):
        for row in _read(INTERCHANGE_FILE):
            for funding, column in ((Funding.DEBIT, "debit_bps"), (Funding.CREDIT, "credit_bps")):
                rules.append(
                    {
                        "fee_type": FeeType.INTERCHANGE,
                        "funding": funding,
                        "region": Region.DOMESTIC,
                        "giro": row["giro"],
                        "rate_bps": row[column],
                    }
                )
    for row in _read(FEES_FILE):
        if row["partner_kind"] == partner_kind:
            rules.append(
                {key: row[key] for key in ("fee_type", "network", "funding", "region", "rate_bps", "fixed_fee")}
            )
    return rules


def sample_rate_card_create(*, partner, effective_from: date, actor=None):
    """A draft rate card of the sample figures for the partner's kind (none for other kinds)."""
    from costs.services import rate_card_create

    rules = sample_rules(partner.kind)
    if not rules:
        return None
    return rate_card_create(partner=partner, effective_from=effective_from, rules=rules, actor=actor, notes=SAMPLE_NOTE)
