"""schemathesis against the live schema: no server error, and every response matches the schema.

The app runs in pytest-django's live server (a real HTTP server in a thread) with a few
incidents, partners and merchants; schemathesis reads `/api/v1/schema/` from it and sends a
bounded, deterministic number of generated requests per operation as a lead (Bearer token).
"""

from __future__ import annotations

import re
from decimal import Decimal

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from accounts.services import api_token_create
from cases.services import note_add
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)

MAX_EXAMPLES = 8
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


def _demo_data(lead) -> None:
    partners = [PartnerFactory(code=code, name=name) for code, name in (("prosa", "Prosa"), ("evertec", "Evertec"))]
    merchants = [MerchantFactory(account_id=f"acct_FUZZ{n:07d}", name=f"Fuzz merchant {n}") for n in range(3)]
    for n, (severity, status) in enumerate([("sev1", "new"), ("sev2", "investigating"), ("sev3", "resolved")]):
        incident = IncidentFactory(severity=severity, status=status, owner=lead, created_by=lead)
        PartnerEngagementFactory(incident=incident, partner=partners[n % 2])
        AffectedMerchantFactory(
            incident=incident,
            merchant=merchants[n],
            baseline_rate=Decimal("0.95"),
            observed_rate=Decimal("0.81"),
            attempts=1000,
            failed_attempts=190,
        )
        note_add(incident=incident, actor=lead, body=f"Nota de prueba {n}")


# Revoking tokens would revoke the one this run authenticates with; pinging a webhook posts to
# whatever URL a generated subscription names.
SKIPPED = re.compile(r"/tokens/\{[^}]+\}/revoke/$|/webhooks/.*/ping/$")


def _run_operation(operation, headers: dict) -> str | None:
    """Up to MAX_EXAMPLES generated requests (valid and invalid ones); the first failure, or None."""
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @hypothesis.given(case=strategy)
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - reported per operation below
        return f"{operation.label}: {str(error)[:1500]}"
    return None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_api_conforms_to_its_schema(live_server):
    lead = UserFactory(username="fuzz-lead", role="lead")
    _demo_data(lead)
    _token, plain = api_token_create(user=lead, name="schemathesis")
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    operations = [result.ok() for result in schema.get_all_operations()]
    headers = {"Authorization": f"Bearer {plain}"}

    failures = [
        failure
        for operation in operations
        if not SKIPPED.search(operation.path)
        if (failure := _run_operation(operation, headers))
    ]

    assert len(operations) > 40
    assert not failures, "\n\n".join(failures)
