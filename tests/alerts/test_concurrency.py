"""Two identical alerts posted at the same instant open ONE incident.

Each test runs two threads (own database connections, real transactions) released together by
a barrier. To make the race certain rather than likely, the first writer is held inside its
transaction, after inserting its incident and before committing, long enough for the other
to look for an open incident, find none, and try to open its own.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from alerts import services
from alerts.models import AlertReceipt
from alerts.services import alert_ingest
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload
from tests.factories import MerchantFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    MerchantFactory(account_id="acct_ALERTS0001", name="Tienda Norte")
    PartnerFactory(code="prosa", name="Prosa", kind="switch")
    PartnerFactory(code="banco-norte", name="Banco Norte", kind="issuer")
    return UserFactory(username="monitor", role="analyst")


@pytest.fixture
def slow_first_open(monkeypatch):
    """Hold the transaction that opened the incident for a moment before it commits."""
    real = services.merchant_impact_add

    def slow(**kwargs):
        row = real(**kwargs)
        time.sleep(0.6)
        return row

    monkeypatch.setattr(services, "merchant_impact_add", slow)


def _post_together(actor, payload: dict, keys: list[str | None]) -> list:
    barrier = threading.Barrier(len(keys))
    results: list = [None] * len(keys)

    def post(index: int, key: str | None) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = alert_ingest(actor=actor, payload=payload, idempotency_key=key)
        except Exception as error:  # reported by the assertions below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i, key)) for i, key in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_the_same_key_at_the_same_instant_opens_one_incident_and_replays_it(world, slow_first_open):
    results = _post_together(world, alert_payload(), ["same-key", "same-key"])

    assert all(not isinstance(result, Exception) for result in results), results
    assert Incident.objects.count() == 1
    assert AlertReceipt.objects.count() == 1
    assert CaseEvent.objects.filter(kind="alert_received").count() == 1
    assert sorted(result.replayed for result in results) == [False, True]
    assert [result.status for result in results] == [201, 201]
    assert results[0].body == results[1].body


def test_different_keys_at_the_same_instant_open_one_incident_and_update_it(world, slow_first_open, monkeypatch):
    lookups = []
    real_lookup = services._open_incident
    monkeypatch.setattr(services, "_open_incident", lambda fingerprint: lookups.append(1) or real_lookup(fingerprint))

    results = _post_together(world, alert_payload(), ["key-a", "key-b"])

    assert all(not isinstance(result, Exception) for result in results), results
    incident = Incident.objects.get()
    assert sorted(result.outcome for result in results) == ["opened", "updated"]
    assert {result.body["reference"] for result in results} == {incident.reference}
    assert sorted(AlertReceipt.objects.values_list("idempotency_key", flat=True)) == ["key-a", "key-b"]
    assert incident.events.filter(kind="alert_received").count() == 2
    assert incident.affected_merchants.count() == 1
    assert incident.engagements.count() == 2
    # The race really happened: the loser found nothing, lost on the unique constraint, looked again.
    assert len(lookups) == 3


def test_no_keys_at_the_same_instant_open_one_incident(world):
    results = _post_together(world, alert_payload(), [None, None, None])

    assert all(not isinstance(result, Exception) for result in results), results
    assert Incident.objects.count() == 1
    assert sorted(result.outcome for result in results) == ["opened", "updated", "updated"]
    assert AlertReceipt.objects.count() == 3
