import copy
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import MerchantFactory, PartnerFactory


def alert_payload(**overrides) -> dict:
    """A valid alert: an 18 pp drop on 1,000 attempts (SEV2 by the default rules)."""
    end = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    payload = {
        "segment": {
            "merchant": "acct_ALERTS0001",
            "partner": "prosa",
            "issuer": "banco-norte",
            "network": "visa",
            "country": "MX",
            "bin_prefix": "457173",
        },
        "window": {"start": (end - timedelta(minutes=15)).isoformat(), "end": end.isoformat()},
        "baseline_approval_rate": 0.92,
        "observed_approval_rate": 0.74,
        "attempts": 1000,
        "decline_codes": [{"code": "91", "count": 120}, {"code": "05", "count": 40}],
        "source": "grafana-auth-rate",
    }
    for key, value in overrides.items():
        if key in ("segment", "window") and isinstance(value, dict):
            payload[key] = {**payload[key], **value}
        else:
            payload[key] = value
    return copy.deepcopy(payload)


@pytest.fixture
def segment_world(db):
    """The merchant, the switch and the issuer that `alert_payload` names."""
    return {
        "merchant": MerchantFactory(account_id="acct_ALERTS0001", name="Tienda Norte"),
        "partner": PartnerFactory(code="prosa", name="Prosa", kind="switch"),
        "issuer": PartnerFactory(code="banco-norte", name="Banco Norte", kind="issuer"),
    }
