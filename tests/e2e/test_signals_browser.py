"""Calm signals in a real browser, at a laptop's and a phone's size, in English and Spanish: the
at-risk list by severity and lateness, the navigation's badges, the approvals as compact rows and
the overview's dashboard; every page fits the screen and passes axe-core.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases import timeline
from cases.models import Correspondence, Incident
from cases.timeline.events import NoticeSubmitted
from tests.e2e.a11y import DESKTOP, PHONE, assert_accessible, assert_page_fits
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

H, M = timedelta(hours=1), timedelta(minutes=1)
TEXT = {
    "en": {
        "at_risk": "SLA at risk",
        "overdue": "overdue by 3 d 23 h",
        "approvals": "Approvals",
        "waiting": "waiting 2 h",
        "overview": "Overview",
        "trends": "The last 12 weeks",
        "need_you": "4 items need you",
    },
    "es": {
        "at_risk": "SLA en riesgo",
        "overdue": "excedido por 3 d 23 h",
        "approvals": "Aprobaciones",
        "waiting": "en espera desde hace 2 h",
        "overview": "Resumen",
        "trends": "Las últimas 12 semanas",
        "need_you": "4 elementos requieren su atención",
    },
}


@pytest.fixture
def desk():
    from partners.models import BusinessCalendar

    always = BusinessCalendar.objects.get(code="24x7")
    now = timezone.now()
    lucia = UserFactory(username="lucia", first_name="Lucía", last_name="Ortega", role="lead")
    ana = UserFactory(username="ana", first_name="Ana", last_name="Ruiz", role="analyst")
    minor = IncidentFactory(title="Terminal reprint failures", severity="sev4", owner=lucia, status="investigating")
    critical = IncidentFactory(title="Visa debit declines 05", severity="sev1", owner=ana, status="investigating")
    visa = PartnerEngagementFactory(incident=critical, partner=PartnerFactory(name="Visa", code="visa"))
    prosa = PartnerEngagementFactory(incident=critical, partner=PartnerFactory(name="Prosa", code="prosa"))

    def clock(incident, metric, due, engagement=None):
        return SlaClockFactory(
            incident=incident, engagement=engagement, metric=metric, calendar=always, target=4 * H, due_at=due
        )

    clocks = {
        "week_old": clock(minor, "update", now - 7 * 24 * H),
        "sev1_71": clock(critical, "acknowledge", now - 71 * H),
        "sev1_95": clock(critical, "resolve", now - 95 * H),
        "sev1_79": clock(critical, "acknowledge", now - 79 * H, engagement=visa),
    }
    notices = []
    for engagement, ago, language in ((visa, 2 * H + 5 * M, "en"), (prosa, 40 * M, "es")):
        row = Correspondence.objects.create(
            incident=critical,
            engagement=engagement,
            direction="out",
            status="pending_approval",
            peak_severity="sev1",
            kind="breakage",
            language=language,
            subject=f"[{critical.reference}] Declines on Visa debit — {engagement.partner.name}",
            body_text="We see a drop in approvals on Visa debit since 09:40.\n" * 12,
            message_id=f"<{engagement.partner.code}.1@payhealth.test>",
            created_by=ana,
        )
        payload = NoticeSubmitted(correspondence=row.pk, partner=engagement.partner.name, language=language)
        timeline.record(payload, incident=critical, actor=ana, at=now - ago)
        notices.append(row)
    # A resolved incident of last week, for the trends.
    resolved = IncidentFactory(title="Amex timeouts", severity="sev2", status="resolved", owner=ana)
    Incident.objects.filter(pk=resolved.pk).update(created_at=now - 8 * 24 * H, resolved_at=now - 8 * 24 * H + 3 * H)
    return {"clocks": clocks, "notices": notices, "critical": critical}


def log_in(tab, live_server, username: str) -> None:
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")


MAIN_OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll("main *")]
        .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest(".table-scroll"))
        .slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className);
}"""


def check(tab) -> None:
    """The page's own content first (what these pages are responsible for), then the whole page."""
    assert tab.evaluate(MAIN_OVERFLOW) == [], f"{tab.url}: content wider than the screen"
    assert_accessible(tab)
    assert_page_fits(tab)


@pytest.mark.parametrize(
    ("size", "locale"),
    [(DESKTOP, "en-US"), (PHONE, "en-US"), (DESKTOP, "es-MX"), (PHONE, "es-MX")],
    ids=["desktop-en", "phone-en", "desktop-es", "phone-es"],
)
def test_signals_at_every_size_and_language(sized_page, live_server, desk, screenshot_dir, size, locale):
    text = TEXT[locale[:2]]
    tab = sized_page(**size, locale=locale)
    log_in(tab, live_server, "lucia")
    nav = tab.get_by_role("navigation", name=re.compile("Main|Principal"))

    # The badges: her own overdue SEV4 clock and the three overdue SEV1 clocks; two notices waiting.
    expect(tab.locator("#nav-overdue .nav-count")).to_have_text("4")
    expect(tab.locator("#nav-overdue .visually-hidden")).to_have_text(text["need_you"])
    expect(tab.locator("#nav-approvals .nav-count")).to_have_text("2")

    # At risk: SEV1 first, the most overdue first; the week-old SEV4 last.
    tab.goto(f"{live_server.url}/sla/at-risk/")
    expect(tab.get_by_role("heading", name=text["at_risk"])).to_be_visible()
    rows = tab.locator(".at-risk-rows > li")
    clocks = desk["clocks"]
    expect(rows).to_have_count(4)
    for index, name in enumerate(("sev1_95", "sev1_79", "sev1_71", "week_old")):
        expect(rows.nth(index)).to_have_attribute("id", f"at-risk-{clocks[name].pk}")
    expect(rows.nth(0)).to_contain_text(text["overdue"])
    expect(rows.nth(0)).to_contain_text(desk["critical"].reference)
    check(tab)
    expect(tab.locator("#nav-overdue .nav-count")).to_have_text("4")  # the badge on every page
    if size == DESKTOP and locale == "en-US":
        screenshot_dir(tab, "sla-at-risk")

    # Approvals: compact rows, the full text folded away, the actions at hand.
    tab.goto(f"{live_server.url}/notices/approvals/")
    expect(tab.get_by_role("heading", name=text["approvals"], exact=True)).to_be_visible()
    approvals = tab.locator(".approval-rows > li")
    expect(approvals).to_have_count(2)
    first = approvals.nth(0)
    expect(first).to_have_attribute("id", f"pending-{desk['notices'][0].pk}")  # waiting longest
    expect(first).to_contain_text(text["waiting"])
    expect(first.locator("details")).not_to_have_attribute("open", re.compile(".*"))
    expect(first.locator(".notice-body")).to_be_hidden()
    expect(first.locator("button.primary")).to_be_visible()
    first.locator("summary").click()
    expect(first.locator(".notice-body")).to_be_visible()
    height = tab.evaluate("() => document.documentElement.scrollHeight")
    assert height < 2600, f"the approvals page is {height} px tall"
    check(tab)

    # The overview: linked tiles and the trend charts.
    tab.goto(f"{live_server.url}/overview/")
    expect(tab.get_by_role("heading", name=text["overview"], exact=True)).to_be_visible()
    expect(tab.get_by_role("heading", name=text["trends"])).to_be_visible()
    expect(tab.locator("svg#trend-volume")).to_be_visible()
    expect(tab.locator("svg#trend-attainment title").first).to_have_count(1)
    expect(tab.locator("#tile-sev1 .figure")).to_have_text("1")
    check(tab)
    expect(tab.locator("#nav-approvals .nav-count")).to_have_text("2")
    if size == DESKTOP and locale == "en-US":
        screenshot_dir(tab, "overview-dashboard-en")
    tab.locator("#tile-sev1").click()
    expect(tab).to_have_url(re.compile(r"/\?status=open&severity=sev1$"))
    expect(tab.get_by_text("Visa debit declines 05")).to_be_visible()
    if size == PHONE:  # on a phone the navigation is behind the menu button
        expect(nav).to_be_hidden()
        tab.locator(".nav-toggle").click()
    expect(nav).to_be_visible()


@pytest.fixture
def screenshot_dir():
    """Screenshots of a sized tab, where the `screenshot` fixture keeps the others."""
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(tab, name: str) -> None:
        tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
