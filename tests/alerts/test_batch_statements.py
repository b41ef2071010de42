"""What the worker's batch costs in SQL statements: a fixed part per batch and a small, fixed part
per alert, whatever the batch's size, for alerts that open incidents and for repeats of open ones.

Per batch: the receipts (locked), the severity rules, the segments' merchants and partners, the
open incidents of their fingerprints (locked, one query), the webhook subscriptions, one
search-document refresh and one update of the receipts. Per alert, what the cases services do
for it (open the incident, add the merchant and the partners, the decline codes, the timeline and
what listens to it: SLA clocks, webhooks), with the models' constraints left to PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import AlertReceipt
from alerts.services import alert_accept, alert_receipts_apply
from cases.models import CaseEvent, Incident
from tests.alerts.conftest import alert_payload

# Statements per alert, measured when this was last changed (a new segment 49, a repeat 14): a
# per-alert look-up that should be per batch, or a row read again that the caller holds, moves
# them by a whole statement per alert and fails here.
NEW_PER_ALERT = 49
REPEAT_PER_ALERT = 14
PER_BATCH = 9


def _applied(analyst, *, count: int, start: int, repeats: bool) -> tuple[int, int]:
    """Accept `count` alerts and apply them in one batch: its statements and savepoints."""
    for index in range(start, start + count):
        bin_prefix = "457173" if repeats else f"4{index:05d}"
        alert_accept(
            actor=analyst, payload=alert_payload(segment={"bin_prefix": bin_prefix}), idempotency_key=f"b{index}"
        )
    with CaptureQueriesContext(connection) as batch:
        assert alert_receipts_apply() == count
    savepoints = sum(1 for query in batch.captured_queries if query["sql"].startswith("SAVEPOINT"))
    return len(batch), savepoints


@pytest.mark.parametrize(("repeats", "per_alert"), [(False, NEW_PER_ALERT), (True, REPEAT_PER_ALERT)])
def test_a_batch_costs_a_fixed_part_and_a_fixed_part_per_alert(analyst, segment_world, repeats, per_alert):
    # A first batch: the segment's incident is open before the repeats, and what a worker reads
    # once per process (the SLA policies' calendars, the webhook subscriptions) is read.
    _applied(analyst, count=1, start=0, repeats=repeats)
    small, small_savepoints = _applied(analyst, count=2, start=100, repeats=repeats)
    large, large_savepoints = _applied(analyst, count=8, start=200, repeats=repeats)

    slope = (large - small) / 6
    assert slope == int(slope)  # every alert of a kind costs the same
    assert slope <= per_alert
    assert small - 2 * slope <= PER_BATCH
    assert (large_savepoints - small_savepoints) / 6 <= (8 if not repeats else 3)
    assert AlertReceipt.objects.filter(state="applied").count() == AlertReceipt.objects.count()
    assert Incident.objects.count() == (1 if repeats else 11)
    assert CaseEvent.objects.filter(kind="alert_received").count() == AlertReceipt.objects.count()
