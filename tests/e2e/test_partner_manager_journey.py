"""The partner manager's notices in a real browser, delivered by a real Celery worker into a real
SMTP server: a breakage notice to a Spanish-speaking bank and an English-speaking
network, previewed side by side and sent; a SEV1 notice approved by a lead, then sent.

The worker consumes a queue of its own (routes set in this process, which the live server's
thread publishes from), so a development worker on the same broker never takes these tasks.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from cases.models import Correspondence
from payhealth.celery import app
from tests.cases.correspondence.data import notice_desk
from tests.factories import UserFactory
from tests.support import (
    celery_routes,
    database_url_for_workers,
    delete_queue,
    scripted_smtp_server,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
    worker_is_ready,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOTICE_TASKS = ["cases.deliver_correspondence_task", "cases.requeue_stuck_correspondence_task"]
PASSWORD = "secret-pass-123"


@pytest.fixture(scope="module")
def smtp_server():
    with scripted_smtp_server() as (port, handler):
        yield port, handler


@pytest.fixture(scope="module")
def notice_worker(django_db_setup, django_db_blocker, smtp_server, tmp_path_factory):
    queue = f"notices-e2e-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with django_db_blocker.unblock():
        database_url = database_url_for_workers()
    env = subprocess_env(DATABASE_URL=database_url, EMAIL_URL=f"smtp://127.0.0.1:{smtp_server[0]}?timeout=10")
    process = start_celery_worker(queue=queue, log_path=log, env=env)
    try:
        wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker to start")
        assert process.poll() is None, log.read_text(errors="replace")
        with celery_routes(app, NOTICE_TASKS, queue):
            yield log
    finally:
        stop_celery_worker(process)
        delete_queue(app, queue)


@pytest.fixture
def mailbox(smtp_server):
    handler = smtp_server[1]
    handler.reset()
    yield handler
    handler.reset()


def desk_for(severity: str):
    """BBVA México with a Spanish contact, Visa with an English one, both engaged."""
    manager = UserFactory(username="pablo", first_name="Pablo", last_name="Núñez", role="partner_manager")
    desk = notice_desk(owner=manager, severity=severity)
    desk.bbva_intl.active = False  # one contact per partner: one Spanish and one English message
    desk.bbva_intl.save(update_fields=["active"])
    return desk


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


def compose_for_all_partners(page, live_server, desk) -> None:
    page.goto(f"{live_server.url}/incidents/{desk.incident.reference}/")
    notices = page.locator("#incident-notices")
    notices.get_by_role("link", name="Notify partners").click()
    expect(page.locator("h1")).to_have_text("Notify partners")
    page.get_by_label("Kind of notice").select_option("breakage")
    page.get_by_label("All engaged partners").check()
    page.get_by_role("button", name="Draft the notices").click()
    expect(page.locator("h1")).to_have_text("Review the notices")


def wait_for_mail(mailbox, count: int, worker_log) -> list:
    try:
        wait_for(lambda: len(mailbox.accepted) >= count, timeout=45, what=f"{count} messages in the SMTP server")
    except AssertionError:
        raise AssertionError(worker_log.read_text(errors="replace")[-4000:]) from None
    return list(mailbox.accepted)


def assert_delivered_in_both_languages(messages, desk) -> None:
    token = f"[{desk.incident.reference}]"
    by_recipient = {str(message["To"]): message for message in messages}
    assert set(by_recipient) == {"operacion@bbva.test", "support@visa.test"}
    spanish, english = by_recipient["operacion@bbva.test"], by_recipient["support@visa.test"]
    assert (spanish["Content-Language"], english["Content-Language"]) == ("es-MX", "en")
    assert all(token in str(message["Subject"]) for message in messages)
    assert "Aviso de falla" in str(spanish["Subject"]) and "acuse de recibo" in spanish.get_content()
    assert "please confirm receipt" in str(english["Subject"])


def test_a_breakage_notice_reaches_a_spanish_bank_and_an_english_network(
    page, live_server, screenshot, notice_worker, mailbox
):
    desk = desk_for("sev3")
    log_in(page, live_server, "pablo")
    compose_for_all_partners(page, live_server, desk)

    # One Spanish and one English message, side by side.
    previews = page.locator(".notice-previews .notice-message")
    expect(previews).to_have_count(2)
    spanish, english = page.locator('.notice-message[lang="es"]'), page.locator('.notice-message[lang="en"]')
    expect(spanish).to_contain_text("BBVA México")
    expect(spanish).to_contain_text("Aviso de falla")
    expect(spanish).to_contain_text("operacion@bbva.test")
    expect(english).to_contain_text("Visa")
    expect(english).to_contain_text("please confirm receipt")
    left, right = sorted((spanish.bounding_box(), english.bounding_box()), key=lambda box: box["x"])
    assert abs(left["y"] - right["y"]) < 5 and right["x"] >= left["x"] + left["width"]
    screenshot("compose-en")

    page.get_by_role("button", name="Send 2 notices").click()
    expect(page).to_have_url(re.compile(rf"/incidents/{desk.incident.reference}/"))
    section = page.locator("#incident-notices")
    expect(section).to_contain_text("BBVA México")

    messages = wait_for_mail(mailbox, 2, notice_worker)
    assert_delivered_in_both_languages(messages, desk)
    # The section polls while the notices are on their way, then shows them sent and stops.
    expect(section.locator(".notice-status.status-sent")).to_have_count(2, timeout=20_000)
    expect(section).not_to_have_attribute("hx-trigger", "every 5s", timeout=10_000)
    assert set(Correspondence.objects.values_list("status", flat=True)) == {Correspondence.Status.SENT}

    page.select_option("#language-select", "es")
    page.wait_for_load_state("load")
    expect(page.locator("#incident-notices .notice-status.status-sent")).to_have_count(2)
    page.locator("#incident-notices").scroll_into_view_if_needed()
    screenshot("incident-notices-es")


def test_a_sev1_notice_is_approved_by_a_lead_then_sent(browser, page, live_server, notice_worker, mailbox):
    desk = desk_for("sev1")
    UserFactory(username="lucia", first_name="Lucía", last_name="Pérez", role="lead")
    log_in(page, live_server, "pablo")
    compose_for_all_partners(page, live_server, desk)
    expect(page.locator(".notice-previews .notice-message")).to_have_count(2)
    page.get_by_role("button", name="Submit for approval").click()
    section = page.locator("#incident-notices")
    expect(section.locator(".notice-status.status-pending_approval")).to_have_count(2)
    assert mailbox.accepted == []

    lead_context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        lead = lead_context.new_page()
        lead.set_default_timeout(15_000)
        log_in(lead, live_server, "lucia")
        lead.locator("nav.mainnav").get_by_role("link", name="Approvals").click()
        expect(lead.locator("h1")).to_have_text("Approvals")
        pending = lead.locator(".approval-rows > li")
        expect(pending).to_have_count(2)
        for remaining in (1, 0):
            first = pending.first
            first.get_by_label("Comment").fill("Revisado.")
            first.get_by_role("button", name="Approve and send").click()
            expect(pending).to_have_count(remaining)
        expect(lead.locator(".card.muted")).to_have_text("No notice is waiting for approval.")
    finally:
        lead_context.close()

    messages = wait_for_mail(mailbox, 2, notice_worker)
    assert_delivered_in_both_languages(messages, desk)
    page.reload()
    expect(page.locator("#incident-notices .notice-status.status-sent")).to_have_count(2, timeout=20_000)
    assert all(row.approved_by.username == "lucia" for row in Correspondence.objects.select_related("approved_by"))


def test_the_template_editor_previews_live_and_refuses_a_bad_template(page, live_server):
    desk = desk_for("sev3")
    log_in(page, live_server, "pablo")
    page.goto(f"{live_server.url}/notices/templates/")
    page.get_by_role("link", name="version 1").nth(1).click()  # breakage, Spanish
    expect(page.locator("h1")).to_contain_text("Spanish")
    preview = page.locator("#notice-preview")
    expect(preview).to_contain_text("Sample Bank")  # the sample data, loaded with the page
    page.get_by_label("Preview for").select_option(label=f"{desk.incident.reference} · BBVA México")
    expect(preview).to_contain_text("Estimado equipo de BBVA México")
    page.get_by_label("Body").fill("Hola {{ partner.name }}.\n\nClave: {{ settings.SECRET_KEY }}\n")
    expect(preview).to_contain_text("Line 3:")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".errorlist")).to_contain_text("unknown variable")
    page.get_by_label("Body").fill("Hola {{ partner.name }}, folio {{ folio }}.\n")
    expect(preview).to_contain_text("Hola BBVA México, folio MX-7781.")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#toasts")).to_contain_text("version 2 is now in use")
