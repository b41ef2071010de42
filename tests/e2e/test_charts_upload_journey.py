"""An analyst in a real browser: uploads a CSV of buckets (preview, column mapping), watches the
import finish on a real Celery worker, reads an incident's payment-data charts and opens a
segment page with its chart and its slices."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from monitoring.models import AuthBucket, ImportJob
from payhealth.celery import app
from tests.factories import AffectedMerchantFactory, IncidentFactory, UserFactory
from tests.monitoring.chart_data import ACCOUNT, load_chart_merchant
from tests.monitoring.conftest import make_rows
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

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def csv_file(rows: list[dict]) -> bytes:
    out = io.StringIO()
    renamed = []
    for row in rows:
        row = {("cuenta" if key == "merchant" else key): value for key, value in row.items()}
        row["decline_codes"] = ";".join(f"{code}:{count}" for code, count in row["decline_codes"].items())
        renamed.append(row)
    writer = csv.DictWriter(out, fieldnames=list(renamed[0]))
    writer.writeheader()
    writer.writerows(renamed)
    return out.getvalue().encode()


def test_an_analyst_uploads_a_csv_and_reads_the_charts(page, live_server, login, screenshot, settings, tmp_path):
    upload_dir = tmp_path / "uploads"
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = upload_dir
    charted = load_chart_merchant()
    outage = charted["outage"]
    incident = IncidentFactory(
        title="Prosa: rechazos 91 y 96", started_at=outage[0], detected_at=outage[0], resolved_at=outage[1]
    )
    AffectedMerchantFactory(incident=incident, merchant=charted["merchant"])
    UserFactory(username="ana", role="analyst", first_name="Ana")

    queue = f"upload-e2e-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(DATABASE_URL=database_url_for_workers(), PAYHEALTH_METRICS_UPLOAD_DIR=str(upload_dir))
    worker = start_celery_worker(queue=queue, log_path=log, env=env)
    try:
        wait_for(lambda: worker_is_ready(log) or worker.poll() is not None, timeout=60, what="the worker")
        assert worker.poll() is None, log.read_text()
        with celery_routes(app, ["monitoring.import_job_task"], queue):
            login("ana")
            page.locator("header").get_by_role("button", name="Monitoring", exact=True).click()  # the nav's menu
            page.get_by_role("link", name="Upload payment data").click()
            expect(page.get_by_role("heading", name="Upload payment data", level=1)).to_be_visible()
            rows = make_rows(24, merchant=ACCOUNT, start=charted["now"] - timedelta(minutes=15))
            page.set_input_files(
                "#id_file", files=[{"name": "buckets.csv", "mimeType": "text/csv", "buffer": csv_file(rows)}]
            )
            page.get_by_role("button", name="Upload and preview").click()

            preview = page.locator("#upload-preview")
            expect(preview.locator("tbody tr")).to_have_count(10)
            expect(page.locator("#rows-total")).to_have_text("24")
            expect(page.locator("#id_map_bucket_start")).to_have_value("bucket_start")
            page.select_option("#id_map_merchant", "cuenta")
            page.fill("#id_save_as", "tienda-csv")
            screenshot("upload-preview")
            page.get_by_role("button", name="Import").click()

            progress = page.locator("#upload-progress")
            expect(progress).to_have_attribute("data-state", "done", timeout=30_000)
            expect(page.locator("#upload-percent")).to_have_text("100 %")
            expect(page.locator("#upload-result")).to_contain_text("24 inserted")
            screenshot("upload-done")
    finally:
        stop_celery_worker(worker)
        delete_queue(app, queue)
    assert ImportJob.objects.get().state == "done"
    assert AuthBucket.objects.filter(segment__bin_prefix="415000").count() == 1
    assert list(upload_dir.iterdir()) == []

    # The incident page loads its charts from the monitoring app.
    page.goto(f"{live_server.url}/incidents/{incident.reference}/")
    charts = page.locator("#incident-charts")
    expect(charts.locator(f"svg#chart-incident-{charted['merchant'].pk}")).to_be_visible()
    expect(charts.locator(f"svg#chart-codes-{charted['merchant'].pk}")).to_be_visible()
    charts.scroll_into_view_if_needed()
    screenshot("incident-charts")

    # The merchant page: 30 days, then the segment page broken down by route.
    page.goto(f"{live_server.url}/merchants/{ACCOUNT}/")
    expect(page.locator("svg#chart-merchant-30d")).to_be_visible()
    page.get_by_role("link", name="Open the merchant's segments").click()
    expect(page.locator("svg#chart-segment")).to_be_visible()
    page.select_option("select[name=by]", "route")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#segment-children tbody tr").first).to_contain_text("PROSA")
    screenshot("segment-chart")
