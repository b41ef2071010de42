"""Two people decide the same finding at the same instant: the second waits for the first's lock
on the finding, then sees it decided and is refused; one decision, one suppression."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from monitoring import triage
from monitoring.models import FindingState, Suppression
from tests.database import HeldTransaction
from tests.factories import UserFactory
from tests.monitoring.findings_support import make_finding

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_decisions_on_one_finding(monkeypatch):
    ana = UserFactory(username="ana", role="analyst")
    pablo = UserFactory(username="pablo", role="partner_manager")
    finding = make_finding()
    held = HeldTransaction()
    real_record = triage._record_decision

    def record_then_hold(*args, **kwargs):
        real_record(*args, **kwargs)
        held.hold()

    monkeypatch.setattr(triage, "_record_decision", record_then_hold)
    results: dict[str, object] = {}

    def suppress() -> None:
        try:
            until = datetime.now(UTC) + timedelta(hours=2)
            results["suppress"] = triage.finding_suppress(finding=finding, actor=ana, until=until, reason="maintenance")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results["suppress"] = error
        finally:
            connection.close()

    def false_positive() -> None:
        try:
            results["false_positive"] = triage.finding_mark_false_positive(finding=finding, actor=pablo, note="test")
        except Exception as error:  # noqa: BLE001
            results["false_positive"] = error
        finally:
            connection.close()

    first = threading.Thread(target=suppress)
    first.start()
    held.wait_until_held()
    second = threading.Thread(target=false_positive)
    second.start()
    held.wait_until_blocking(1)
    held.let_go()
    first.join(timeout=30)
    second.join(timeout=30)

    assert isinstance(results["suppress"], Suppression), results
    assert isinstance(results["false_positive"], ValidationError), results
    assert "state" in results["false_positive"].message_dict
    finding.refresh_from_db()
    assert (finding.state, finding.decided_by) == (FindingState.SUPPRESSED, ana)
    assert Suppression.objects.count() == 1
