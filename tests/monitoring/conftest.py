"""Shared fixtures of the payment data tests: a merchant, an issuer, a switch and rows for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from partners.models import Partner
from tests.factories import MerchantFactory, PartnerFactory

ACCOUNT = "acct_MONITOR0001"


def bucket(minutes_ago: int = 60, *, now: datetime | None = None) -> datetime:
    """A 15-minute bucket start about `minutes_ago` before now."""
    now = now or datetime.now(UTC)
    moment = now - timedelta(minutes=minutes_ago)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def make_row(start: datetime, **changes) -> dict:
    row = {
        "merchant": ACCOUNT,
        "network": "visa",
        "issuer": "bbva-mx",
        "country": "MX",
        "funding": "debit",
        "entry_mode": "ecommerce",
        "bucket_start": start.isoformat().replace("+00:00", "Z"),
        "attempts": 1000,
        "approvals": 900,
        "soft_declines": 60,
        "hard_declines": 30,
        "errors": 10,
        "amount_attempted": "150000.00",
        "amount_approved": "135000.50",
        "currency": "MXN",
        "decline_codes": {"05": 40, "91": 20},
    }
    row.update(changes)
    return row


def make_rows(count: int, *, start: datetime | None = None, **changes) -> list[dict]:
    """`count` rows for as many different BIN prefixes (segments) in one bucket."""
    start = start or bucket()
    return [make_row(start, bin_prefix=f"{415000 + n:06d}", **changes) for n in range(count)]


@pytest.fixture
def merchant(db):
    return MerchantFactory(account_id=ACCOUNT, name="Tienda Monitoreada")


@pytest.fixture
def issuer(db):
    return PartnerFactory(code="bbva-mx", name="BBVA México", kind=Partner.Kind.ISSUER)


@pytest.fixture
def switch(db):
    return PartnerFactory(code="prosa", name="Prosa", kind=Partner.Kind.SWITCH)


@pytest.fixture
def data(merchant, issuer, switch):
    return {"merchant": merchant, "issuer": issuer, "switch": switch}
