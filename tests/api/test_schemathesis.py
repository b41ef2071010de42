"""schemathesis 4 against the live schema: no server error, and every answer as the schema says.

The app runs in pytest-django's live server (a real HTTP server in a thread) with a few
incidents, partners, merchants and notices; schemathesis reads `/api/v1/schema/` from it and, for
each of two callers (a lead and a partner manager, each with a Bearer token of their own), sends
a bounded, deterministic number of generated requests per operation, valid ones (positive mode)
and invalid ones (negative mode), then runs the stateful phase: sequences of calls along the
links schemathesis infers between operations (an id a create answers, used by a retrieve, a
change or a delete), where the checks that need history run (use after free, resource
availability).

Every check schemathesis 4 has runs on every answer (ALL_CHECKS), except:

- `positive_data_acceptance` accepts 400 as well as its defaults: a request the schema calls
  valid can still break a rule of the desk that no schema can say (an incident that cannot move
  from its status to the one asked, a severity reason made of spaces, a partner that is not
  engaged on the incident, a notice that is not a draft any more), and those are 400s with the
  field named, as in the pages;
- `object_level_authorization` is left out: it needs two identities that may each see only what
  they created, while every desk member sees every incident by design (README "Security");
- `max_response_time` is left out: timing on a shared CI runner proves nothing.

Operations skipped, each for its reason:

- `POST /tokens/{id}/revoke/`: it would revoke the token the run authenticates with;
- `POST /webhooks/subscriptions/{id}/ping/`: it posts to whatever URL a generated subscription
  names (webhook targets are tested with a receiver of their own in tests/webhooks/).
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from accounts.services import api_token_create
from cases.correspondence.compose import notice_compose
from cases.services import note_add
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerContactFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    UserFactory,
)
from tests.monitoring.findings_support import make_finding, make_monitor, slice_segment

# Per caller: generated requests per operation and mode, and sequences of linked calls. The lead
# may do everything, so its run reaches the most code; the partner manager's is shorter: what
# it adds is the same schema answered with 403s (every route's permissions are walked one by one
# in tests/api/test_api_permission_matrix.py).
EXAMPLES = {"lead": (4, 10), "partner_manager": (1, 4)}
ALL_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
]
# A request the schema calls valid may still break a rule of the desk: a 400 naming the field.
POSITIVE_STATUSES = ["2xx", "400", "401", "403", "404", "409", "429"]
CONFIG = {"checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}}}

SKIPPED = re.compile(r"/tokens/\{[^}]+\}/revoke/$|/webhooks/subscriptions/\{[^}]+\}/ping/$")
ROLES = tuple(EXAMPLES)


def _demo_data(lead) -> None:
    partners = [PartnerFactory(code=code, name=name) for code, name in (("prosa", "Prosa"), ("evertec", "Evertec"))]
    for partner in partners:
        PartnerContactFactory(partner=partner)
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
        if status != "resolved":
            notice_compose(incident=incident, actor=lead, kind="breakage")
    # The detector's findings, segment states and a suppression window for the triage routes.
    for n, merchant in enumerate(merchants):
        segment = slice_segment(merchant)
        make_finding(segment, state=("alerted", "watch", "recovered")[n])
        make_monitor(segment, ("alert", "watch", "ok")[n])


def _settings(max_examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        report_multiple_bugs=False,
    )


def _run_operation(operation, headers: dict, examples: int) -> list[str]:
    """Up to `examples` valid and `examples` invalid requests; each failure found.

    Failures are collected, not raised: a raise would make Hypothesis replay the example against a
    server whose data the run itself has changed since."""
    failures = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        failures += _run_mode(operation, mode, headers, examples)
    return failures


def _run_mode(operation, mode: GenerationMode, headers: dict, examples: int) -> list[str]:
    failures = []

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @_settings(examples)
    def run(case):
        try:
            case.call_and_validate(headers=headers, checks=ALL_CHECKS)
        except FailureGroup as error:
            failures.append(f"{operation.label} ({mode.value}): {str(error)[:1500]}")

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):  # no invalid request exists for it
        run()
    return failures


def _stateful(schema, headers: dict, examples: int) -> list[str]:
    """Sequences of linked calls (the links schemathesis infers); each failure found.

    The calls change the server's data, so Hypothesis may find that replaying a scenario draws
    differently (`Flaky`); schemathesis's own runner then starts again, and so does this one,
    until `examples` scenarios have run (at most three starts)."""
    machine = schema.as_state_machine()
    failures, scenarios = [], []

    class Desk(machine):
        def setup(self):
            scenarios.append(1)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(
                    response,
                    checks=ALL_CHECKS,
                    headers=headers,
                    transport_kwargs=kwargs or None,
                    recorder=self.recorder,
                )
            except FailureGroup as error:
                failures.append(f"stateful {case.operation.label}: {str(error)[:1500]}")

    for _start in range(3):
        try:
            Desk.run(settings=_settings(examples))
        except (hypothesis.errors.Flaky, AssertionError) as error:
            if isinstance(error, AssertionError) and "hypothesis" not in type(error).__module__ + str(error):
                raise
        if len(scenarios) >= examples:
            break
    assert len(scenarios) >= examples // 2, f"only {len(scenarios)} stateful scenarios ran"
    return failures


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_api_conforms_to_its_schema(live_server):
    users = {role: UserFactory(username=f"fuzz-{role}", role=role) for role in ROLES}
    _demo_data(users["lead"])
    config = schemathesis.Config.from_dict(CONFIG)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json", config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    walked = [operation for operation in operations if not SKIPPED.search(operation.path)]
    assert len(operations) > 40
    assert len(operations) - len(walked) == 2  # the two skipped above, no more

    failures = []
    for role, user in users.items():
        headers = {"Authorization": f"Bearer {api_token_create(user=user, name=f'schemathesis {role}')[1]}"}
        per_operation, sequences = EXAMPLES[role]
        for operation in walked:
            failures += [f"[{role}] {failure}" for failure in _run_operation(operation, headers, per_operation)]
        stateful = _stateful(schema.exclude(path_regex=SKIPPED.pattern), headers, sequences)
        failures += [f"[{role}] {failure}" for failure in stateful]

    assert not failures, "\n\n".join(failures)
