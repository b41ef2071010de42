"""Identical alerts posted at the same instant open ONE incident.

Each test runs its requests in threads (own database connections, real transactions) released
together by a barrier. The race is made certain, not likely: the first request to open an
incident is held inside its transaction, after inserting the incident and before committing,
until PostgreSQL shows every other request waiting for one of its locks; only then does it
commit. So the others have provably looked for an open incident (or claimed their key) while
the first one's was not yet committed.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from alerts import services
from alerts.models import AlertReceipt
from alerts.services import alert_ingest
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload
from tests.database import HeldTransaction
from tests.factories import MerchantFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    MerchantFactory(account_id="acct_ALERTS0001", name="Tienda Norte")
    PartnerFactory(code="prosa", name="Prosa", kind="switch")
    PartnerFactory(code="banco-norte", name="Banco Norte", kind="issuer")
    return UserFactory(username="monitor", role="analyst")


@pytest.fixture
def first_open_held(monkeypatch):
    """The transaction that opens the incident stops once the incident and its merchant are in,
    before it commits, until the test lets it go."""
    held = HeldTransaction()
    real = services.merchant_impact_add

    def add_then_hold(**kwargs):
        row = real(**kwargs)
        held.hold()
        return row

    monkeypatch.setattr(services, "merchant_impact_add", add_then_hold)
    return held


def _post_together(actor, payload: dict, keys: list[str | None], held: HeldTransaction) -> list:
    """Post the alert once per key, all at once; the first to open an incident commits only when
    every other request is waiting for it in the database."""
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
    raced = None
    try:
        held.wait_until_blocking(len(keys) - 1)
    except AssertionError as error:
        raced = error
    finally:
        held.let_go()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a request is still running"
    assert raced is None, f"{raced}; the requests returned {results}"
    return results


def test_the_same_key_at_the_same_instant_opens_one_incident_and_replays_it(world, first_open_held):
    results = _post_together(world, alert_payload(), ["same-key", "same-key"], first_open_held)

    assert all(not isinstance(result, Exception) for result in results), results
    assert Incident.objects.count() == 1
    assert AlertReceipt.objects.count() == 1
    assert CaseEvent.objects.filter(kind="alert_received").count() == 1
    assert sorted(result.replayed for result in results) == [False, True]
    assert [result.status for result in results] == [201, 201]
    assert results[0].body == results[1].body


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """Every look for an open incident of the alert's segment."""
    seen: list[str] = []
    real_lookup = services._open_incident
    monkeypatch.setattr(
        services, "_open_incident", lambda fingerprint: seen.append(fingerprint) or real_lookup(fingerprint)
    )
    return seen


def test_different_keys_at_the_same_instant_open_one_incident_and_update_it(world, first_open_held, lookups):
    results = _post_together(world, alert_payload(), ["key-a", "key-b"], first_open_held)

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


def test_no_keys_at_the_same_instant_open_one_incident(world, first_open_held, lookups):
    results = _post_together(world, alert_payload(), [None, None, None], first_open_held)

    assert all(not isinstance(result, Exception) for result in results), results
    assert Incident.objects.count() == 1
    assert sorted(result.outcome for result in results) == ["opened", "updated", "updated"]
    assert AlertReceipt.objects.count() == 3
    # both losers found nothing, lost on the unique constraint and looked again
    assert len(lookups) == 5
