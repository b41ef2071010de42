"""The detector's pages in a real browser: an analyst suppresses a finding from the queue (htmx
answers the row in place), a lead gives a merchant settings of its own on the Monitors page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from monitoring.models import DetectorRun, FindingKind, FindingState, MonitorSettings, SegmentState
from tests.factories import MerchantFactory, UserFactory
from tests.monitoring.findings_support import make_finding, make_monitor, merchant_segment, slice_segment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _desk() -> dict:
    cine = MerchantFactory(account_id="acct_CINEPOLIS01", name="Cinépolis")
    tienda = MerchantFactory(account_id="acct_LIVERPOOL01", name="Liverpool")
    farmacia = MerchantFactory(account_id="acct_FARMACIA001", name="Farmacias del Ahorro")
    prosa = make_finding(
        slice_segment(cine, bin_prefix="415231"),
        baseline_rate=Decimal("0.931200"),
        observed_rate=Decimal("0.702400"),
        attempts=4810,
        approvals=3379,
        excess_declines=1101,
    )
    spike = make_finding(
        slice_segment(tienda, network="mastercard", bin_prefix="542418"),
        kind=FindingKind.DECLINE_CODE_SPIKE,
        decline_code="05",
        state=FindingState.ALERTED,
        baseline_rate=Decimal("0.912000"),
        observed_rate=Decimal("0.861000"),
        attempts=2204,
        approvals=1898,
        excess_declines=112,
    )
    make_finding(slice_segment(farmacia), state=FindingState.WATCH, q_value=0.004)
    for segment, state in (
        (prosa.segment, SegmentState.ALERT),
        (spike.segment, SegmentState.ALERT),
        (merchant_segment(cine), SegmentState.OK),
        (merchant_segment(tienda), SegmentState.OK),
        (merchant_segment(farmacia), SegmentState.WATCH),
        (slice_segment(farmacia, bin_prefix="400012"), SegmentState.LOW_VOLUME),
    ):
        make_monitor(segment, state)
    now = timezone.now()
    DetectorRun.objects.create(
        started_at=now - timedelta(minutes=3),
        finished_at=now - timedelta(minutes=2),
        watermark=now - timedelta(minutes=4),
        segments=6,
        buckets=6,
        tests=12,
        rejected=2,
        findings_opened=1,
        findings_updated=2,
    )
    return {"prosa": prosa, "spike": spike, "tienda": tienda}


def test_analyst_suppresses_a_finding_from_the_queue(page, live_server, login, screenshot):
    desk = _desk()
    UserFactory(username="ana", role="analyst", first_name="Ana", last_name="Ruiz")
    login("ana")

    page.locator("header").get_by_role("button", name="Monitoring", exact=True).click()  # the nav's menu
    page.get_by_role("link", name="Detector findings", exact=True).click()
    expect(page.get_by_role("heading", name="Detector findings", level=1)).to_be_visible()
    row = page.locator(f"#finding-{desk['prosa'].pk}")
    expect(row).to_contain_text("93.12 % → 70.24 %")
    expect(row).to_contain_text("22.88 pp")
    screenshot("findings-queue")

    row.locator("summary", has_text="Suppress").click()
    until = timezone.localtime(timezone.now() + timedelta(hours=6), timezone.get_default_timezone())
    row.get_by_label("Suppress until (your time zone)").fill(until.strftime("%Y-%m-%dT%H:%M"))
    row.get_by_label("Reason").fill("Prosa switch maintenance")
    row.get_by_role("button", name="Suppress").click()

    expect(page.locator(f"#finding-{desk['prosa'].pk}")).to_contain_text("Suppressed by Ana Ruiz")
    desk["prosa"].refresh_from_db()
    assert desk["prosa"].state == FindingState.SUPPRESSED
    assert desk["prosa"].suppressions.get().reason == "Prosa switch maintenance"

    page.get_by_role("link", name="Recent").click()
    expect(page.locator(f"#finding-{desk['prosa'].pk}")).to_be_visible()


def test_lead_edits_a_merchants_settings(page, live_server, login, screenshot, browser_problems):
    browser_problems.expect("status of 400")  # the refused form, on purpose
    desk = _desk()
    UserFactory(username="lucia", role="lead", first_name="Lucía")
    login("lucia")

    page.locator("header").get_by_role("button", name="Monitoring", exact=True).click()  # the nav's menu
    page.get_by_role("link", name="Monitors", exact=True).click()
    expect(page.get_by_role("heading", name="Monitors", level=1)).to_be_visible()
    expect(page.locator(".monitor-run")).to_contain_text("12 tests, 2 rejected")
    expect(page.locator(".monitor-states")).to_contain_text("Too little volume")

    page.locator("#override-merchant").select_option(desk["tienda"].account_id)
    page.get_by_role("button", name="Edit its settings").click()
    expect(page.get_by_role("heading", name="Detector settings for Liverpool")).to_be_visible()
    expect(page.get_by_label("Minimum attempts per bucket")).to_have_attribute("placeholder", "100")
    page.get_by_label("Minimum attempts per bucket").fill("40")
    page.get_by_label("Q-value for an alert").fill("0.5")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".errorlist")).to_contain_text("at most the q-value for a watch")

    page.get_by_label("Q-value for an alert").fill("")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#overrides")).to_contain_text("Liverpool")
    expect(page.locator("#overrides")).to_contain_text("minimum attempts per bucket: 40")
    row = MonitorSettings.objects.get(merchant=desk["tienda"])
    assert (row.min_bucket_attempts, row.alert_q) == (40, None)
    screenshot("monitors")
