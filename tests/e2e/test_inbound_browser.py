"""A partner's reply carrying script payloads, shown in the triage inbox in real Chromium: the
page shows its text and none of its code runs."""

from email.message import EmailMessage

import pytest
from playwright.sync_api import expect

from cases.correspondence.inbound.store import inbound_receive
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOSTILE_HTML = (
    "<p>Recibido, <b>folio 4821</b>.</p>"
    "<script>window.__pwned=1</script>"
    '<img src=x onerror="window.__pwned=2">'
    '<a href="javascript:window.__pwned=3">ver detalle</a>'
    '<svg onload="window.__pwned=4"></svg>'
    '<iframe srcdoc="&lt;script&gt;parent.__pwned=5&lt;/script&gt;"></iframe>'
)


EVERY_IMAGE_AND_FRAME_DONE = """() =>
    document.readyState === "complete"
    && [...document.images].every(image => image.complete)
    && [...document.querySelectorAll("iframe, frame")].every(
        frame => !frame.contentDocument || frame.contentDocument.readyState === "complete"
    )"""


def hostile_reply() -> bytes:
    message = EmailMessage()
    message["From"] = "Operaciones BBVA <ops@bbva.test>"
    message["To"] = "payhealth@localhost"
    message["Subject"] = "Consulta sobre rechazos"
    message["Message-ID"] = "<hostile.1@bbva.test>"
    message.set_content("Recibido, folio 4821.")
    message.add_alternative(HOSTILE_HTML, subtype="html")
    return message.as_bytes()


def test_hostile_reply_is_shown_inert_in_the_triage_inbox(page, live_server, login, screenshot):
    UserFactory(username="pablo", first_name="Pablo", role="partner_manager")
    reply = inbound_receive(raw=hostile_reply(), source="test").correspondence
    assert "<script>" in reply.body_html  # stored as received; sanitised when shown

    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login("pablo")
    page.goto(f"{live_server.url}/inbound/triage/")
    article = page.locator(f"#reply-{reply.pk}")
    expect(article.locator(".reply-html")).to_contain_text("Recibido, folio 4821.")
    detail = article.locator(".reply-html a", has_text="ver detalle")  # no href left: not even a "link" role
    expect(detail).to_be_visible()
    # The load event comes after every image and frame of the page has loaded or failed, and so
    # after their onload/onerror handlers ran; then every image reports it is done, and so does
    # the document of every frame: any handler that slipped through has had its event.
    page.wait_for_load_state("load")
    page.wait_for_function(EVERY_IMAGE_AND_FRAME_DONE)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert article.locator("script, img, svg, iframe, [onerror], [onload]").count() == 0
    scripts = page.evaluate("[...document.scripts].map(s => s.src || s.textContent)")
    assert not any("__pwned" in script for script in scripts)
    assert detail.get_attribute("href") is None
    assert errors == []
    screenshot("triage-inbox")

    detail.click()  # an anchor without href goes nowhere
    assert page.evaluate("typeof window.__pwned") == "undefined"
