"""Two batches naming the same new segments and buckets at the same instant: one set of segments,
one bucket each, no error. The first batch is held inside its transaction (segments, partition
and buckets written, not committed) until PostgreSQL shows the second one waiting for it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from monitoring import services
from monitoring.models import AuthBucket, Segment
from monitoring.services import buckets_upsert
from tests.database import HeldTransaction
from tests.monitoring.conftest import make_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_batches_share_segments_and_buckets(data, monkeypatch):
    held = HeldTransaction()
    real_merge = services._merge

    def merge_then_hold(*args, **kwargs):
        changed = real_merge(*args, **kwargs)
        held.hold()
        return changed

    monkeypatch.setattr(services, "_merge", merge_then_hold)
    rows = make_rows(50)
    results: list = [None, None]

    def send(index: int) -> None:
        try:
            results[index] = buckets_upsert(rows, source=f"thread {index}")
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[index] = error
        finally:
            connection.close()

    first = threading.Thread(target=send, args=(0,))
    first.start()
    held.wait_until_held()
    second = threading.Thread(target=send, args=(1,))
    second.start()
    held.wait_until_blocking(1)
    held.let_go()
    first.join(timeout=30)
    second.join(timeout=30)

    assert [type(r).__name__ for r in results] == ["UpsertResult", "UpsertResult"], results
    assert (results[0].inserted, results[0].segments_created) == (50, 51)
    assert (results[1].inserted, results[1].updated, results[1].unchanged, results[1].segments_created) == (0, 0, 50, 0)
    assert Segment.objects.count() == 51  # 50 slices and their merchant-level parent
    assert AuthBucket.objects.count() == 50
