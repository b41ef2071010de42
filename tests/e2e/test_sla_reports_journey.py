"""A lead reads the SLA reports in a real browser: opens them from the navigation, narrows the date
range (htmx swaps the results and the address bar follows), reads the charts and downloads the
breach list as CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.cases.sla.report_data import build_report_desk
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_lead_reads_the_sla_reports_and_downloads_the_breaches(page, live_server, login, screenshot):
    desk = build_report_desk()
    UserFactory(username="lucia", role="lead", first_name="Lucía")
    login("lucia")

    page.locator("header").get_by_role("button", name="Reports", exact=True).click()  # the nav's menu
    page.get_by_role("link", name="SLA reports").click()
    expect(page.get_by_role("heading", name="SLA reports", level=1)).to_be_visible()

    page.fill("#id_start", "2026-10-01")
    page.fill("#id_end", "2026-11-30")
    page.get_by_role("button", name="Show").click()

    page.wait_for_url(re.compile(r"/sla/reports/\?start=2026-10-01&end=2026-11-30"))
    chart = page.locator("svg#chart-attainment-month")
    expect(chart).to_be_visible()
    expect(chart.locator("text", has_text="October 2026")).to_have_count(1)
    expect(chart).to_contain_text("November 2026")
    expect(page.locator("#breaches")).to_contain_text("6 breached clocks")
    expect(page.locator("#breaches")).to_contain_text("Over target when the clock stopped.")
    expect(page.locator("#scorecard")).to_contain_text("Visa MX")
    screenshot("sla-report")

    with page.expect_download() as download_info:
        page.locator("#breaches").get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename == "sla-breaches-2026-10-01-2026-11-30.csv"
    content = Path(download.path()).read_text(encoding="utf-8")
    assert content.startswith("\ufeffIncident,Title,Severity,Owner,Metric,")
    assert len(content.strip().splitlines()) == 1 + 6
    assert desk["incidents"][3].reference in content
