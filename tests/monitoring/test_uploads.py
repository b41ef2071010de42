"""The upload page: a CSV or Parquet file → preview and column mapping → import on a real Celery
worker with its progress polled; bad rows and card numbers named with nothing written; hostile
files a form error, never a 5xx; permissions on the server."""

from __future__ import annotations

import csv
import io
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from monitoring.models import AuthBucket, ImportJob, ImportJobState, ImportMapping
from monitoring.rows import FIELDS
from monitoring.uploads import import_job_run
from payhealth.celery import app
from tests.factories import UserFactory
from tests.monitoring.conftest import bucket, make_rows
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

RENAMED = {"merchant": "cuenta", "attempts": "intentos"}
CARD = "4111111111111111"


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = tmp_path / "uploads"
    return settings.PAYHEALTH_METRICS_UPLOAD_DIR


def flat(row: dict) -> dict:
    row = dict(row)
    row["decline_codes"] = ";".join(f"{code}:{count}" for code, count in row["decline_codes"].items())
    return {RENAMED.get(key, key): value for key, value in row.items()}


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parquet_bytes(rows: list[dict]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out.getvalue()


def upload(client, name: str, content: bytes):
    return client.post(reverse("monitoring:upload_start"), {"file": SimpleUploadedFile(name, content)})


def map_and_start(client, job: ImportJob, **extra):
    columns = {field: RENAMED.get(field, field) for field in FIELDS}
    data = {f"map_{field}": column for field, column in columns.items() if column in job.header}
    return client.post(reverse("monitoring:upload_detail", args=[job.pk]), data | extra)


def test_the_preview_shows_the_first_rows_and_preselects_columns(client, analyst, data, upload_dir):
    client.force_login(analyst)
    rows = [flat(row) for row in make_rows(12)]
    response = upload(client, "buckets.csv", csv_bytes(rows))
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.kind, job.rows_total, job.state, job.created_by) == ("csv", 12, ImportJobState.UPLOADED, analyst)
    stored = list(upload_dir.iterdir())
    assert [p.name for p in stored] == [job.stored_name] and oct(stored[0].stat().st_mode)[-3:] == "600"
    html = client.get(response["Location"]).content.decode()
    preview = html[html.index('id="upload-preview"') : html.index("</table>", html.index('id="upload-preview"'))]
    assert preview.count("<tr>") == 1 + 10  # the header and the first 10 rows
    assert "415000" in preview and "415011" not in preview
    assert '<option value="bucket_start" selected>' in html  # same name: preselected
    assert '<option value="cuenta" selected>' not in html  # another name: the person chooses


def test_a_saved_mapping_preselects_its_columns_and_a_new_one_is_saved(client, analyst, data):
    ImportMapping.objects.create(name="banco", columns=RENAMED)
    client.force_login(analyst)
    upload(client, "b.csv", csv_bytes([flat(row) for row in make_rows(2)]))
    job = ImportJob.objects.get()
    html = client.get(reverse("monitoring:upload_detail", args=[job.pk])).content.decode()
    assert '<option value="cuenta" selected>' in html and '<option value="intentos" selected>' in html
    response = map_and_start(client, job, save_as="banco-2")
    assert response.status_code == 302
    assert ImportMapping.objects.get(name="banco-2").columns == RENAMED
    job.refresh_from_db()
    assert job.state == ImportJobState.QUEUED and job.mapping["merchant"] == "cuenta"


def test_a_required_field_left_unmapped_is_a_form_error(client, analyst, data):
    client.force_login(analyst)
    upload(client, "b.csv", csv_bytes([flat(row) for row in make_rows(2)]))
    job = ImportJob.objects.get()
    response = client.post(reverse("monitoring:upload_detail", args=[job.pk]), {"map_bucket_start": "bucket_start"})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    job.refresh_from_db()
    assert job.state == ImportJobState.UPLOADED


def test_a_bad_row_and_a_card_number_are_named_and_nothing_is_written(client, analyst, data, upload_dir):
    client.force_login(analyst)
    rows = [flat(row) for row in make_rows(14)]
    rows[11]["intentos"] = 5  # row 12: the outcomes no longer add up
    rows[12]["currency"] = CARD  # row 13: a card number, in a column the mapping reads
    upload(client, "bad.csv", csv_bytes(rows))
    job = ImportJob.objects.get()
    map_and_start(client, job)
    import_job_run(job.pk)  # what the worker runs; the worker itself is below
    job.refresh_from_db()
    assert job.state == ImportJobState.FAILED
    assert {error["row"] for error in job.errors} >= {12, 13}
    assert CARD not in str(job.errors)
    assert AuthBucket.objects.count() == 0
    assert list(upload_dir.iterdir()) == []  # the file is gone
    html = client.get(reverse("monitoring:upload_progress", args=[job.pk])).content.decode()
    assert "Row 12 (line 13)" in html and "Row 13 (line 14)" in html and "hx-trigger" not in html
    assert CARD not in html


def test_a_card_number_in_the_preview_refuses_the_upload_naming_the_row(client, analyst, data, upload_dir):
    client.force_login(analyst)
    rows = [flat(row) for row in make_rows(3)]
    rows[1]["network"] = CARD
    response = upload(client, "pan.csv", csv_bytes(rows))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Row 2" in html and CARD not in html
    assert not ImportJob.objects.exists() and list(upload_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "The file is empty"),
        ("blank.csv", b"\n\n", "The file is empty"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "neither a CSV"),
        ("latin.csv", "cuenta,país\nacct_x,México\n".encode("latin-1") * 3, "neither a CSV"),
        ("fake.parquet", b"merchant,attempts\n1,2\n", "not a Parquet file"),
        ("broken.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1", "cannot be read"),
        ("huge.csv", b"a" * 300_000 + b"\n1\n", "header line is too long"),
        ("wide.csv", (",".join(f"c{n}" for n in range(500)) + "\n" + ",".join("1" * 500) + "\n").encode(), "columns"),
        ("header.csv", b"merchant,attempts\n", "no rows"),
        ("dupe.csv", b"a,a\n1,2\n", "same name"),
    ],
)
def test_hostile_files_get_a_form_error_not_a_5xx(client, analyst, data, upload_dir, name, content, message):
    client.force_login(analyst)
    response = upload(client, name, content)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportJob.objects.exists() and list(upload_dir.iterdir()) == []


def test_a_file_over_the_size_limit_is_refused(client, analyst, data, settings):
    settings.PAYHEALTH_METRICS_UPLOAD_MAX_BYTES = 1024
    client.force_login(analyst)
    response = upload(client, "big.csv", csv_bytes([flat(row) for row in make_rows(20)]))
    assert response.status_code == 400
    assert "larger than" in response.content.decode()


def test_no_file_at_all_is_a_form_error(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("monitoring:upload_start"), {})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


@pytest.mark.parametrize(("language", "title"), [("en", "Upload payment data"), ("es", "Subir datos de pagos")])
def test_the_upload_page_in_both_languages(client, analyst, language, title):
    client.force_login(analyst)
    response = client.get(reverse("monitoring:upload_start"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200 and title in response.content.decode()


def test_permissions_are_enforced_on_every_upload_endpoint(client, analyst, outsider, data):
    client.force_login(analyst)
    upload(client, "b.csv", csv_bytes([flat(row) for row in make_rows(2)]))
    job = ImportJob.objects.get()
    client.logout()
    urls = [
        reverse("monitoring:upload_start"),
        reverse("monitoring:upload_detail", args=[job.pk]),
        reverse("monitoring:upload_progress", args=[job.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(outsider)
    for url in urls:
        assert client.get(url).status_code == 403
    assert upload(client, "b.csv", b"a\n1\n").status_code == 403
    other = UserFactory(username="otra", role="analyst")
    client.force_login(other)  # another analyst: someone else's upload is not there
    for url in urls[1:]:
        assert client.get(url).status_code == 404
    assert client.post(urls[1], {}).status_code == 404
    assert ImportJob.objects.get().state == ImportJobState.UPLOADED


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_csv_and_parquet_import_through_a_real_worker_to_100_percent(client, analyst, data, upload_dir, tmp_path):
    queue = f"upload-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(DATABASE_URL=database_url_for_workers(), PAYHEALTH_METRICS_UPLOAD_DIR=str(upload_dir))
    worker = start_celery_worker(queue=queue, log_path=log, env=env)
    client.force_login(analyst)
    try:
        wait_for(lambda: worker_is_ready(log) or worker.poll() is not None, timeout=60, what="the worker")
        assert worker.poll() is None, log.read_text()
        with celery_routes(app, ["monitoring.import_job_task"], queue):
            for name, content, count in (
                ("buckets.csv", csv_bytes([flat(row) for row in make_rows(30)]), 30),
                ("buckets.parquet", parquet_bytes([flat(row) for row in make_rows(20, start=bucket(120))]), 20),
            ):
                upload(client, name, content)
                job = ImportJob.objects.latest("id")
                assert job.rows_total == count
                assert map_and_start(client, job).status_code == 302
                done = wait_for(
                    lambda job=job: ImportJob.objects.filter(pk=job.pk, state__in=["done", "failed"]).first(),
                    timeout=60,
                    what="the import",
                )
                assert done.state == ImportJobState.DONE, (done.errors, log.read_text()[-3000:])
                html = client.get(reverse("monitoring:upload_progress", args=[job.pk])).content.decode()
                assert 'value="100"' in html and "100 %" in html and "hx-trigger" not in html
                assert done.rows_read == count
    finally:
        stop_celery_worker(worker)
        delete_queue(app, queue)
    assert AuthBucket.objects.count() == 30 + 20
    assert list(upload_dir.iterdir()) == []


def test_a_file_never_imported_is_deleted_after_a_day(client, analyst, data, upload_dir):
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.tasks import apply_metrics_retention_task

    client.force_login(analyst)
    upload(client, "old.csv", csv_bytes([flat(row) for row in make_rows(2)]))
    upload(client, "new.csv", csv_bytes([flat(row) for row in make_rows(2)]))
    old, new = ImportJob.objects.order_by("id")
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert apply_metrics_retention_task()["uploads_purged"] == 1
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.state, new.state) == (ImportJobState.FAILED, ImportJobState.UPLOADED)
    assert [p.name for p in upload_dir.iterdir()] == [new.stored_name]
    assert map_and_start(client, old).status_code == 200  # no longer waiting for a mapping
