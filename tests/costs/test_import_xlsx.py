"""Billing from XLSX workbooks: the first sheet read like a CSV (ISO dates, exact decimals, empty
cells empty), whole or nothing with each error's row and column, card numbers refused without
echo, a workbook only once, legacy .xls and hostile zips refused cleanly; through the service, the
upload page and the API."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from costs import spreadsheet
from costs.importing import FeeImportRefused, fee_import, fee_import_preview
from costs.models import FeeImport, FeeRecord, InvoiceLine
from tests.api.helpers import token_client

pytestmark = pytest.mark.django_db

CARD = 4111111111111111
HEADER = ["reference", "date", "amount", "interchange_fee", "network", "funding", "nota"]


def workbook(path, rows, *, header=HEADER, first_sheet=None):
    """An .xlsx with `rows` under `header` on its first sheet (another sheet after it)."""
    book = Workbook()
    sheet = book.active
    sheet.title = first_sheet or "Junio"
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.create_sheet("Otra").append(["nothing", "to", "read"])
    book.save(path)
    return path


def good_rows():
    return [
        ["ARN1", datetime(2026, 6, 1), 500, 2.25, "visa", "debit", None],
        ["ARN2", date(2026, 6, 2), 1234.5, Decimal("5.5553"), "Visa", "", "sin nota"],
        [],  # a blank row is skipped, as a blank CSV line
        ["ARN3", "2026-06-03", "99.10", 0, "mastercard", "credit", 12],
    ]


def nothing_imported():
    return not (FeeImport.objects.exists() or FeeRecord.objects.exists() or InvoiceLine.objects.exists())


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = tmp_path / "uploads"
    return settings.PAYHEALTH_METRICS_UPLOAD_DIR


def test_an_xlsx_imports_its_first_sheet_with_exact_values_and_only_once(acquirer, tmp_path, lead):
    path = workbook(tmp_path / "junio.xlsx", good_rows())

    done = fee_import(path, partner=acquirer, shape="records", actor=lead)

    assert (done.rows, done.file_name) == (3, "junio.xlsx")
    assert list(
        FeeRecord.objects.order_by("row").values_list("row", "reference", "txn_date", "amount", "interchange_fee")
    ) == [
        (1, "ARN1", date(2026, 6, 1), Decimal(500), Decimal("2.25")),
        (2, "ARN2", date(2026, 6, 2), Decimal("1234.5"), Decimal("5.5553")),
        (3, "ARN3", date(2026, 6, 3), Decimal("99.10"), Decimal(0)),
    ]
    assert list(FeeRecord.objects.order_by("row").values_list("network", "funding")) == [
        ("visa", "debit"),
        ("visa", ""),
        ("mastercard", "credit"),
    ]
    with pytest.raises(FeeImportRefused, match="imported before"):
        fee_import(path, partner=acquirer, shape="records")
    (tmp_path / "copia.xlsx").write_bytes(path.read_bytes())
    with pytest.raises(FeeImportRefused, match="imported before"):
        fee_import(tmp_path / "copia.xlsx", partner=acquirer, shape="records")
    assert FeeRecord.objects.count() == 3


def test_cells_are_read_as_a_csv_would_hold_them():
    assert [
        spreadsheet.cell_text(value)
        for value in (
            None,
            "  texto ",
            datetime(2026, 6, 1),
            datetime(2026, 6, 1, 10, 30),
            date(2026, 6, 1),
            7,
            7.0,
            0.1,
            0.1 + 0.2,
            1e-05,
            True,
        )
    ] == [
        None,
        "  texto ",
        "2026-06-01",
        "2026-06-01T10:30:00",
        "2026-06-01",
        "7",
        "7",
        "0.1",
        "0.30000000000000004",
        "0.00001",
        "TRUE",
    ]


def test_bad_cells_name_their_row_and_column_and_import_nothing(acquirer, tmp_path):
    rows = good_rows()
    rows[0][3] = 12.345678  # a float with 6 decimals
    rows[3][2] = "quinientos"
    path = workbook(tmp_path / "mala.xlsx", rows)

    with pytest.raises(FeeImportRefused) as refused:
        fee_import(path, partner=acquirer, shape="records")

    assert [(e.row, e.column, e.message) for e in refused.value.errors] == [
        (1, "interchange_fee", "Enter a number with at most 4 decimals."),
        (3, "amount", "Enter a number."),
    ]
    assert nothing_imported()


def test_a_card_number_in_any_cell_or_in_the_header_refuses_the_file_without_echo(acquirer, tmp_path):
    rows = good_rows()
    rows[3][6] = CARD  # an unmapped column, as a number cell
    rows[1].append(str(CARD))  # beyond the header: kept under its column letter
    path = workbook(tmp_path / "tarjeta.xlsx", rows)

    with pytest.raises(FeeImportRefused) as refused:
        fee_import(path, partner=acquirer, shape="records")

    assert [(e.row, e.column) for e in refused.value.errors] == [(2, "H"), (3, "nota")]
    assert str(CARD) not in str(refused.value) and "card number" in str(refused.value).lower()
    path = workbook(tmp_path / "encabezado.xlsx", good_rows(), header=[*HEADER, str(CARD)])
    with pytest.raises(FeeImportRefused) as refused:
        fee_import_preview(path, shape="records")
    assert str(CARD) not in str(refused.value) and "card number" in str(refused.value).lower()
    assert nothing_imported()


def test_a_broken_legacy_or_hostile_workbook_is_refused_cleanly(acquirer, tmp_path, monkeypatch):
    (tmp_path / "roto.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "viejo.xls").write_bytes(spreadsheet.XLS_MAGIC + b"\x00" * 100)
    with zipfile.ZipFile(tmp_path / "otro.xlsx", "w") as archive:
        archive.writestr("hola.txt", "a zip, but no workbook")
    with zipfile.ZipFile(tmp_path / "bomba.xlsx", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (8 * 1024 * 1024))  # packs ~1000 to 1
    laughs = workbook(tmp_path / "risas.xlsx", good_rows())
    with zipfile.ZipFile(laughs) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    entities = b'<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    sheet = parts["xl/worksheets/sheet1.xml"]
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(b"<worksheet", entities + b"<worksheet", 1)
    with zipfile.ZipFile(laughs, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    wide = workbook(tmp_path / "ancha.xlsx", [["ARN1", "2026-06-01", 1, *range(300)]])
    monkeypatch.setattr(spreadsheet, "MAX_COLUMNS", 50)

    def refusal(name):
        with pytest.raises(FeeImportRefused) as refused:
            fee_import(tmp_path / name, partner=acquirer, shape="records")
        return [(e.row, e.message) for e in refused.value.errors]

    assert refusal("roto.xlsx") == [(0, "The file cannot be read as an XLSX workbook.")]
    assert refusal("otro.xlsx") == [(0, "The file cannot be read as an XLSX workbook.")]
    assert refusal("viejo.xls") == [
        (0, "Only XLSX workbooks are read: save the sheet as .xlsx (Excel workbook) or as CSV (UTF-8).")
    ]
    assert refusal("risas.xlsx") == [(0, "The file cannot be read as an XLSX workbook.")]
    assert refusal("bomba.xlsx") == [(0, "The workbook unpacks to more than the upload limit allows.")]
    assert refusal(wide.name) == [(1, "The sheet has more than 50 columns.")]
    assert nothing_imported()


def test_the_upload_page_previews_and_imports_an_xlsx_and_refuses_an_xls(client, analyst, acquirer, tmp_path):
    content = workbook(tmp_path / "junio.xlsx", good_rows()).read_bytes()
    client.force_login(analyst)
    page = reverse("costs:import_upload")

    def send(name, data):
        file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
        return client.post(page, {"partner": acquirer.pk, "shape": "records", "file": file})

    response = send("junio.xlsx", content)
    assert response.status_code == 200, response.content.decode()
    preview = response.content.decode().split('id="import-preview"')[1].split("</table>")[0]
    assert '<td class="mono">ARN2</td><td class="mono">2026-06-02</td>' in preview
    assert '<td class="mono">1234.5</td>' in preview and '<td class="mono">5.5553</td>' in preview
    assert client.post(page, {"token": response.context["token"]}).status_code == 302
    assert FeeImport.objects.get().file_name == "junio.xlsx" and FeeRecord.objects.count() == 3

    response = send("viejo.xls", spreadsheet.XLS_MAGIC + b"\x00" * 100)
    assert response.status_code == 400 and "save the sheet as .xlsx" in response.content.decode()
    response = send("sin-extension", spreadsheet.XLS_MAGIC + b"\x00" * 100)
    assert response.status_code == 400 and "save the sheet as .xlsx" in response.content.decode()


def test_the_api_dry_runs_and_imports_an_xlsx(analyst, acquirer, tmp_path):
    path = workbook(
        tmp_path / "factura.xlsx",
        [[datetime(2026, 6, 1), "IC", 100, 50000, 225], ["2026-06", "ZZ", 1, None, 4200.5]],
        header=["period", "fee_code", "count", "volume", "amount"],
    )
    client = token_client(analyst)

    def upload(**extra):
        file = SimpleUploadedFile("factura.xlsx", path.read_bytes())
        body = {"partner": acquirer.pk, "shape": "invoice", "file": file, **extra}
        return client.post(reverse("api:fee-import-list"), body, format="multipart")

    body = upload(dry_run="true").json()
    assert body["rows_read"] == 2 and body["errors"] == []
    assert [(row["values"]["period_start"], row["values"]["amount"]) for row in body["preview"]] == [
        ("2026-06-01", "225"),
        ("2026-06-01", "4200.5"),
    ]
    assert not FeeImport.objects.exists()
    response = upload()
    assert response.status_code == 201 and response.json()["months"] == ["2026-06"]
    assert list(InvoiceLine.objects.order_by("row").values_list("fee_code", "volume", "amount")) == [
        ("IC", Decimal(50000), Decimal(225)),
        ("ZZ", Decimal(0), Decimal("4200.5")),
    ]
    response = upload()
    assert response.status_code == 400 and "imported before" in response.json()["error"]["message"]
