"""An analyst in a real browser at the cost desk: uploads a partner's billing CSV, reads the
preview, imports it, a real Celery worker checks the month, then the findings list, the
rate-deviation finding, a billing case opened from it and its incident with the billing-case
panel; and the partner × month matrix."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from costs.models import FeeImport
from costs.services import rate_card_approve, rate_card_create
from partners.models import Partner
from payhealth.celery import app
from tests.costs.conftest import DEBIT_ECOM, records
from tests.factories import UserFactory
from tests.support import (
    celery_routes,
    database_url_for_workers,
    delete_queue,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def billing_csv(month: date) -> bytes:
    """300 debit e-commerce payments of MXN 100,000 billed at 52 bps where the card says 45."""
    rows = records(300, start=month, days=28, amount="100000.00", fee_bps=52)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def test_an_analyst_imports_billing_and_disputes_a_rate_deviation(
    page, live_server, login, screenshot, settings, tmp_path
):
    upload_dir = tmp_path / "uploads"
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = upload_dir
    month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)  # last month: in the matrix
    partner = Partner.objects.create(code="adquirente-mx", name="Adquirente MX", kind="acquirer", country="MX")
    card = rate_card_create(
        partner=partner, effective_from=month, rules=[{"fee_type": "interchange", "rate_bps": "45", **DEBIT_ECOM}]
    )
    rate_card_approve(rate_card=card, actor=UserFactory(username="lucia", role="lead"))
    UserFactory(username="ana", role="analyst", first_name="Ana")

    queue = f"costs-e2e-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(DATABASE_URL=database_url_for_workers(), PAYHEALTH_METRICS_UPLOAD_DIR=str(upload_dir))
    worker = start_celery_worker(queue=queue, log_path=log, env=env)  # boots while the analyst uploads
    try:
        with celery_routes(app, ["costs.check_import_task"], queue):
            login("ana")
            page.goto(f"{live_server.url}/costs/imports/upload/")
            page.select_option("#id_partner", label="Adquirente MX")
            page.select_option("#id_shape", "records")
            page.set_input_files(
                "#id_file", files=[{"name": "adquirente.csv", "mimeType": "text/csv", "buffer": billing_csv(month)}]
            )
            page.get_by_role("button", name="Upload and preview").click()
            expect(page.locator("#preview-title")).to_contain_text("300 rows read for Adquirente MX")
            expect(page.locator("#import-preview tbody tr")).to_have_count(20)
            expect(page.locator("#import-preview tbody tr").first).to_contain_text("ARN0000000")
            page.get_by_role("button", name="Import", exact=True).click()

            expect(page.get_by_text("Imported 300 rows; the checks run now.")).to_be_visible()
            imported = FeeImport.objects.get()
            wait_for(
                lambda: (
                    worker.poll() is not None
                    or FeeImport.objects.filter(pk=imported.pk, checked_at__isnull=False).exists()
                ),
                timeout=60,
                what="the worker's check",
            )
            assert worker.poll() is None, log.read_text()
    finally:
        stop_celery_worker(worker)
        delete_queue(app, queue)
    assert list(upload_dir.rglob("*.csv")) == []

    page.reload()
    expect(page.locator(".month-findings")).to_contain_text("Rate deviation")
    page.locator("header").get_by_role("button", name="Costs", exact=True).click()  # the nav's menu
    page.get_by_role("link", name="Cost findings").click()
    row = page.locator("#results tbody tr").filter(has_text="Rate deviation")
    expect(row).to_contain_text("21,000.00 MXN")
    screenshot("cost-findings")

    row.get_by_role("link", name="Rate deviation").click()
    expect(page.locator("#cost-expected")).to_contain_text("45")
    expect(page.locator("#cost-billed")).to_contain_text("52")
    screenshot("cost-finding")
    page.get_by_role("button", name="Open billing case").click()

    page.wait_for_url(re.compile(r"/incidents/[^/]+/$"))
    panel = page.locator("#incident-billing-case")
    expect(panel.get_by_role("heading", name="Billing case")).to_be_visible()
    expect(panel.locator('[data-figure="disputed"]')).to_contain_text("MXN 21,000.00")
    expect(panel).to_contain_text("Adquirente MX")

    page.goto(f"{live_server.url}/costs/matrix/")
    cell = page.locator(f"#cell-adquirente-mx-MXN-{month:%Y-%m}")
    expect(cell).to_contain_text("+7.00")
    screenshot("cost-matrix")
