"""Import pages: upload → preview and validation report (nothing written) → import through
`billing_import`; broken and legacy spreadsheets, bad rows, card numbers and a file sent twice refused; the column
mapping page; the history (filters, CSV) and an import's months with their findings; "Run checks
again"; and one import checked by a real Celery worker."""

from __future__ import annotations

import csv
import io
import uuid
from functools import partial

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from costs.models import CostFinding, FeeImport, FeeImportMapping, InvoiceLine
from costs.services import billing_import
from payhealth.celery import app
from payhealth.outbox import publish
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

CARD = "4111111111111111"
INVOICE = (
    b"period,network,funding,fee_code,count,volume,amount\n"
    b"2026-06,visa,debit,IC,100,50000,225.00\n"
    b"2026-06,,,ZZ,1,0,4200.50\n"
)


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = tmp_path / "uploads"
    return settings.PAYHEALTH_METRICS_UPLOAD_DIR


def upload(client, partner, content: bytes, *, name="factura.csv", shape="invoice"):
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(reverse("costs:import_upload"), {"partner": partner.pk, "shape": shape, "file": file})


def kept_files(upload_dir) -> list:
    root = upload_dir / "costs"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_the_preview_reads_rows_with_the_saved_mapping_and_writes_nothing(client, analyst, acquirer, upload_dir):
    FeeImportMapping.objects.create(partner=acquirer, shape="invoice", fee_codes={"IC": "interchange"})
    client.force_login(analyst)
    response = upload(client, acquirer, INVOICE)
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.total == 2 and preview.errors == [] and preview.ok
    first = preview.rows[0][1]
    assert (first["fee_code"], first["fee_type"], str(first["amount"]), str(first["period_end"])) == (
        "IC",
        "interchange",
        "225.00",
        "2026-06-30",
    )
    assert preview.rows[1][1]["fee_type"] == ""  # ZZ is not mapped
    html = response.content.decode()
    assert 'name="token"' in html and "2026-06-30" in html
    assert not FeeImport.objects.exists() and not InvoiceLine.objects.exists()
    assert len(kept_files(upload_dir)) == 1
    token = response.context["token"]
    response = client.post(reverse("costs:import_upload"), {"token": token})
    imported = FeeImport.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("costs:import_detail", args=[imported.pk])
    assert imported.rows == 2 and imported.file_name == "factura.csv" and imported.imported_by == analyst
    assert sorted(InvoiceLine.objects.values_list("fee_code", "fee_type")) == [("IC", "interchange"), ("ZZ", "")]
    assert kept_files(upload_dir) == []  # deleted once imported
    assert client.post(reverse("costs:import_upload"), {"token": token}).status_code == 302  # gone: nothing more
    assert FeeImport.objects.count() == 1


def test_another_user_cannot_import_a_kept_file(client, analyst, lead, acquirer):
    client.force_login(analyst)
    token = upload(client, acquirer, INVOICE).context["token"]
    client.force_login(lead)
    response = client.post(reverse("costs:import_upload"), {"token": token}, follow=True)
    assert "This upload is gone" in response.content.decode() and not FeeImport.objects.exists()


def test_a_bad_row_is_reported_by_row_column_and_reason_and_nothing_is_imported(client, analyst, acquirer, upload_dir):
    client.force_login(analyst)
    content = INVOICE + b"2026-06,visa,weekly,IC,10,abc,5.00\n"
    response = upload(client, acquirer, content)
    assert response.status_code == 400
    report = response.content.decode().split('id="import-report"')[1].split("</table>")[0]
    assert '<td>3</td><td class="mono">funding</td><td>Choose one of credit, debit, prepaid.</td>' in report
    assert '<td>3</td><td class="mono">volume</td><td>Enter a number.</td>' in report
    assert 'name="token"' not in response.content.decode()
    assert not FeeImport.objects.exists() and kept_files(upload_dir) == []


def test_a_card_number_is_refused_with_its_row_and_never_echoed(client, analyst, acquirer, upload_dir):
    client.force_login(analyst)
    content = INVOICE + f"2026-06,visa,debit,{CARD},1,10,1.00\n".encode()
    response = upload(client, acquirer, content)
    html = response.content.decode()
    assert response.status_code == 400 and CARD not in html
    report = html.split('id="import-report"')[1].split("</table>")[0]
    assert '<td>3</td><td class="mono">fee_code</td>' in report and "card number" in report.lower()
    assert not FeeImport.objects.exists() and kept_files(upload_dir) == []


def test_a_broken_workbook_and_a_legacy_spreadsheet_are_refused(client, analyst, acquirer, upload_dir):
    client.force_login(analyst)
    response = upload(client, acquirer, b"PK\x03\x04rest of a zip", name="factura.xlsx")
    assert response.status_code == 400
    assert "cannot be read as an XLSX workbook" in response.content.decode()
    response = upload(client, acquirer, b"anything", name="factura.ods")
    assert response.status_code == 400
    assert "save the sheet as .xlsx (Excel workbook) or as CSV" in response.content.decode()
    assert kept_files(upload_dir) == []


def test_the_same_file_is_refused_the_second_time(client, analyst, acquirer):
    billing_import_page = reverse("costs:import_upload")
    client.force_login(analyst)
    token = upload(client, acquirer, INVOICE).context["token"]
    assert client.post(billing_import_page, {"token": token}).status_code == 302
    response = upload(client, acquirer, INVOICE, name="otra.csv")
    assert response.status_code == 400
    assert 'id="imported-before"' in response.content.decode()
    assert "This file was imported before." in response.content.decode()
    assert FeeImport.objects.count() == 1


def test_the_mapping_page_saves_columns_and_fee_codes(client, analyst, acquirer):
    url = reverse("costs:mapping_edit", args=[acquirer.pk, "invoice"])
    client.force_login(analyst)
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"col_fee_code": "Concepto", "col_amount": "Importe", "fee_codes": "IC = interchange\nbad"}
    )
    assert response.status_code == 400 and "Line 2: write code = fee type." in response.content.decode()
    response = client.post(url, {"col_fee_code": "Concepto", "col_amount": "amount", "fee_codes": "IC = unknown"})
    assert response.status_code == 400 and "IC: choose one of" in response.content.decode()
    response = client.post(url, {"col_fee_code": "Concepto", "col_amount": "amount", "fee_codes": "IC = Interchange"})
    assert response.status_code == 302
    saved = FeeImportMapping.objects.get(partner=acquirer, shape="invoice")
    assert saved.columns == {"fee_code": "Concepto"} and saved.fee_codes == {"IC": "interchange"}
    assert saved.updated_by == analyst
    page = client.get(url)
    assert page.context["form"]["col_fee_code"].value() == "Concepto"
    # the upload reads with it
    content = INVOICE.replace(b"fee_code", b"Concepto")
    response = upload(client, acquirer, content)
    preview = response.context["preview"]
    assert preview.ok and preview.rows[0][1]["fee_type"] == "interchange"
    assert "fee_code ← Concepto; IC = interchange" in response.content.decode()
    assert client.get(reverse("costs:mapping_edit", args=[acquirer.pk, "weekly"])).status_code == 404


def test_the_history_filters_exports_and_shows_months_and_findings(
    client, analyst, acquirer, make_partner, django_capture_on_commit_callbacks
):
    other = make_partner()
    june = billing_import(io_rows(INVOICE), partner=acquirer, shape="invoice", actor=analyst)
    billing_import(io_rows(INVOICE.replace(b"2026-06", b"2026-07")), partner=other, shape="invoice")
    from costs.services import fee_import_check

    fee_import_check(june)
    finding = CostFinding.objects.get(partner=acquirer, kind="unknown_fee")
    client.force_login(analyst)
    html = client.get(reverse("costs:import_list"), {"partner": acquirer.pk}).content.decode()
    assert "1 import" in html and "2026-06" in html and "2026-07" not in html
    response = client.get(reverse("costs:import_list_csv"), {"shape": "invoice"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted((r["partner"], r["months"], r["rows"]) for r in rows) == [
        ("adquirente-mx", "2026-06", "2"),
        (other.code, "2026-07", "2"),
    ]
    assert [r["imported_by"] for r in rows if r["partner"] == "adquirente-mx"] == ["ana"]
    detail = client.get(reverse("costs:import_detail", args=[june.pk])).content.decode()
    assert f'data-finding="{finding.pk}"' in detail and "Unknown fee" in detail and "4200.50" in detail
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post(reverse("costs:import_check", args=[june.pk])).status_code == 302
    assert [(c.func, c.args) for c in callbacks if isinstance(c, partial)] == [
        (publish, ("costs.check_import_task", [june.pk]))
    ]


def test_the_import_pages_are_closed_to_who_lacks_the_permission(client, outsider, lead, acquirer):
    june = billing_import(io_rows(INVOICE), partner=acquirer, shape="invoice")
    client.force_login(outsider)
    for url in (
        reverse("costs:import_upload"),
        reverse("costs:import_list"),
        reverse("costs:import_detail", args=[june.pk]),
        reverse("costs:mapping_edit", args=[acquirer.pk, "invoice"]),
    ):
        assert client.get(url).status_code == 403
    assert client.post(reverse("costs:import_check", args=[june.pk])).status_code == 403


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_import_pages_render_in_both_languages(client, analyst, acquirer, language):
    june = billing_import(io_rows(INVOICE), partner=acquirer, shape="invoice")
    client.force_login(analyst)
    urls = [
        reverse("costs:import_upload"),
        reverse("costs:import_list"),
        reverse("costs:import_detail", args=[june.pk]),
        reverse("costs:mapping_list"),
        reverse("costs:mapping_edit", args=[acquirer.pk, "records"]),
    ]
    html = "".join(client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode() for url in urls)
    with translation.override(language):
        expected = [translation.gettext("Upload billing"), translation.gettext("Run checks again")]
    assert all(text in html for text in expected)
    assert ("Run checks again" in html) == (language == "en")


def io_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_import_through_the_page_is_checked_by_a_real_worker(client, analyst, acquirer, upload_dir, tmp_path):
    queue = f"costs-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(DATABASE_URL=database_url_for_workers(), PAYHEALTH_METRICS_UPLOAD_DIR=str(upload_dir))
    worker = start_celery_worker(queue=queue, log_path=log, env=env)
    client.force_login(analyst)
    try:
        wait_for(lambda: worker_is_ready(log) or worker.poll() is not None, timeout=60, what="the worker")
        assert worker.poll() is None, log.read_text()
        with celery_routes(app, ["costs.check_import_task"], queue):
            token = upload(client, acquirer, INVOICE).context["token"]
            assert client.post(reverse("costs:import_upload"), {"token": token}).status_code == 302
            imported = FeeImport.objects.get()
            checked = wait_for(
                lambda: FeeImport.objects.filter(pk=imported.pk, checked_at__isnull=False).first(),
                timeout=60,
                what="the checks of the import",
            )
    finally:
        stop_celery_worker(worker)
        delete_queue(app, queue)
    assert checked.checked_at is not None, log.read_text()[-3000:]
    finding = CostFinding.objects.get(partner=acquirer)
    assert (finding.kind, finding.fee_code, str(finding.amount), finding.period.isoformat()) == (
        "unknown_fee",
        "ZZ",
        "4200.50",
        "2026-06-01",
    )


def test_the_history_csv_reads_every_imports_months_in_fixed_queries(client, analyst, acquirer):
    """Given 2 then 6 imports, the CSV runs the same queries (the months are grouped, not one query each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def imports(months):
        for month in months:
            billing_import(io_rows(INVOICE.replace(b"2026-06", month.encode())), partner=acquirer, shape="invoice")

    client.force_login(analyst)
    imports(["2026-01", "2026-02"])
    with CaptureQueriesContext(connection) as two:
        first = client.get(reverse("costs:import_list_csv"))
    imports(["2026-03", "2026-04", "2026-05", "2026-06"])

    with CaptureQueriesContext(connection) as six:
        response = client.get(reverse("costs:import_list_csv"))

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["months"] for r in rows) == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert len(list(csv.DictReader(io.StringIO(first.content.decode())))) == 2
    assert len(six.captured_queries) == len(two.captured_queries)
