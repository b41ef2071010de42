"""One mail per person for an SLA warning or breach: each with its own attempts and outcome.

A real SMTP server on loopback (scripted) refuses one recipient; the others are mailed once, the
partner's escalation stands, the refusal is recorded and shown with the event on the incident's
SLA section and in the API, and nothing is sent again by a later sweep.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.correspondence.delivery import TransientDeliveryError
from cases.models import Correspondence, SlaNotification
from cases.sla.notify import sla_event_notify, sla_mail_deliver, sla_mail_requeue_stuck
from cases.sla.sweep import sla_sweep
from tests.api.helpers import token_client
from tests.cases.sla.data import M, bbva_acknowledge_breach, notify_and_mail
from tests.support import scripted_smtp_server, smtp_settings

Status = SlaNotification.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def partner_breach(monkeypatch, settings, analyst, partner_manager, lead):
    """BBVA's acknowledge clock breached; the notice that started it went out through locmem."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    desk, breach, now = bbva_acknowledge_breach(monkeypatch, analyst=analyst, partner_manager=partner_manager)
    now.set(breach.clock.due_at + 1 * M)
    return desk, breach


@pytest.fixture
def smtp(settings, partner_breach):
    """The SMTP server the SLA mails go to (the breach's own notice went out before it)."""
    with scripted_smtp_server() as (port, handler):
        smtp_settings(settings, port)
        yield handler


def mails(event) -> dict[str, SlaNotification]:
    return {row.address: row for row in SlaNotification.objects.filter(event=event)}


def test_a_refused_recipient_fails_alone_the_others_are_mailed_once_and_the_escalation_stands(smtp, partner_breach):
    desk, breach = partner_breach
    smtp.refuse["lucia@payhealth.test"] = "550 5.1.1 <lucia@payhealth.test>: mailbox unavailable"

    assert notify_and_mail(event_id=breach.pk) == "notified"

    rows = mails(breach)
    assert {address: row.status for address, row in rows.items()} == {
        "ana@payhealth.test": Status.SENT,
        "lucia@payhealth.test": Status.FAILED,
    }
    assert rows["lucia@payhealth.test"].last_error == (
        "lucia@payhealth.test: 550 5.1.1 <lucia@payhealth.test>: mailbox unavailable"
    )
    assert [m["To"] for m in smtp.accepted] == ["ana@payhealth.test"]
    escalations = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")
    assert [(row.to_addresses, row.status) for row in escalations] == [
        (["gerencia@bbva.test"], Correspondence.Status.QUEUED)
    ]
    breach.refresh_from_db()
    assert breach.notified_at is not None

    # Later sweeps and a task delivered again mail nobody twice and escalate once.
    assert sla_event_notify(event_id=breach.pk) == "skipped"
    sla_sweep(now=timezone.now() + 30 * M)
    assert sla_mail_requeue_stuck(reconnected_at=timezone.now()) == 0
    for row in rows.values():
        assert sla_mail_deliver(notification_id=row.pk) == "skipped"
    assert len(smtp.seen) == 1
    assert escalations.count() == 1


def test_a_4xx_for_one_recipient_retries_that_mail_alone_with_backoff(smtp, partner_breach, settings):
    _desk, breach = partner_breach
    smtp.refuse["lucia@payhealth.test"] = "451 4.2.1 Mailbox busy, try again later"
    assert sla_event_notify(event_id=breach.pk) == "notified"
    rows = mails(breach)

    assert sla_mail_deliver(notification_id=rows["ana@payhealth.test"].pk) == "sent"
    with pytest.raises(TransientDeliveryError, match="451 4.2.1") as raised:
        sla_mail_deliver(notification_id=rows["lucia@payhealth.test"].pk)

    lucia = SlaNotification.objects.get(pk=rows["lucia@payhealth.test"].pk)
    first = settings.PAYHEALTH_NOTICE_RETRY_BACKOFF
    assert 0.8 * first <= raised.value.countdown <= 1.2 * first
    assert (lucia.status, lucia.attempts, lucia.next_attempt_at is not None) == (Status.PENDING, 1, True)
    assert sla_mail_deliver(notification_id=lucia.pk) == "skipped"  # a duplicate task, ahead of the retry

    smtp.refuse.clear()
    SlaNotification.objects.filter(pk=lucia.pk).update(next_attempt_at=timezone.now())  # the retry is due
    assert sla_mail_deliver(notification_id=lucia.pk) == "sent"
    lucia.refresh_from_db()
    assert (lucia.status, lucia.attempts, lucia.last_error) == (Status.SENT, 2, "")
    assert sorted(m["To"] for m in smtp.accepted) == ["ana@payhealth.test", "lucia@payhealth.test"]
    assert len({m["Message-ID"] for m in smtp.seen if m["To"] == "lucia@payhealth.test"}) == 1


def test_a_refusal_is_shown_with_its_event_on_the_incident_page_and_in_the_api(smtp, partner_breach, client, lead):
    desk, breach = partner_breach
    smtp.refuse["lucia@payhealth.test"] = "550 5.1.1 mailbox unavailable"
    notify_and_mail(event_id=breach.pk)
    reference = desk.incident.reference

    client.force_login(lead)
    html = client.get(reverse("cases:incident_sla", args=[reference])).content.decode()
    assert "Mail to lucia@payhealth.test: Failed" in html
    assert "lucia@payhealth.test: 550 5.1.1 mailbox unavailable" in html
    assert "Mail to ana@payhealth.test: Sent" in html

    clocks = token_client(lead).get(reverse("api:incident-sla", args=[reference])).json()
    (event,) = [e for clock in clocks for e in clock["events"] if e["id"] == breach.pk]
    by_address = {mail["address"]: mail for mail in event["notifications"]}
    assert by_address["lucia@payhealth.test"]["status"] == "failed"
    assert by_address["lucia@payhealth.test"]["last_error"] == "lucia@payhealth.test: 550 5.1.1 mailbox unavailable"
    assert (by_address["ana@payhealth.test"]["status"], by_address["ana@payhealth.test"]["attempts"]) == ("sent", 1)


def test_a_mail_whose_worker_died_while_sending_is_sent_again_and_counted_as_a_possible_duplicate(smtp, partner_breach):
    _desk, breach = partner_breach
    sla_event_notify(event_id=breach.pk)
    row = mails(breach)["ana@payhealth.test"]
    SlaNotification.objects.filter(pk=row.pk).update(status=Status.SENDING, attempts=1, sent_at=timezone.now() - 10 * M)

    assert sla_mail_requeue_stuck() == 1
    assert sla_mail_deliver(notification_id=row.pk) == "sent"

    row.refresh_from_db()
    assert (row.status, row.attempts, row.possible_duplicates) == (Status.SENT, 2, 1)


def test_an_escalation_that_breaks_is_undone_and_the_desk_is_told_once(smtp, partner_breach, monkeypatch):
    """A failure that would recur on every retry (a defect, not the database) ends the loop: the
    half-made escalation is rolled back, each person is mailed once that it failed."""
    desk, breach = partner_breach

    def broken_release(**kwargs):
        raise RuntimeError("release broke")

    monkeypatch.setattr("cases.sla.notify.notice_release", broken_release)
    assert notify_and_mail(event_id=breach.pk) == "notified"

    assert not Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation").exists()
    rows = mails(breach)
    assert {row.status for row in rows.values()} == {Status.SENT}
    assert all(row.escalation_failed for row in rows.values())
    assert sla_event_notify(event_id=breach.pk) == "skipped"
    assert len(smtp.seen) == len(rows) == 2


def test_an_escalation_cut_by_the_database_is_tried_again_whole(smtp, partner_breach, monkeypatch):
    from django.db import OperationalError

    desk, breach = partner_breach

    from cases.sla import notify

    release, away = notify.notice_release, [True]

    def database_away(**kwargs):
        if away:
            raise OperationalError("server closed the connection unexpectedly")
        return release(**kwargs)

    monkeypatch.setattr(notify, "notice_release", database_away)
    with pytest.raises(OperationalError):
        sla_event_notify(event_id=breach.pk)
    breach.refresh_from_db()
    assert breach.notified_at is None
    assert not SlaNotification.objects.filter(event=breach).exists()

    away.clear()  # the database is back
    assert notify_and_mail(event_id=breach.pk) == "notified"
    escalations = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")
    assert escalations.count() == 1
    assert not any(row.escalation_failed for row in mails(breach).values())
