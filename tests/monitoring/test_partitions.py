"""The bucket table is partitioned by month in PostgreSQL; partitions are created ahead, on
demand, and dropped past the retention (read back from pg_catalog)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from monitoring.models import AuthBucket
from monitoring.partitions import partitions_create_ahead, partitions_drop_expired, partitions_ensure
from monitoring.services import buckets_upsert
from monitoring.tasks import apply_metrics_retention_task, create_metrics_partitions_task
from tests.monitoring.conftest import make_row

pytestmark = pytest.mark.django_db


def _partitions() -> dict[str, str]:
    """Each partition's name → its bound, as PostgreSQL describes it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'monitoring_authbucket'::regclass"
        )
        return dict(cursor.fetchall())


def test_the_bucket_table_is_partitioned_by_range_of_bucket_start_with_brin_and_btree_indexes():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = 'monitoring_authbucket'::regclass"
        )
        assert cursor.fetchall() == [("r", "bucket_start")]
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'monitoring_authbucket'")
        indexes = dict(cursor.fetchall())
    assert "USING brin (bucket_start)" in indexes["authbucket_start_brin"]
    assert "USING btree (segment_id, bucket_start)" in indexes["monitoring_authbucket_pk"]


def test_partitions_are_created_for_this_month_the_next_two_and_the_late_window():
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)

    created = partitions_create_ahead(now=now)
    again = partitions_create_ahead(now=now)

    names = {f"monitoring_authbucket_p{m}" for m in ("202602", "202603", "202604", "202605")}
    assert set(created) == names and again == []
    bounds = _partitions()
    assert names <= set(bounds)
    assert bounds["monitoring_authbucket_p202603"].startswith("FOR VALUES FROM ('2026-03-01 ")


def test_the_command_creates_them_too():
    out = StringIO()

    call_command("metrics_partitions", stdout=out)

    assert "partitions in all" in out.getvalue()
    assert len(_partitions()) >= 3


def test_retention_drops_whole_months_older_than_the_setting_and_keeps_the_rest(data):
    partitions_ensure(months=[datetime(2025, m, 1).date() for m in (1, 2, 3)])
    now = datetime(2026, 3, 15, tzinfo=UTC)

    dropped = partitions_drop_expired(now=now, days=400)  # cut-off 2025-02-08: January ended before it

    assert dropped == ["monitoring_authbucket_p202501"]
    assert {"monitoring_authbucket_p202502", "monitoring_authbucket_p202503"} <= set(_partitions())
    assert "monitoring_authbucket_p202501" not in _partitions()


def test_the_retention_command_drops_old_partitions_with_their_rows(data, settings):
    row = make_row(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    buckets_upsert([row], source="test")
    partitions_ensure(months=[datetime(2020, 1, 1).date()])
    out = StringIO()

    call_command("metrics_retention", stdout=out)

    assert "monitoring_authbucket_p202001" not in _partitions()
    assert "dropped monitoring_authbucket_p202001" in out.getvalue()
    assert AuthBucket.objects.count() == 1  # the current month is kept


def test_the_orm_reads_and_filters_the_partitioned_table(data):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    buckets_upsert([make_row(start)], source="test")

    stored = AuthBucket.objects.select_related("segment").get(segment__bin_prefix="", bucket_start=start)

    assert stored.pk == (stored.segment_id, start)
    assert AuthBucket.objects.filter(bucket_start__gte=start).count() == 1


def test_the_orm_writes_the_partitioned_table_through_the_composite_key(data):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    buckets_upsert([make_row(start)], source="test")
    segment = AuthBucket.objects.get().segment
    partitions_ensure(months=[(start - timedelta(days=40)).date()])
    earlier = start - timedelta(days=40)

    created = AuthBucket.objects.create(
        segment=segment,
        bucket_start=earlier,
        attempts=10,
        approvals=9,
        soft_declines=1,
        hard_declines=0,
        errors=0,
        amount_attempted=Decimal("10.00"),
        amount_approved=Decimal("9.00"),
        currency="MXN",
        decline_codes={"05": 1},
        received_at=start,
        updated_at=start,
    )
    created.approvals, created.errors = 8, 1
    created.save(update_fields=["approvals", "errors"])

    assert AuthBucket.objects.get(pk=(segment.pk, earlier)).approvals == 8
    with pytest.raises(IntegrityError), transaction.atomic():
        AuthBucket.objects.filter(pk=(segment.pk, earlier)).update(approvals=100)  # 100 + 1 + 1 ≠ 10


def test_the_beat_tasks_create_and_drop_partitions(data, settings):
    partitions_ensure(months=[datetime(2020, 1, 1).date()])

    created = create_metrics_partitions_task.apply().get()
    dropped = apply_metrics_retention_task.apply().get()

    assert set(created) <= set(_partitions())
    assert len(_partitions()) >= 3
    assert dropped == {"dropped": ["monitoring_authbucket_p202001"], "receipts_purged": 0, "uploads_purged": 0}
    assert settings.CELERY_BEAT_SCHEDULE["create-metrics-partitions"]["task"] == create_metrics_partitions_task.name
    assert settings.CELERY_BEAT_SCHEDULE["apply-metrics-retention"]["task"] == apply_metrics_retention_task.name
