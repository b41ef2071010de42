"""The warehouse pull against a real second PostgreSQL database standing in for the warehouse.

Each test gets its own warehouse database on the test server, with a table whose column names
differ from the bucket fields (read through an import mapping)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from monitoring.models import AuthBucket, ImportMapping, MetricsPull
from monitoring.pull import metrics_pull, query_parameters
from monitoring.rows import bucket_floor
from monitoring.tasks import pull_buckets_task
from payhealth import config
from payhealth.celery import app
from tests.monitoring.conftest import ACCOUNT
from tests.support import (
    celery_routes,
    database_url_for_workers,
    delete_queue,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
    worker_is_ready,
)

QUERY = (
    "SELECT account, network, issuer, ts, attempts, approvals, soft, hard, errors, amount_attempted, "
    "amount_approved, currency, codes, note FROM auth_stats WHERE ts >= :start AND ts < :end ORDER BY ts, account"
)
MAPPING = {"merchant": "account", "bucket_start": "ts", "soft_declines": "soft", "hard_declines": "hard"}
MAPPING |= {"decline_codes": "codes"}
LOOKBACK_MINUTES = 120


class Warehouse:
    """A database of its own on the test server, with one table of bucket-like rows."""

    def __init__(self) -> None:
        self.name = f"payhealth_wh_{uuid.uuid4().hex[:10]}"
        base = database_url_for_workers()
        self.server = base.rsplit("/", 1)[0]
        self.url = f"{self.server}/{self.name}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self.admin(f'CREATE DATABASE "{self.name}"')
        self.execute(
            "CREATE TABLE auth_stats (account text, network text, issuer text, ts timestamptz, attempts int, "
            "approvals int, soft int, hard int, errors int, amount_attempted numeric(18, 2), "
            "amount_approved numeric(18, 2), currency text, codes jsonb, note text)"
        )

    def drop(self) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def execute(self, sql: str, params=None) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql, params)

    def insert(self, ts: datetime, *, account: str = ACCOUNT, approvals: int = 900, note: str = "", **extra) -> None:
        soft = 1000 - approvals - 40
        self.execute(
            "INSERT INTO auth_stats VALUES (%s, 'visa', 'bbva-mx', %s, 1000, %s, %s, 30, 10, 150000.00, "
            "135000.50, 'MXN', %s, %s)",
            [account, ts, approvals, soft, psycopg.types.json.Jsonb(extra.get("codes", {"05": 20})), note],
        )

    def count(self, sql: str) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]


@pytest.fixture
def warehouse(settings):
    house = Warehouse()
    house.create()
    settings.PAYHEALTH_METRICS_SOURCE_URL = config.source_database_url("URL", house.url)
    settings.PAYHEALTH_METRICS_SOURCE_QUERY = config.select_query("QUERY", QUERY)
    settings.PAYHEALTH_METRICS_SOURCE_MAPPING = "warehouse"
    settings.PAYHEALTH_METRICS_SOURCE_LOOKBACK_MINUTES = LOOKBACK_MINUTES
    settings.PAYHEALTH_METRICS_SOURCE_MAX_ROWS = 50
    try:
        yield house
    finally:
        house.drop()


@pytest.fixture
def mapping(db):
    return ImportMapping.objects.create(name="warehouse", columns=MAPPING)


def at(now: datetime, buckets_ago: int) -> datetime:
    return bucket_floor(now, 15) - timedelta(minutes=15 * buckets_ago)


def stored() -> dict[datetime, int]:
    return dict(AuthBucket.objects.values_list("bucket_start", "approvals"))


def test_placeholders_become_bound_parameters_and_percent_signs_are_kept():
    query = "SELECT '50%' AS x, ':start' FROM t -- :end %\nWHERE a LIKE 'x%' AND ts >= :start AND ts < :end"

    assert query_parameters(query) == (
        "SELECT '50%%' AS x, ':start' FROM t -- :end %%\nWHERE a LIKE 'x%%' AND ts >= %(start)s AND ts < %(end)s"
    )


@pytest.mark.django_db
def test_a_pull_loads_the_window_and_a_second_run_changes_nothing(warehouse, mapping, data):
    now = timezone.now()
    for ago in (1, 2, 3):
        warehouse.insert(at(now, ago))
    warehouse.insert(at(now, 0))  # the bucket still running: after the window's end
    warehouse.insert(at(now, 9))  # before the first run's lookback (two hours)

    first = metrics_pull(now=now)
    again = metrics_pull(now=now)

    assert set(stored()) == {at(now, 1), at(now, 2), at(now, 3)}
    assert (first.rows_read, first.rows_inserted, first.rows_updated, first.rows_unchanged) == (3, 3, 0, 0)
    assert (again.rows_read, again.rows_inserted, again.rows_updated, again.rows_unchanged) == (3, 0, 0, 3)
    assert again.window_end == bucket_floor(now, 15)
    assert again.last_window_start == bucket_floor(now, 15) - timedelta(minutes=LOOKBACK_MINUTES)
    assert (again.last_error, again.failures) == ("", 0)
    bucket = AuthBucket.objects.get(bucket_start=at(now, 1))
    assert (bucket.soft_declines, bucket.hard_declines, bucket.decline_codes) == (60, 30, {"05": 20})
    assert bucket.amount_approved == Decimal("135000.50")


@pytest.mark.django_db
def test_a_late_correction_within_the_lookback_is_picked_up_by_the_next_run(warehouse, mapping, data):
    now = timezone.now()
    warehouse.insert(at(now, 2))
    metrics_pull(now=now)
    later = now + timedelta(minutes=30)
    warehouse.execute("UPDATE auth_stats SET approvals = 880, soft = 80")  # corrected after the first run
    warehouse.insert(at(later, 1))

    pull = metrics_pull(now=later)

    assert pull.last_window_start == bucket_floor(now, 15) - timedelta(minutes=LOOKBACK_MINUTES)
    assert (pull.rows_read, pull.rows_inserted, pull.rows_updated) == (2, 1, 1)
    assert stored() == {at(now, 2): 880, at(later, 1): 900}


@pytest.mark.django_db
def test_a_bad_row_refuses_the_batch_records_its_row_and_the_next_run_retries_the_window(warehouse, mapping, data):
    now = timezone.now()
    warehouse.insert(at(now, 2))
    warehouse.insert(at(now, 1), account="acct_NOBODY0001")
    metrics_pull(now=now - timedelta(hours=1))  # an earlier success: the watermark
    watermark = MetricsPull.objects.get().window_end

    failed = metrics_pull(now=now)

    assert AuthBucket.objects.count() == 0
    assert (failed.window_end, failed.failures, failed.last_error_row) == (watermark, 1, 2)
    assert failed.last_error == "Row 2, merchant: No merchant has this account id."
    warehouse.execute("UPDATE auth_stats SET account = %s", [ACCOUNT])

    retried = metrics_pull(now=now)

    assert retried.last_window_start == failed.last_window_start
    assert (retried.rows_inserted, retried.failures, retried.last_error, retried.window_end) == (
        2,
        0,
        "",
        bucket_floor(now, 15),
    )


@pytest.mark.django_db
def test_a_card_number_in_any_column_refuses_the_batch_and_is_never_recorded(warehouse, mapping, data):
    now = timezone.now()
    warehouse.insert(at(now, 2))
    warehouse.insert(at(now, 1), note="card 4111 1111 1111 1111")  # a column the mapping does not read

    pull = metrics_pull(now=now)

    assert AuthBucket.objects.count() == 0
    assert (pull.last_error_row, pull.window_end) == (2, None)
    assert pull.last_error.startswith("Row 2, note: Card numbers are never stored")
    assert "1111" not in pull.last_error


@pytest.mark.django_db
def test_a_query_that_writes_fails_in_the_read_only_transaction(warehouse, mapping, data, settings):
    warehouse.execute(
        "CREATE FUNCTION sneaky(s timestamptz, e timestamptz) RETURNS SETOF auth_stats LANGUAGE sql AS "
        "'INSERT INTO auth_stats (account) VALUES (''written''); SELECT * FROM auth_stats WHERE ts >= s AND ts < e'"
    )
    settings.PAYHEALTH_METRICS_SOURCE_QUERY = config.select_query("Q", "SELECT * FROM sneaky(:start, :end)")

    pull = metrics_pull(now=timezone.now())

    assert pull.last_error == "The source refused the query: cannot execute INSERT in a read-only transaction"
    assert warehouse.count("SELECT count(*) FROM auth_stats WHERE account = 'written'") == 0


@pytest.mark.django_db
def test_a_query_past_the_statement_timeout_is_cancelled_and_recorded(warehouse, mapping, data, settings):
    settings.PAYHEALTH_METRICS_SOURCE_TIMEOUT_SECONDS = 1
    slow = "SELECT * FROM auth_stats, pg_sleep(3) WHERE ts >= :start AND ts < :end"
    settings.PAYHEALTH_METRICS_SOURCE_QUERY = config.select_query("Q", slow)
    now = timezone.now()
    warehouse.insert(at(now, 1))

    pull = metrics_pull(now=now)

    assert pull.last_error == "The source refused the query: canceling statement due to statement timeout"
    assert (pull.failures, pull.window_end, AuthBucket.objects.count()) == (1, None, 0)


@pytest.mark.django_db
def test_the_task_does_nothing_without_a_source(settings):
    settings.PAYHEALTH_METRICS_SOURCE_URL = ""

    assert pull_buckets_task() == {"state": "disabled"}
    assert not MetricsPull.objects.exists()


@pytest.mark.django_db
def test_a_window_over_the_row_cap_writes_nothing(warehouse, mapping, data, settings):
    settings.PAYHEALTH_METRICS_SOURCE_MAX_ROWS = 2
    now = timezone.now()
    for ago in (1, 2, 3):
        warehouse.insert(at(now, ago))

    pull = metrics_pull(now=now)

    assert AuthBucket.objects.count() == 0
    assert pull.last_error == "The query returned more than 2 rows for one window; pull smaller windows."


@pytest.mark.django_db
def test_the_backfill_command_pulls_its_window_without_moving_the_watermark(warehouse, mapping, data, capsys):
    now = timezone.now()
    warehouse.insert(at(now, 20))
    warehouse.insert(at(now, 1))
    start, end = at(now, 24), at(now, 16)

    call_command("pull_buckets", "--start", start.isoformat(), "--end", end.isoformat())

    assert set(stored()) == {at(now, 20)}
    assert MetricsPull.objects.get().window_end is None
    assert "1 rows read, 1 inserted" in capsys.readouterr().out
    with pytest.raises(CommandError, match="bucket boundary"):
        call_command("pull_buckets", "--start", (start + timedelta(minutes=1)).isoformat(), "--end", end.isoformat())


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_pull_once(warehouse, mapping, data):
    now = timezone.now()
    warehouse.insert(at(now, 1))
    results: list = []

    def run() -> None:
        try:
            results.append(metrics_pull(now=now))
        finally:
            connection.close()

    with psycopg.connect(warehouse.url) as blocker:  # holds the first run inside its query
        blocker.execute("LOCK TABLE auth_stats IN ACCESS EXCLUSIVE MODE")
        first = threading.Thread(target=run)
        first.start()
        wait_for(
            lambda: warehouse.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'payhealth' AND wait_event_type = 'Lock'"
            ),
            timeout=10,
            what="the first run to wait inside its query",
        )
        second = metrics_pull(now=now)
        blocker.rollback()
    first.join(timeout=30)

    assert second is None
    assert [(r.rows_read, r.rows_inserted) for r in results] == [(1, 1)]
    assert MetricsPull.objects.get().window_end == bucket_floor(now, 15)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_pulls_through_a_real_worker(warehouse, mapping, data, tmp_path):
    now = datetime.now(UTC)
    warehouse.insert(at(now, 1))
    queue = f"pull-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(
        DATABASE_URL=database_url_for_workers(),
        PAYHEALTH_METRICS_SOURCE_URL=warehouse.url,
        PAYHEALTH_METRICS_SOURCE_QUERY=QUERY,
        PAYHEALTH_METRICS_SOURCE_MAPPING="warehouse",
    )
    worker = start_celery_worker(queue=queue, log_path=log, env=env)
    try:
        wait_for(lambda: worker_is_ready(log) or worker.poll() is not None, timeout=60, what="the worker")
        assert worker.poll() is None, log.read_text()
        with celery_routes(app, ["monitoring.pull_buckets_task"], queue):
            app.send_task("monitoring.pull_buckets_task")
            pull = wait_for(
                lambda: MetricsPull.objects.filter(last_run_at__isnull=False).first(), timeout=60, what="the pull"
            )
    finally:
        stop_celery_worker(worker)
        delete_queue(app, queue)

    assert (pull.rows_read, pull.rows_inserted, pull.last_error) == (1, 1, ""), log.read_text()
    assert set(stored()) == {at(now, 1)}
