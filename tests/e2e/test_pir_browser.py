"""A lead opens the Prosa outage's post-incident report in a real browser, switches it to Spanish
and sees the PDF link follow the language."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.cases.pir.scenario import PROSA_FOLIO, build_report_desk
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_lead_reads_the_report_in_spanish(page, live_server, login, screenshot):
    report_desk = build_report_desk(UserFactory(username="lucia", role="lead"))
    reference = report_desk.desk.incident.reference
    login("lucia")
    page.goto(f"{live_server.url}/incidents/{reference}/")
    page.locator("#incident-report-link").click()
    expect(page.locator("#pir h2#pir-summary")).to_have_text("Summary")

    page.select_option("#pir-lang", "es")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(f"**/incidents/{reference}/report/?lang=es")
    report = page.locator("#pir")
    expect(report.locator("h2#pir-summary")).to_have_text("Resumen")
    expect(report.locator("h2#pir-partners")).to_have_text("Respuestas de los socios")
    expect(report.locator(".pir-partners")).to_contain_text(PROSA_FOLIO)
    expect(report.locator(".pir-facts")).to_contain_text("sábado 10/08/2019, 10:47 h")
    expect(report.locator(".pir-duration")).to_have_text("7 h 30 min")
    expect(page.locator("#pir-pdf")).to_have_attribute("href", f"/incidents/{reference}/report/pdf/?lang=es")
    screenshot("pir-es")
