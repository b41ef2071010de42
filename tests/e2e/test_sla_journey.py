"""A lead watches SLAs in a real browser: the queue's badge updating by itself, the
incident's SLA section with a paused clock's reason and history, and the at-risk list.

Clocks are written directly (tests.factories), so the journey shows exactly the states it names;
the poll interval is shortened with PAYHEALTH_SLA_POLL_SECONDS.
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from cases.models import SlaClock
from tests.factories import (
    IncidentFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    SlaClockEventFactory,
    SlaClockFactory,
    UserFactory,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture
def desk():
    from django.utils import timezone

    from partners.models import BusinessCalendar

    always = BusinessCalendar.objects.get(code="24x7")
    lucia = UserFactory(username="lucia", first_name="Lucía", last_name="Ortega", role="lead")
    now = timezone.now()
    switch = IncidentFactory(title="Visa switch timeouts", severity="sev1", status="investigating", owner=lucia)
    resolve_switch = SlaClockFactory(
        incident=switch, metric="resolve", calendar=always, target=4 * H, due_at=now + 12 * M + 30 * (M / 60)
    )
    SlaClockEventFactory(clock=resolve_switch, kind="start", at=now - 3 * H - 47 * M, actor=lucia)

    waiting = IncidentFactory(title="Prosa declines 05", severity="sev3", status="waiting_on_partner", owner=lucia)
    prosa = PartnerEngagementFactory(incident=waiting, partner=PartnerFactory(name="Prosa", code="prosa"))
    resolve = SlaClockFactory(
        incident=waiting,
        metric="resolve",
        state="paused",
        target=45 * H,
        consumed=6 * H + 30 * M,
        due_at=None,
        warn_due_at=None,
        pause_reason="Prosa is replaying the HSM batch",
    )
    SlaClockEventFactory(clock=resolve, kind="start", at=now - 2 * H, actor=lucia)
    SlaClockEventFactory(
        clock=resolve, kind="pause", at=now - H, actor=lucia, reason="Prosa is replaying the HSM batch"
    )
    partner_ack = SlaClockFactory(
        incident=waiting, engagement=prosa, metric="acknowledge", calendar=always, target=H, due_at=now - 5 * M
    )
    SlaClockEventFactory(clock=partner_ack, kind="start", at=now - H - 5 * M)
    return {"switch": switch, "switch_clock": resolve_switch, "waiting": waiting}


# Records the URL of every response htmx swapped into the incident page's SLA section, once the
# swap has settled (htmx fires htmx:afterSettle on the new section).
SWAPS_OF_THE_SLA_SECTION = """() => {
    window.slaSectionSwaps = [];
    document.body.addEventListener("htmx:afterSettle", event => {
        if (event.target.id === "incident-sla") window.slaSectionSwaps.push(event.detail.xhr.responseURL);
    });
}"""


def test_lead_watches_slas(page, live_server, login, screenshot, desk, settings):
    from django.utils import timezone

    settings.PAYHEALTH_SLA_POLL_SECONDS = 2
    switch, waiting = desk["switch"], desk["waiting"]
    login("lucia")

    # The queue: the most urgent clock of each incident, then the badge follows the clock by itself.
    page.goto(f"{live_server.url}/incidents/")
    badge = page.locator(f"#sla-badge-{switch.pk}")
    expect(badge).to_contain_text("Resolve")
    expect(badge).to_contain_text(re.compile(r"1[12] min left"))
    expect(page.locator(f"#sla-badge-{waiting.pk}")).to_contain_text("Prosa · Acknowledge")
    expect(page.locator(f"#sla-badge-{waiting.pk}")).to_contain_text("overdue by 5 min")
    screenshot("sla-queue")
    SlaClock.objects.filter(pk=desk["switch_clock"].pk).update(due_at=timezone.now() - 7 * M - 10 * (M / 60))
    expect(badge).to_contain_text("overdue by 7 min", timeout=10_000)
    expect(badge.locator(".sla-badge")).to_have_class(re.compile(r"\bsla-overdue\b"))

    # The incident page: badges in the header, every clock, the paused one's reason and history.
    page.get_by_role("link", name=waiting.reference).click()
    page.locator("#side-sla > summary").click()  # the SLA section, folded in the side panel
    section = page.locator("#incident-sla")
    expect(section.get_by_role("heading", name="SLA")).to_be_visible()
    expect(page.locator("#incident-sla-badges")).to_contain_text("paused, 38 h 30 min business left")
    expect(section).to_contain_text("Paused: Prosa is replaying the HSM batch")
    expect(section).to_contain_text("Prosa's commitments")
    history = section.locator("details.sla-history").first
    history.locator("summary").click()
    expect(history).to_contain_text("Paused")
    expect(history).to_contain_text("by Lucía Ortega")
    # The next poll swaps the whole section; the history the lead opened stays open.
    page.evaluate(SWAPS_OF_THE_SLA_SECTION)
    with page.expect_response(
        lambda response: response.url.split("?")[0].endswith(f"/{waiting.reference}/sla/")
    ) as poll:
        pass
    assert "open=" in poll.value.url
    # htmx has swapped in and settled the section this very response carried
    page.wait_for_function("url => window.slaSectionSwaps.includes(url)", arg=poll.value.url)
    expect(section.locator("details.sla-history").first).to_have_attribute("open", "")
    screenshot("sla-incident")

    # The at-risk list from the navigation: by severity, overdue first, the paused clock apart.
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("at risk"))
    expect(nav.locator(".nav-count")).to_have_text("2")
    nav.click()
    expect(page.get_by_role("heading", name="SLA at risk")).to_be_visible()
    rows = page.locator(".at-risk-rows > li")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(switch.reference)  # due 7 min ago, Prosa's 5 min ago
    expect(rows.nth(0)).to_contain_text("overdue by 7 min")
    expect(rows.nth(1)).to_contain_text(waiting.reference)
    expect(page.locator(".at-risk-paused")).to_contain_text("Prosa is replaying the HSM batch")
    page.get_by_label("Whose clock").select_option("ours")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"family=ours"))
