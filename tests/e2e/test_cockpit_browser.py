"""The incident page as a cockpit, in a real browser at desk and phone sizes, in English and
Spanish: the impact and the partners above the fold, the note box at hand, a note added through
the activity feed, the feed filtered, a merchant edited in place, no sideways scroll, no serious
accessibility problem."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cases.models import AffectedMerchant, CaseEvent, PartnerEngagement
from cases.selectors import FEED_PAGE
from cases.services import decline_counts_record, incident_open, note_add
from tests.e2e.a11y import DESKTOP, PHONE, assert_accessible, assert_page_fits
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import MerchantFactory, PartnerFactory, SlaClockFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TEXT = {
    "en": {
        "locale": "en-US",
        "activity": "Activity",
        "add_note": "Add note",
        "notes": "Notes",
        "all": "All",
        "edit": "Edit Farmacia Lupita",
        "save": "Save",
        "investigating": "Investigating",
        "overdue": "overdue by",
    },
    "es": {
        "locale": "es-MX",
        "activity": "Actividad",
        "add_note": "Agregar nota",
        "notes": "Notas",
        "all": "Todos",
        "edit": "Editar Farmacia Lupita",
        "save": "Guardar",
        "investigating": "En investigación",
        "overdue": "excedido por",
    },
}


@pytest.fixture
def desk():
    ana = UserFactory(username="ana", first_name="Ana", last_name="Ruiz", role="analyst")
    prosa = PartnerFactory(name="Prosa", code="prosa", kind="switch")
    visa = PartnerFactory(name="Visa", code="visa", kind="network")
    incident = incident_open(
        actor=ana,
        title="Rechazos 05 en débito vía Prosa",
        summary="Los rechazos con código 05 subieron en comercios de viajes.",
        category="auth_rate",
        severity="sev2",
        decline_codes=["05", "91"],
        partners=[prosa, visa],
    )
    AffectedMerchant.objects.create(
        incident=incident,
        merchant=MerchantFactory(name="Farmacia Lupita", account_id="acct_1Nv0FGQ9RKHgCVdK"),
        baseline_rate=Decimal("0.9500"),
        observed_rate=Decimal("0.8000"),
        attempts=1000,
        failed_attempts=200,
        volume_at_risk=Decimal("150000.50"),
        currency="MXN",
    )
    decline_counts_record(
        incident=incident,
        actor=ana,
        counts=[{"code": "05", "count_before": 100, "count_during": 900}, {"code": "91", "count_during": 300}],
    )
    engagement = incident.engagements.get(partner=prosa)
    PartnerEngagement.objects.filter(pk=engagement.pk).update(partner_status="investigating", folio="F-48213")
    SlaClockFactory(
        incident=incident,
        engagement=engagement,
        started_at=timezone.now() - timedelta(hours=2),
        due_at=timezone.now() - timedelta(minutes=20),
    )
    for index in range(6):
        note_add(incident=incident, actor=ana, body=f"Seguimiento {index} con **Prosa**")
    return incident


def sign_in(tab, live_server):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("#id_username", "ana")
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live_server.url}/")


def bottom(locator) -> float:
    box = locator.bounding_box()
    assert box is not None
    return box["y"] + box["height"]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_incident_page_is_a_cockpit(sized_page, live_server, desk, language, size):
    text = TEXT[language]
    tab = sized_page(width=size["width"], height=size["height"], locale=text["locale"])
    sign_in(tab, live_server)
    tab.goto(f"{live_server.url}/incidents/{desk.reference}/")
    expect(tab.locator("h1#incident-title")).to_have_text(desk.title)
    feed = tab.locator("#incident-timeline")
    expect(feed.get_by_role("heading", name=text["activity"])).to_be_visible()
    expect(tab.locator("#incident-charts")).not_to_have_attribute("aria-busy", "true")  # the chart panel loaded

    # The payments impact and each engaged partner, above the fold at the desk.
    impact = tab.locator("#incident-impact")
    expect(impact.locator("#impact-drop")).to_contain_text("15.00 pp")
    expect(impact.locator("#impact-volume")).to_contain_text("150,000.50 MXN")
    expect(impact.locator("#impact-codes")).to_contain_text("05")
    chips = impact.locator(".partner-chip")
    expect(chips).to_have_count(2)
    prosa = chips.filter(has_text="Prosa")
    expect(prosa).to_contain_text(text["investigating"])
    expect(prosa).to_contain_text("F-48213")
    expect(prosa.locator(".sla-badge")).to_contain_text(text["overdue"])
    if size == DESKTOP:
        assert bottom(tab.locator("#incident-impact .impact-tiles")) <= size["height"]
        for index in range(chips.count()):
            assert bottom(chips.nth(index)) <= size["height"]

    # The note box: at hand, within the first viewport and a half.
    box = tab.locator("#incident-notes textarea[name=body]")
    expect(box).to_be_visible()
    assert bottom(box) <= size["height"] * 1.5
    assert_page_fits(tab)
    assert_accessible(tab)
    if size == DESKTOP:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / f"incident-{language}.png"))

    # A note through the feed's box: at the top of the feed.
    box.fill("Prosa confirma **intermitencia** en su enlace con BBVA.")
    feed.get_by_role("button", name=text["add_note"]).click()
    first = tab.locator("#incident-timeline .feed-list > li").first
    expect(first.locator(".note-body strong")).to_have_text("intermitencia")
    expect(tab.locator("#incident-notes textarea[name=body]")).to_have_value("")

    # The feed's filter: notes only, in the address for a reload or a link; back to everything.
    feed.get_by_role("link", name=re.compile(rf"^{text['notes']}\b")).click()
    expect(tab).to_have_url(re.compile(r"feed=notes"))
    expect(tab.locator("#incident-timeline .feed-list > li.event")).to_have_count(0)
    expect(tab.locator("#incident-timeline .feed-list > li.feed-note")).to_have_count(7)
    tab.locator("#incident-timeline").get_by_role("link", name=re.compile(rf"^{text['all']}\b")).click()
    expect(tab).to_have_url(re.compile(r"feed=all"))
    expect(tab.locator("#incident-timeline .feed-list > li.event").first).to_be_visible()

    # A merchant edited in place, its form within the column: no sideways scroll to reach Save.
    merchants = tab.locator("#incident-merchants")
    merchants.get_by_role("link", name=text["edit"]).click()
    row = merchants.locator("tr.editing")
    save = row.get_by_role("button", name=text["save"])
    expect(save).to_be_visible()
    save.scroll_into_view_if_needed()
    box_ = save.bounding_box()
    assert box_ is not None and box_["x"] >= 0 and box_["x"] + box_["width"] <= size["width"]
    assert_page_fits(tab)
    assert_accessible(tab)
    row.locator("[name=observed_pct]").fill("85")
    row.locator("[name=failed_attempts]").fill("150")
    save.click()
    expect(merchants.locator("tr.editing")).to_have_count(0)
    expect(merchants).to_contain_text("85")
    expect(tab.locator("#impact-drop")).to_contain_text("10.00 pp")  # the header follows, out of band
    row_saved = AffectedMerchant.objects.get(incident=desk)
    assert (str(row_saved.observed_rate), row_saved.failed_attempts) == ("0.8500", 150)


OLDER = {"en": "Show the {} older entries", "es": "Mostrar las {} entradas anteriores"}


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_long_feed_shows_its_newest_entries_and_the_older_ones_on_a_click(sized_page, live_server, desk, language):
    text = TEXT[language]
    CaseEvent.objects.bulk_create(
        CaseEvent(
            incident=desk,
            kind=CaseEvent.Kind.STATUS_CHANGED,
            created_at=timezone.now() - timedelta(days=1, minutes=index),
            data={"from": "investigating", "to": "waiting_on_partner", "reason": "Prosa"},
        )
        for index in range(70)
    )
    tab = sized_page(width=DESKTOP["width"], height=DESKTOP["height"], locale=text["locale"])
    sign_in(tab, live_server)
    tab.goto(f"{live_server.url}/incidents/{desk.reference}/")
    entries = tab.locator("#incident-timeline .feed-list > li:not(.feed-more)")
    expect(entries).to_have_count(FEED_PAGE)
    total = int(tab.locator('#incident-timeline [data-feed="all"] .feed-count').inner_text())
    assert total > 70 + 6  # the events, the notes and the opening

    tab.locator("#incident-timeline .feed-more").get_by_role(
        "link", name=OLDER[language].format(total - FEED_PAGE)
    ).click()

    expect(tab).to_have_url(re.compile(r"feed_show=all"))
    expect(entries).to_have_count(total)
    expect(tab.locator("#incident-timeline .feed-more")).to_have_count(0)
    assert_accessible(tab)
    # A note added now keeps the whole feed, the note on top.
    tab.locator("#incident-notes textarea[name=body]").fill("Prosa cerró su ventana de mantenimiento.")
    tab.locator("#incident-timeline").get_by_role("button", name=text["add_note"]).click()
    expect(entries).to_have_count(total + 1)
    expect(entries.first).to_contain_text("ventana de mantenimiento")
