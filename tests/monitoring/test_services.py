"""The one upsert of buckets: idempotent, all or nothing, late rows, card numbers, constant queries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import AuthBucket, Segment
from monitoring.services import BucketBatchInvalid, buckets_upsert
from payhealth.pan import CARD_NUMBER_MESSAGE
from tests.monitoring.conftest import bucket, make_row, make_rows

pytestmark = pytest.mark.django_db


def _errors(error: BucketBatchInvalid) -> set[tuple[int, str]]:
    return {(e.row, e.field) for e in error.row_errors}


def test_a_batch_creates_segments_with_their_merchant_level_parent_and_buckets(data):
    start = bucket()

    result = buckets_upsert([make_row(start)], source="test")

    assert (result.rows, result.inserted, result.updated, result.unchanged) == (1, 1, 0, 0)
    assert result.segments_created == 2
    child = Segment.objects.get(parent__isnull=False)
    assert child.parent.merchant == data["merchant"] and child.parent.parent is None
    assert (child.network, child.issuer, child.country, child.funding, child.entry_mode) == (
        "visa",
        data["issuer"],
        "MX",
        "debit",
        "ecommerce",
    )
    stored = AuthBucket.objects.get()
    assert stored.segment == child and stored.bucket_start == start
    assert (stored.attempts, stored.approvals, stored.soft_declines, stored.hard_declines, stored.errors) == (
        1000,
        900,
        60,
        30,
        10,
    )
    assert stored.amount_approved == Decimal("135000.50") and stored.currency == "MXN"
    assert stored.decline_codes == {"05": 40, "91": 20}
    assert result.changed == {(child.pk, start)}


def test_sending_the_same_batch_again_changes_nothing(data):
    rows = make_rows(20)
    buckets_upsert(rows, source="test")
    before = {(b.segment_id, b.bucket_start): (b.updated_at, b.attempts) for b in AuthBucket.objects.all()}

    again = buckets_upsert(rows, source="test")

    assert (again.inserted, again.updated, again.unchanged, again.segments_created) == (0, 0, 20, 0)
    assert again.changed == set()
    after = {(b.segment_id, b.bucket_start): (b.updated_at, b.attempts) for b in AuthBucket.objects.all()}
    assert after == before


def test_a_corrected_batch_replaces_its_rows_and_marks_them_changed(data):
    rows = make_rows(3)
    first = buckets_upsert(rows, source="test")
    corrected = [dict(rows[0]), dict(rows[1], approvals=850, soft_declines=110), dict(rows[2], decline_codes={})]

    result = buckets_upsert(corrected, source="test")

    assert (result.inserted, result.updated, result.unchanged) == (0, 2, 1)
    assert len(result.changed) == 2 and result.changed <= first.changed
    row = AuthBucket.objects.get(segment__bin_prefix=rows[1]["bin_prefix"])
    assert (row.approvals, row.soft_declines) == (850, 110)
    assert row.updated_at > row.received_at
    assert AuthBucket.objects.get(segment__bin_prefix=rows[2]["bin_prefix"]).decline_codes == {}


def test_rows_up_to_seven_days_late_are_accepted_older_and_future_ones_refused(data):
    late = bucket(7 * 24 * 60 - 30)
    too_late = bucket(7 * 24 * 60 + 30)
    next_bucket = bucket(-15)
    too_far = bucket(-45)

    accepted = buckets_upsert([make_row(late), make_row(next_bucket)], source="test")
    with pytest.raises(BucketBatchInvalid) as refused:
        buckets_upsert([make_row(late), make_row(too_late), make_row(too_far)], source="test")

    assert accepted.inserted == 2
    assert _errors(refused.value) == {(2, "bucket_start"), (3, "bucket_start")}
    assert AuthBucket.objects.count() == 2


def test_a_card_number_in_any_field_of_row_37_refuses_the_whole_batch_naming_row_37(data):
    for field, value in [
        ("bin_prefix", "4111111111111111"),
        ("issuer", "4111 1111 1111 1111"),
        ("attempts", 4111111111111111),
        ("decline_codes", {"05": "4111-1111-1111-1111"}),
        ("note", "card 4111111111111111"),
    ]:
        rows = make_rows(50)
        rows[36][field] = value

        with pytest.raises(BucketBatchInvalid) as refused:
            buckets_upsert(rows, source="test")

        assert _errors(refused.value) == {(37, field)}, field
        message = [str(CARD_NUMBER_MESSAGE)]
        assert refused.value.message_dict == {f"rows.36.{field}": message, "rows": message}  # index 36
        assert "4111" not in str(refused.value.message_dict)
        assert AuthBucket.objects.count() == 0 and Segment.objects.count() == 0


def test_every_error_names_its_row_and_field_and_nothing_is_written(data):
    rows = make_rows(5)
    rows[1]["attempts"] = 999  # outcomes add up to 1,000
    rows[2]["currency"] = "pesos"
    rows[3]["merchant"] = "acct_UNKNOWN0001"
    rows[4]["bucket_start"] = bucket().replace(minute=7).isoformat()

    with pytest.raises(BucketBatchInvalid) as refused:
        buckets_upsert(rows, source="test")

    assert _errors(refused.value) == {(2, "attempts"), (3, "currency"), (5, "bucket_start")}
    assert AuthBucket.objects.count() == 0
    # Lookups come after the rows are read: a batch good apart from the merchant names it.
    with pytest.raises(BucketBatchInvalid) as unknown:
        buckets_upsert([make_row(bucket()), make_row(bucket(), merchant="acct_UNKNOWN0001")], source="test")
    assert _errors(unknown.value) == {(2, "merchant")}
    assert Segment.objects.count() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"issuer": "prosa"}, "issuer"),  # a switch is no issuer
        ({"route": "bbva-mx"}, "route"),  # an issuer is no route
        ({"route": "nobody"}, "route"),
        ({"decline_codes": {"05": 100}}, "decline_codes"),  # more than the 90 declines
        ({"decline_codes": {"TOOLONGCODE": 1}}, "decline_codes"),
        ({"amount_approved": "150000.01"}, "amount_approved"),
        ({"amount_attempted": "1.005"}, "amount_attempted"),
        ({"bin_prefix": "4152"}, "bin_prefix"),
        ({"network": "bitcoin"}, "network"),
        ({"attempts": -1}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"bucket_start": "2026-05-04T10:15:00"}, "bucket_start"),
        ({"unknown": 1}, "unknown"),
        ({"currency": None}, "currency"),
    ],
)
def test_bad_values_are_refused_by_field(data, changes, field):
    with pytest.raises(BucketBatchInvalid) as refused:
        buckets_upsert([make_row(bucket(), **changes)], source="test")

    assert (1, field) in _errors(refused.value)
    assert AuthBucket.objects.count() == 0


def test_the_same_segment_and_bucket_twice_in_a_batch_is_refused(data):
    rows = [make_row(bucket()), make_row(bucket(), approvals=899, errors=11)]

    with pytest.raises(BucketBatchInvalid) as refused:
        buckets_upsert(rows, source="test")

    assert _errors(refused.value) == {(2, "bucket_start")}


def test_a_user_without_the_permission_is_refused(data, outsider):
    with pytest.raises(PermissionDenied):
        buckets_upsert([make_row(bucket())], source="test", actor=outsider)
    assert AuthBucket.objects.count() == 0


def test_an_analyst_may_submit(data, analyst):
    assert buckets_upsert([make_row(bucket())], source="test", actor=analyst).inserted == 1


def test_the_upsert_runs_the_same_number_of_queries_for_10_and_2000_rows(data):
    buckets_upsert(make_rows(1, start=bucket(120)), source="warm-up")  # the partition and the parent exist
    counts = []
    for count, start in ((10, bucket(90)), (2000, bucket(60))):
        with CaptureQueriesContext(connection) as captured:
            buckets_upsert(make_rows(count, start=start, route="prosa"), source="test")
        counts.append(len(captured.captured_queries))

    assert counts[0] == counts[1] <= 14
    assert AuthBucket.objects.filter(bucket_start=bucket(60)).count() == 2000


def test_a_late_row_of_last_month_gets_its_partition_on_demand(data):
    now = datetime(2026, 3, 2, 12, 7, tzinfo=UTC)
    late = datetime(2026, 2, 27, 23, 45, tzinfo=UTC)

    def months() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'monitoring_authbucket'::regclass"
            )
            return {name for (name,) in cursor.fetchall()}

    assert "monitoring_authbucket_p202602" not in months()

    result = buckets_upsert([make_row(late), make_row(now.replace(minute=0))], source="test", now=now)

    assert result.inserted == 2
    assert {"monitoring_authbucket_p202602", "monitoring_authbucket_p202603"} <= months()
    assert set(AuthBucket.objects.values_list("bucket_start", flat=True)) == {late, now.replace(minute=0)}
