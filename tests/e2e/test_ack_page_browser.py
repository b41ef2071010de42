"""A partner acknowledges a notice through its signed link in real Chromium, in its own language
(BBVA México in Spanish, Visa in English): the public page, no login, the folio given, the
answer on the desk's thread."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from cases.correspondence.acklinks import ack_token
from cases.correspondence.compose import notice_compose
from cases.models import Correspondence, PartnerEngagement
from tests.factories import UserFactory
from tests.prosa import prosa_desk

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CASES = {
    "es": ("bbva", "Dar acuse de recibo y enviar", "Gracias: su respuesta", "Su folio", "English"),
    "en": ("visa", "Acknowledge and send", "Thank you: your answer", "Your folio", "Español"),
}


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_partner_acknowledges_with_a_folio_through_the_link(page, live_server, screenshot, language):
    partner_attr, submit, thanks, folio_label, switch = CASES[language]
    lead = UserFactory(username="lucia", role="lead")
    desk = prosa_desk(owner=lead)
    partner = getattr(desk, partner_attr)
    [notice] = notice_compose(incident=desk.incident, actor=lead, kind="breakage", partners=[partner]).drafts
    Correspondence.objects.filter(pk=notice.pk).update(status="sent", sent_at=timezone.now())
    url = live_server.url + reverse("cases:ack_page", args=[desk.incident.reference, ack_token(notice.ack_link)])

    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_contain_text(desk.incident.reference)
    expect(page.locator("#ack-partner")).to_have_text(partner.name)
    page.get_by_label(folio_label).fill(f"{partner.code.upper()}-20190810-0042")
    eta = timezone.now().astimezone(ZoneInfo(partner.timezone)) + timedelta(hours=6)
    page.locator("#id_eta").fill(eta.strftime("%Y-%m-%dT%H:%M"))
    page.locator("#id_update").fill("Host estable." if language == "es" else "Our host is stable.")
    screenshot(f"ack-page-{language}")
    page.get_by_role("button", name=submit).click()

    expect(page.locator(".messages")).to_contain_text(thanks)
    expect(page.locator("#ack-folio")).to_have_text(f"{partner.code.upper()}-20190810-0042")
    expect(page.locator("#ack-acknowledged")).not_to_have_text("—")
    engagement = PartnerEngagement.objects.get(incident=desk.incident, partner=partner)
    assert engagement.folio == f"{partner.code.upper()}-20190810-0042"
    assert engagement.acknowledged_at is not None and engagement.eta is not None
    reply = Correspondence.objects.get(engagement=engagement, direction="in")
    assert (reply.channel, reply.language) == ("portal", language)

    page.get_by_role("link", name=switch).click()
    expect(page.locator("html")).not_to_have_attribute("lang", language)
