"""Partners, approved rate cards and generated billing for the cost checks' tests."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from costs.importing import RECORD_COLUMNS, _copy, fee_import
from costs.models import FEE_COLUMNS, FeeImport
from costs.services import rate_card_approve, rate_card_create
from partners.models import Partner

JUNE = date(2026, 6, 1)


@pytest.fixture
def acquirer(db):
    return Partner.objects.create(code="adquirente-mx", name="Adquirente MX", kind="acquirer", country="MX")


@pytest.fixture
def make_partner(db):
    made = iter(range(1000))

    def make(kind="acquirer"):
        n = next(made)
        return Partner.objects.create(code=f"socio-{n}", name=f"Socio {n}", kind=kind, country="MX")

    return make


@pytest.fixture
def approved_card(lead):
    def make(partner, rules, effective_from=JUNE):
        card = rate_card_create(partner=partner, effective_from=effective_from, rules=rules)
        return rate_card_approve(rate_card=card, actor=lead)

    return make


DEBIT_ECOM = {"network": "visa", "funding": "debit", "region": "domestic", "entry_mode": "ecommerce"}


def records(
    count: int,
    *,
    start: date = JUNE,
    days: int = 30,
    amount: str = "500.00",
    fee_bps=None,
    fee=None,
    prefix: str = "ARN",
    downgraded: int = 0,
    **columns,
) -> list[dict]:
    """`count` transaction fee records spread evenly over `days` from `start`; the interchange fee
    is `fee` or `fee_bps` of the amount (a callable of the day gives it per day); the first
    `downgraded` carry a downgrade reason."""
    rows = []
    value = Decimal(amount)
    per_day = -(-count // days)
    for n in range(count):
        day = start + timedelta(days=n // per_day)
        bps = fee_bps(day) if callable(fee_bps) else fee_bps
        charged = Decimal(fee) if fee is not None else (value * Decimal(bps) / 10000)
        row = {"reference": f"{prefix}{n:07d}", "date": day.isoformat(), "amount": amount}
        row |= {"interchange_fee": str(charged), "currency": "MXN", **DEBIT_ECOM, **columns}
        if n < downgraded:
            row["downgrade_reason"] = "sin datos de seguridad"
        rows.append(row)
    return rows


def load(partner, rows, shape="records", mapping=None):
    return fee_import(rows, partner=partner, shape=shape, mapping=mapping)


def bulk_load(partner, rows):
    """Records written by the import's COPY without its row checks: for large generated sets
    whose values `records` made valid (the checks themselves are tested through `load`)."""
    done = FeeImport.objects.create(partner=partner, sha256=uuid.uuid4().hex * 2, shape="records", rows=len(rows))
    defaults = dict.fromkeys(RECORD_COLUMNS, "") | dict.fromkeys(FEE_COLUMNS.values(), "0")
    renamed = {"date": "txn_date", "bin": "bin_prefix"}
    copied = []
    for number, row in enumerate(rows, start=1):
        values = defaults | {renamed.get(key, key): value for key, value in row.items()}
        copied.append((done.pk, partner.pk, number, *(values[name] for name in RECORD_COLUMNS)))
    _copy("costs_feerecord", RECORD_COLUMNS, copied)
    return done
