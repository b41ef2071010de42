"""The import's columnar check (costs/columnar.py): a plainly good file is checked by columns
and stored exactly as the row reader stores it; anything else goes to the row reader."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from costs.columnar import billing_columns
from costs.importing import INVOICE_FIELDS, RECORD_COLUMNS, RECORD_FIELDS, _file_table, fee_import
from costs.models import FeeRecord, InvoiceLine
from tests.costs.conftest import records

pytestmark = pytest.mark.django_db

RECORD_MAPPING = {name: name for name in RECORD_FIELDS}
ARN = "74812345678901234567890"  # 23 digits: no card number, read whole


def varied(n: int) -> list[dict]:
    rows = records(n, fee_bps=45)
    for index, row in enumerate(rows):
        row |= {
            "reference": f"{ARN[:-6]}{index:06d}" if index % 2 else f"ref-{index}/a.b:c",
            "bin": "41523112" if index % 3 else "",
            "last4": f"{index % 10_000:04d}",
            "funding": ("Debit", "credit", "PREPAID")[index % 3],
            "region": "Cross-Border" if index % 5 == 0 else "domestic",
            "giro": "Supermercados",
            "issuer_country": "mx",
            "merchant_country": "US" if index % 5 == 0 else "",
            "currency": "" if index % 4 else "usd",
            "scheme_fee": "-0.0125" if index % 7 == 0 else "",
            "other_fee": "007.5",
            "downgrade_reason": "Sin verificación 3-D Secure" if index % 9 == 0 else "",
        }
    return rows


def stored(model, columns) -> list[tuple]:
    return list(model.objects.order_by("row").values_list(*columns))


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_plain_file_is_checked_by_columns_and_stored_as_the_row_reader_stores_it(acquirer, make_partner, tmp_path):
    rows = varied(400)
    path = write_csv(tmp_path / "plain.csv", rows)
    table = _file_table(path, "csv", list(rows[0]))
    assert billing_columns(table, RECORD_MAPPING, "records", {}) is not None  # the columnar path

    by_columns = fee_import(path, partner=acquirer, shape="records")
    # The same rows with one number as an int: the row reader reads them (rows of text only go by columns).
    by_rows = fee_import([{**rows[0], "amount": 500}, *rows[1:]], partner=make_partner(), shape="records")

    assert by_columns.rows == by_rows.rows == 400
    mine = FeeRecord.objects.filter(fee_import=by_columns)
    theirs = FeeRecord.objects.filter(fee_import=by_rows)
    assert list(mine.order_by("row").values_list("row", *RECORD_COLUMNS)) == list(
        theirs.order_by("row").values_list("row", *RECORD_COLUMNS)
    )
    first = mine.get(row=1)
    assert (first.funding, first.region, first.giro, first.currency, first.issuer_country) == (
        "debit",
        "cross_border",
        "supermercados",
        "USD",
        "MX",
    )


def test_a_parquet_invoice_goes_by_columns_with_its_fee_codes(acquirer, make_partner, tmp_path):
    lines = [
        {"period": "2026-02", "network": "VISA", "fee_code": "INTX-01", "count": 1200, "amount": "1500.2500"},
        {"period": "2026-06", "network": "", "fee_code": "interchange", "count": 3, "amount": "-10"},
        {"period": "2026-06", "network": "carnet", "fee_code": "MISTERIO", "count": 0, "amount": "99.9"},
    ]
    table = pa.table(
        {
            "period": pa.array([line["period"] for line in lines]),
            "network": pa.array([line["network"] for line in lines]),
            "fee_code": pa.array([line["fee_code"] for line in lines]),
            "count": pa.array([line["count"] for line in lines], pa.int64()),
            "amount": pa.array([line["amount"] for line in lines]),
        }
    )
    pq.write_table(table, tmp_path / "factura.parquet")
    mapping = {"fee_codes": {"INTX-01": "interchange"}}
    columns = {name: name for name in INVOICE_FIELDS}
    assert billing_columns(table, columns, "invoice", mapping["fee_codes"]) is not None

    by_columns = fee_import(tmp_path / "factura.parquet", partner=acquirer, shape="invoice", mapping=mapping)
    by_rows = fee_import(
        [{**line, "count": str(line["count"]), "volume": 0} for line in lines],
        partner=make_partner(),
        shape="invoice",
        mapping=mapping,
    )

    fields = ("row", "period_start", "period_end", "network", "fee_code", "fee_type", "count", "volume", "amount")
    mine = InvoiceLine.objects.filter(fee_import=by_columns).order_by("row").values_list(*fields)
    theirs = InvoiceLine.objects.filter(fee_import=by_rows).order_by("row").values_list(*fields)
    assert list(mine) == list(theirs)
    assert [line[5] for line in mine] == ["interchange", "interchange", ""]
    assert str(mine[0][2]) == "2026-02-28"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reference", "4111 1111 1111 1111"),  # a card number: the row reader names it
        ("downgrade_reason", " leading space"),
        ("amount", "1,500.00"),
        ("amount", "1e3"),
        ("date", "20260601"),
        ("giro", "Crédito"),
        ("issuer_country", "ß"),
        ("interchange_fee", "0.00001"),
    ],
)
def test_what_the_columns_do_not_settle_goes_to_the_row_reader(column, value):
    rows = varied(20)
    rows[7][column] = value
    table = pa.table({key: pa.array([row[key] for row in rows], pa.string()) for key in rows[0]})

    assert billing_columns(table, RECORD_MAPPING, "records", {}) is None
