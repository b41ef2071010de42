"""Files checked by columns (`monitoring.columnar`): a good file is stored exactly as the row reader
would store it, without it; anything else goes back to the row reader, which accepts or names it."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

import monitoring.columnar
import monitoring.importing
from monitoring.importing import buckets_import
from monitoring.models import AuthBucket, Segment
from tests.monitoring.conftest import bucket, make_rows

pytestmark = pytest.mark.django_db
COLUMNS = [
    "merchant",
    "network",
    "bin_prefix",
    "issuer",
    "route",
    "country",
    "funding",
    "entry_mode",
    "bucket_start",
    "attempts",
    "approvals",
    "soft_declines",
    "hard_declines",
    "errors",
    "amount_attempted",
    "amount_approved",
    "currency",
    "decline_codes",
]


def _csv(path, rows: list[dict]):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row.get(column, "") for column in COLUMNS])
    return path


def _rows(count: int, **changes) -> list[dict]:
    rows = make_rows(count, decline_codes="05:40;91:20", **changes)
    for n, row in enumerate(rows):  # the dimensions and values a file may leave empty or write loosely
        row.update(
            network=("VISA", "mastercard", "")[n % 3],
            country=("mx", "MX", "")[n % 3],
            route="PROSA" if n % 2 else "",
            issuer="bbva-mx" if n % 4 else "",
            funding="" if n % 5 == 0 else row["funding"],
            amount_attempted=("150000", "150000.5", "150000.00")[n % 3],
            amount_approved=("0", "135000.5", "99.9")[n % 3],
            decline_codes=("", "05:40;91:20", "91:0;05:1;R1:7")[n % 3],
        )
    return rows


def _stored() -> list[tuple]:
    return sorted(
        AuthBucket.objects.values_list(
            "segment__merchant__account_id",
            "segment__network",
            "segment__bin_prefix",
            "segment__issuer__code",
            "segment__route__code",
            "segment__country",
            "segment__funding",
            "segment__entry_mode",
            "bucket_start",
            "attempts",
            "approvals",
            "soft_declines",
            "hard_declines",
            "errors",
            "amount_attempted",
            "amount_approved",
            "currency",
            "decline_codes",
        ),
        key=repr,
    )


@pytest.fixture
def by_rows(monkeypatch):
    """How many times a file went to the row reader."""
    calls = []
    reader = monitoring.importing._by_rows

    def spy(*args, **kwargs):
        calls.append(1)
        return reader(*args, **kwargs)

    monkeypatch.setattr(monitoring.importing, "_by_rows", spy)
    return calls


def test_a_good_file_is_stored_by_columns_exactly_as_row_by_row(data, tmp_path, by_rows, monkeypatch):
    path = _csv(tmp_path / "buckets.csv", _rows(60))

    by_columns = buckets_import(path=path)
    stored = _stored()
    assert by_rows == [] and by_columns.inserted == 60 and by_columns.segments_created == 61
    AuthBucket.objects.all().delete()
    Segment.objects.filter(parent__isnull=False).delete()
    Segment.objects.all().delete()
    monkeypatch.setattr(monitoring.columnar, "columns_check", lambda *args, **kwargs: None)
    by_row = buckets_import(path=path)

    assert by_rows == [1] and _stored() == stored
    assert (by_row.inserted, by_row.segments_created) == (60, 61)
    codes = {row[-1].__repr__() for row in stored}
    assert codes == {"{}", "{'05': 40, '91': 20}", "{'05': 1, '91': 0, 'R1': 7}"}


def test_again_unchanged_then_corrected_by_columns(data, tmp_path, by_rows):
    rows = _rows(30)
    path = _csv(tmp_path / "buckets.csv", rows)
    buckets_import(path=path)
    before = dict(AuthBucket.objects.values_list("segment__bin_prefix", "updated_at"))

    again = buckets_import(path=path)
    rows[4].update(approvals=899, errors=11)
    corrected = buckets_import(path=_csv(tmp_path / "corrected.csv", rows))

    assert by_rows == []
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 30)
    assert (corrected.inserted, corrected.updated, corrected.unchanged) == (0, 1, 29)
    after = dict(AuthBucket.objects.values_list("segment__bin_prefix", "updated_at"))
    assert [prefix for prefix in after if after[prefix] != before[prefix]] == [rows[4]["bin_prefix"]]


def test_the_queries_of_a_file_read_by_columns_do_not_grow_with_its_rows(data, tmp_path, by_rows):
    buckets_import(path=_csv(tmp_path / "warm.csv", _rows(3, start=bucket(180))))  # segments exist
    counts = []
    for size in (10, 400):
        with CaptureQueriesContext(connection) as queries:
            buckets_import(path=_csv(tmp_path / f"{size}.csv", _rows(size, start=bucket(120 + size))))
        counts.append(len(queries))

    assert by_rows == [] and counts[0] == counts[1]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("bucket_start", "OFFSET", None),  # another offset than UTC
        ("network", " visa ", "visa"),  # spaces around a value
        ("attempts", "0001000", 1000),  # leading zeros
        ("decline_codes", '{"05": 40, "91": 20}', {"05": 40, "91": 20}),  # JSON
    ],
)
def test_what_the_columns_do_not_take_the_row_reader_accepts(data, tmp_path, by_rows, field, value, stored):
    rows = _rows(5)
    if value == "OFFSET":
        stored = datetime.fromisoformat(rows[3]["bucket_start"])
        value = stored.astimezone(timezone(timedelta(hours=-6))).isoformat()
    rows[3][field] = value

    result = buckets_import(path=_csv(tmp_path / "buckets.csv", rows))

    assert by_rows == [1] and result.inserted == 5
    kept = AuthBucket.objects.get(segment__bin_prefix=rows[3]["bin_prefix"])
    if field == "network":
        kept = kept.segment
    assert getattr(kept, field) == stored


def _run(path) -> str:
    with pytest.raises(CommandError):
        call_command("import_buckets", str(path), stdout=StringIO(), stderr=(err := StringIO()))
    return err.getvalue()


@pytest.mark.parametrize(
    ("row", "change", "message"),
    [
        (205, {"bin_prefix": "415000"}, "row 205 (line 206), column bucket_start: An earlier row already gives"),
        (190, {"merchant": "acct_NOBODY00001"}, "row 190 (line 191), column merchant: No merchant has this"),
        (180, {"issuer": "prosa"}, "row 180 (line 181), column issuer: This partner is not an issuer."),
        (170, {"route": "4111 1111 1111 1111"}, "row 170 (line 171), column route: Card numbers are never"),
        (160, {"approvals": "901"}, "row 160 (line 161), column attempts: Approvals, soft and hard declines"),
    ],
)
def test_a_bad_row_in_a_later_chunk_is_named_and_nothing_is_written(data, tmp_path, monkeypatch, row, change, message):
    monkeypatch.setattr(monitoring.importing, "CSV_BLOCK_BYTES", 4096)  # chunks of about 25 rows
    rows = make_rows(220, decline_codes="05:40;91:20")
    rows[row - 1].update(change)

    err = _run(_csv(tmp_path / "buckets.csv", rows))

    assert message in err and "4111" not in err
    assert AuthBucket.objects.count() == 0 and Segment.objects.count() == 0


def _parquet(path, rows: list[dict], *, zone: str | None = "UTC"):
    columns = {column: [row.get(column, "") for row in rows] for column in COLUMNS}
    table = pa.table(
        {
            **{column: pa.array(values, pa.string()) for column, values in columns.items() if column in COLUMNS[:8]},
            "currency": pa.array(columns["currency"], pa.string()),
            "decline_codes": pa.array(columns["decline_codes"], pa.string()),
            "bucket_start": pa.array(
                [datetime.fromisoformat(value).replace(tzinfo=None) for value in columns["bucket_start"]],
                pa.timestamp("us", tz=zone),
            ),
            **{c: pa.array([int(v) for v in columns[c]], pa.int32()) for c in COLUMNS[9:14]},
            **{
                c: pa.array([Decimal(v).quantize(Decimal("0.01")) for v in columns[c]], pa.decimal128(18, 2))
                for c in ("amount_attempted", "amount_approved")
            },
        }
    )
    pq.write_table(table, path)
    return path


def test_a_parquet_file_with_timestamps_and_decimals_is_read_by_columns(data, tmp_path, by_rows, monkeypatch):
    rows = _rows(40)
    result = buckets_import(path=_parquet(tmp_path / "buckets.parquet", rows))
    stored = _stored()
    assert by_rows == [] and result.inserted == 40
    AuthBucket.objects.all().delete()
    monkeypatch.setattr(monitoring.columnar, "columns_check", lambda *args, **kwargs: None)

    buckets_import(path=_parquet(tmp_path / "again.parquet", rows))

    assert _stored() == stored
    assert {row[8] for row in stored} == {datetime.fromisoformat(rows[0]["bucket_start"]).astimezone(UTC)}


def test_a_parquet_time_without_its_zone_is_named_by_the_row_reader(data, tmp_path):
    err = _run(_parquet(tmp_path / "buckets.parquet", _rows(3), zone=None))

    assert "row 1 (line 1), column bucket_start: Give the bucket's start with its UTC offset" in err
    assert AuthBucket.objects.count() == 0
