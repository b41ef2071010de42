"""Fee imports: whole or nothing, each error with its row, card numbers refused, a file only once."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import IntegrityError, connection, transaction

from costs.importing import FeeImportRefused, fee_import
from costs.models import FeeImport, FeeRecord, InvoiceLine
from tests.costs.conftest import DEBIT_ECOM, records

pytestmark = pytest.mark.django_db

PAN = "4111111111111111"


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        writer.writeheader()
        writer.writerows(rows)
    return path


def nothing_imported():
    return (FeeImport.objects.count(), FeeRecord.objects.count(), InvoiceLine.objects.count()) == (0, 0, 0)


def test_a_csv_file_imports_once_and_again_is_refused(acquirer, tmp_path, lead):
    path = write_csv(tmp_path / "junio.csv", records(300, fee_bps=45))

    done = fee_import(path, partner=acquirer, shape="records", actor=lead)

    assert (done.rows, done.file_name, done.imported_by) == (300, "junio.csv", lead)
    first = FeeRecord.objects.get(reference="ARN0000000")
    assert (first.row, first.amount, first.interchange_fee, first.funding) == (
        1,
        Decimal(500),
        Decimal("2.25"),
        "debit",
    )
    with pytest.raises(FeeImportRefused, match="imported before"):
        fee_import(path, partner=acquirer, shape="records")
    (tmp_path / "copia.csv").write_bytes(path.read_bytes())
    with pytest.raises(FeeImportRefused, match="imported before"):
        fee_import(tmp_path / "copia.csv", partner=acquirer, shape="records")
    assert FeeRecord.objects.count() == 300


def test_one_bad_row_imports_nothing_and_names_the_row(acquirer, tmp_path):
    rows = records(12_000, fee_bps=45)
    rows[10_500]["amount"] = "quinientos"
    rows[10_700]["date"] = "2026-02-30"

    with pytest.raises(FeeImportRefused) as refused:
        fee_import(write_csv(tmp_path / "mala.csv", rows), partner=acquirer, shape="records")

    assert [(e.row, e.column) for e in refused.value.errors] == [(10_501, "amount"), (10_701, "date")]
    assert "Row 10501, amount: Enter a number." in str(refused.value)
    assert nothing_imported()  # the first 10,000 rows were copied, then rolled back


@pytest.mark.parametrize("column", ["reference", "downgrade_reason", "notas", "bin"])
def test_a_card_number_in_any_column_refuses_the_file(acquirer, tmp_path, column):
    rows = records(50, fee_bps=45)
    for row in rows:
        row.setdefault("notas", "")
    rows[37][column] = f"tarjeta {PAN}" if column != "bin" else PAN

    with pytest.raises(FeeImportRefused) as refused:
        fee_import(write_csv(tmp_path / "pan.csv", rows), partner=acquirer, shape="records")

    (error,) = refused.value.errors
    assert (error.row, error.column) == (38, column)
    assert PAN not in str(refused.value)
    assert nothing_imported()


def test_a_card_number_as_a_column_name_refuses_the_file(acquirer):
    with pytest.raises(FeeImportRefused, match="Card numbers"):
        fee_import(
            [{"reference": "A1", "date": "2026-06-01", "amount": "1", PAN: "x"}], partner=acquirer, shape="records"
        )
    assert nothing_imported()


def test_bin_and_last_four_only_and_a_full_bin_is_refused(acquirer):
    ok = fee_import(
        [{"reference": "A1", "date": "2026-06-01", "amount": "1", "bin": "41523101", "last4": "0042"}],
        partner=acquirer,
        shape="records",
    )
    assert FeeRecord.objects.get(fee_import=ok).bin_prefix == "41523101"
    with pytest.raises(FeeImportRefused) as refused:
        fee_import(
            [{"reference": "A2", "date": "2026-06-01", "amount": "1", "bin": "415231012"}],
            partner=acquirer,
            shape="records",
        )
    assert [(e.row, e.column) for e in refused.value.errors] == [(1, "bin")]


def test_a_parquet_invoice_with_a_column_mapping_and_fee_codes(acquirer, tmp_path):
    table = pa.table(
        {
            "periodo": ["2026-06", "2026-06"],
            "codigo": ["IC-DEB", "XQZ9"],
            "operaciones": [1000, 1],
            "importe_operado": [Decimal("500000.00"), Decimal(0)],
            "cargo": [Decimal("2250.0000"), Decimal("12000.00")],
            "red": ["Visa", "Visa"],
        }
    )
    pq.write_table(table, tmp_path / "factura.parquet")
    mapping = {
        "columns": {"period": "periodo", "fee_code": "codigo", "count": "operaciones"}
        | {"volume": "importe_operado", "amount": "cargo", "network": "red"},
        "fee_codes": {"IC-DEB": "interchange"},
    }

    fee_import(tmp_path / "factura.parquet", partner=acquirer, shape="invoice", mapping=mapping)

    lines = list(
        InvoiceLine.objects.order_by("row").values_list("fee_type", "period_start", "period_end", "network", "amount")
    )
    assert [(t, str(s), str(e), n, a) for t, s, e, n, a in lines] == [
        ("interchange", "2026-06-01", "2026-06-30", "visa", Decimal("2250")),
        ("", "2026-06-01", "2026-06-30", "visa", Decimal("12000")),
    ]


def test_an_invoice_without_its_required_column_a_broken_xlsx_and_an_xls_are_refused(acquirer, tmp_path):
    with pytest.raises(FeeImportRefused, match="no such column"):
        fee_import([{"period": "2026-06", "fee_code": "IC"}], partner=acquirer, shape="invoice")
    (tmp_path / "f.xlsx").write_bytes(b"PK")
    with pytest.raises(FeeImportRefused, match="cannot be read as an XLSX workbook"):
        fee_import(tmp_path / "f.xlsx", partner=acquirer, shape="invoice")
    (tmp_path / "f.xls").write_bytes(b"PK")
    with pytest.raises(FeeImportRefused, match="Only XLSX workbooks are read"):
        fee_import(tmp_path / "f.xls", partner=acquirer, shape="invoice")
    assert nothing_imported()


@pytest.mark.parametrize(
    "bad",
    [{"amount": "1e400"}, {"amount": "NaN"}, {"date": "\x00"}, {"reference": "x" * 500}, {"funding": "gold"}],
)
def test_hostile_values_are_row_errors(acquirer, bad):
    row = {"reference": "A1", "date": "2026-06-01", "amount": "1"} | bad
    with pytest.raises(FeeImportRefused) as refused:
        fee_import([row], partner=acquirer, shape="records")
    assert [e.row for e in refused.value.errors] == [1]
    assert nothing_imported()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.csv", "reference,date,amount\nAñ,2026-06-01,1\n".encode("latin-1")),
        ("roto.parquet", b"PAR1 no parquet"),
    ],
)
def test_an_unreadable_file_is_refused(acquirer, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FeeImportRefused, match="cannot be read"):
        fee_import(tmp_path / name, partner=acquirer, shape="records")
    assert nothing_imported()


def test_billing_import_uses_the_partners_saved_mapping_and_its_check_covers_each_month(acquirer, approved_card):
    """The saved mapping renames the columns; the check after the import runs per month it holds."""
    from costs.models import CostFinding, FeeImportMapping
    from costs.services import billing_import, fee_import_check, fee_import_months

    approved_card(acquirer, [{"fee_type": "interchange", "rate_bps": "45", **DEBIT_ECOM}])
    FeeImportMapping.objects.create(partner=acquirer, shape="records", columns={"reference": "arn", "date": "fecha"})
    june = records(200, amount="50000.00", fee_bps=60, days=30)
    july = records(200, amount="50000.00", fee_bps=45, days=30, start=date(2026, 7, 1), prefix="JUL")
    rows = [
        {("arn" if k == "reference" else "fecha" if k == "date" else k): v for k, v in r.items()} for r in june + july
    ]
    imported = billing_import(rows, partner=acquirer, shape="records")
    assert imported.rows == 400 and imported.checked_at is None
    assert fee_import_months(imported) == [date(2026, 6, 1), date(2026, 7, 1)]
    results = fee_import_check(imported)
    assert [r["period"] for r in results] == ["2026-06-01", "2026-07-01"]
    june_findings = CostFinding.objects.filter(partner=acquirer, period=date(2026, 6, 1), kind="rate_deviation")
    assert june_findings.get().billed_bps == Decimal("60.0000")  # +15 bps on MXN 10,000,000 = MXN 15,000
    assert not CostFinding.objects.filter(partner=acquirer, period=date(2026, 7, 1)).exists()
    imported.refresh_from_db()
    assert imported.checked_at is not None


def test_a_record_belongs_to_its_imports_partner(acquirer, make_partner):
    # One foreign key, (import, partner) to the import's, checks both: a row cannot name another partner.
    imported = fee_import(records(1, fee_bps=45), partner=acquirer, shape="records")
    other = make_partner()
    with pytest.raises(IntegrityError), transaction.atomic():
        FeeRecord.objects.filter(fee_import=imported).update(partner=other)
        connection.check_constraints()  # the key is deferred: checked here, not at the commit
    assert FeeRecord.objects.get(fee_import=imported).partner_id == acquirer.pk
