"""`manage.py import_buckets`: a CSV or Parquet file is one batch, loaded through the upsert; errors
name the row, the line and the column; a card number in any cell refuses the file."""

from __future__ import annotations

import csv
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring.models import AuthBucket, ImportMapping
from tests.monitoring.conftest import make_rows

pytestmark = pytest.mark.django_db
COLUMNS = [
    "merchant",
    "network",
    "bin_prefix",
    "issuer",
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


def _write_csv(path, rows: list[dict], *, rename: dict | None = None):
    rename = rename or {}
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([rename.get(c, c) for c in COLUMNS])
        for row in rows:
            codes = ";".join(f"{code}:{count}" for code, count in row["decline_codes"].items())
            writer.writerow([codes if c == "decline_codes" else row.get(c, "") for c in COLUMNS])
    return path


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_buckets", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_csv_file_is_imported_and_importing_it_again_changes_nothing(data, tmp_path):
    path = _write_csv(tmp_path / "buckets.csv", make_rows(120))

    first, progress = _run(path)
    again, _ = _run(path)

    assert "120 rows imported" in first and "120 inserted" in first
    assert "rows/s" in progress
    assert "0 inserted, 0 updated, 120 unchanged" in again
    stored = AuthBucket.objects.get(segment__bin_prefix="415007")
    assert stored.decline_codes == {"05": 40, "91": 20} and str(stored.amount_approved) == "135000.50"


def test_a_dry_run_checks_everything_and_writes_nothing(data, tmp_path):
    path = _write_csv(tmp_path / "buckets.csv", make_rows(10))

    out, _ = _run(path, "--dry-run")

    assert "10 rows checked (dry run, nothing written)" in out and "10 inserted" in out
    assert AuthBucket.objects.count() == 0


def test_errors_name_the_row_line_and_column_of_a_named_mapping_and_nothing_is_written(data, tmp_path):
    ImportMapping.objects.create(name="warehouse", columns={"merchant": "account", "attempts": "intentos"})
    rows = make_rows(8000)  # two chunks: the first is good, the second has the bad rows
    rows[6999]["attempts"] = 7
    rows[7499]["merchant"] = "acct_NOBODY00001"
    path = _write_csv(tmp_path / "buckets.csv", rows, rename={"merchant": "account", "attempts": "intentos"})

    with pytest.raises(CommandError):
        call_command(
            "import_buckets", str(path), "--mapping", "warehouse", stdout=StringIO(), stderr=(err := StringIO())
        )

    assert "row 7000 (line 7001), column intentos: Approvals, soft and hard declines" in err.getvalue()
    assert AuthBucket.objects.count() == 0


def test_an_unknown_merchant_is_named_by_row_and_column(data, tmp_path):
    rows = make_rows(3)
    rows[2]["merchant"] = "acct_NOBODY00001"
    path = _write_csv(tmp_path / "buckets.csv", rows)

    with pytest.raises(CommandError):
        call_command("import_buckets", str(path), stdout=StringIO(), stderr=(err := StringIO()))

    assert "row 3 (line 4), column merchant: No merchant has this account id." in err.getvalue()
    assert AuthBucket.objects.count() == 0


def test_a_card_number_in_any_cell_even_an_unmapped_one_refuses_the_file(data, tmp_path):
    rows = make_rows(40)
    path = tmp_path / "buckets.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "comment"])
        for n, row in enumerate(rows, start=1):
            comment = "tarjeta 4111 1111 1111 1111" if n == 37 else "ok"
            writer.writerow([row[c] if c != "decline_codes" else "05:1" for c in COLUMNS] + [comment])

    with pytest.raises(CommandError):
        call_command("import_buckets", str(path), stdout=StringIO(), stderr=(err := StringIO()))

    assert "row 37 (line 38), column comment: Card numbers are never stored" in err.getvalue()
    assert "4111" not in err.getvalue()
    assert AuthBucket.objects.count() == 0


def test_a_missing_column_and_an_unknown_mapping_are_refused(data, tmp_path):
    path = tmp_path / "buckets.csv"
    path.write_text("merchant,bucket_start\nacct_MONITOR0001,2026-01-01T00:00:00Z\n")

    with pytest.raises(CommandError):
        call_command("import_buckets", str(path), stdout=StringIO(), stderr=(err := StringIO()))
    with pytest.raises(CommandError, match="No import mapping is named nope"):
        call_command("import_buckets", str(path), "--mapping", "nope", stdout=StringIO(), stderr=StringIO())

    assert "header (line 1), column attempts: The file has no such column." in err.getvalue()


def test_a_parquet_file_is_imported_the_same(data, tmp_path):
    rows = make_rows(50)
    table = pa.Table.from_pylist(
        [dict(row, decline_codes="05:40;91:20", attempts=int(row["attempts"])) for row in rows]
    )
    pq.write_table(table, tmp_path / "buckets.parquet")

    out, _ = _run(tmp_path / "buckets.parquet")

    assert "50 rows imported" in out and "50 inserted" in out
    assert AuthBucket.objects.count() == 50


def test_an_import_mapping_names_only_fields_of_a_row(db):
    from django.core.exceptions import ValidationError

    good = ImportMapping(name="ok", columns={"merchant": "account"})
    bad = ImportMapping(name="bad", columns={"pan": "tarjeta", "attempts": ""})

    good.full_clean()
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    assert refused.value.message_dict["columns"] == [
        "pan is not a field of a bucket row.",
        "Give the column name for attempts.",
    ]
