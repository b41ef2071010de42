"""Delivering notices over SMTP: in this process against a scripted server, then end to end
through real Celery workers (the configured broker, a private Redis for the outage) into a real
SMTP server on loopback.

The slow tests share one worker that consumes a queue of its own, so a development worker or a
parallel run on the same broker never takes their tasks.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import threading
import time
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.correspondence import delivery as delivery_module
from cases.correspondence import email as email_module
from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import (
    DELIVER_TASK,
    TransientDeliveryError,
    correspondence_deliver,
    correspondence_deliver_batch,
    correspondence_requeue_stuck,
    describe_error,
)
from cases.correspondence.dispatch import notice_retry, notice_send, notices_send
from cases.correspondence.tasks import deliver_correspondence_task
from cases.models import CaseEvent, Correspondence, PartnerEngagement, SlaClock
from payhealth.celery import app
from payhealth.outbox import publish
from tests.cases.correspondence.data import notice_desk
from tests.cases.sla.data import sla_desk
from tests.support import (
    RedisServer,
    celery_broker,
    celery_routes,
    database_url_for_workers,
    delete_queue,
    forget_unacked,
    kill_process_group,
    scripted_smtp_server,
    smtp_settings,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
    worker_is_ready,
)

Status = Correspondence.Status
NOTICE_TASKS = ["cases.deliver_correspondence_task", "cases.requeue_stuck_correspondence_task"]


def queue_notices(desk, author, sender, *, kind="breakage", partners=None) -> list[Correspondence]:
    drafts = notice_compose(incident=desk.incident, actor=author, kind=kind, partners=partners).drafts
    for draft in drafts:
        notice_send(correspondence=draft, actor=sender)
    return drafts


def events_of(row: Correspondence, kind: str) -> list[dict]:
    return [event.data for event in CaseEvent.objects.filter(kind=kind) if event.data.get("correspondence") == row.pk]


def subject(message) -> str:
    # Django 5.2 folds a long encoded subject right after "Subject:"; readers drop that space.
    return str(message["Subject"]).strip()


def by_language(messages):
    return {message["Content-Language"]: message for message in messages}


# --- in this process: correspondence_deliver against a scripted SMTP server -------------------


@pytest.fixture
def smtp(settings):
    with scripted_smtp_server() as (port, handler):
        smtp_settings(settings, port)
        yield handler


@pytest.fixture
def desk(db, analyst):
    return notice_desk(owner=analyst)


def test_a_delivered_notice_has_its_language_subject_token_headers_and_content(smtp, desk, analyst, partner_manager):
    drafts = queue_notices(desk, analyst, partner_manager, partners=[desk.bbva])

    outcomes = [correspondence_deliver(correspondence_id=row.pk) for row in drafts]

    assert outcomes == ["sent", "sent"]
    messages = by_language(smtp.accepted)
    spanish_row, english_row = (next(r for r in drafts if r.language == lang) for lang in ("es", "en"))
    spanish, english = messages["es-MX"], messages["en"]
    reference = desk.incident.reference
    assert spanish["Message-ID"] == spanish_row.message_id
    assert subject(spanish) == spanish_row.subject
    assert subject(spanish).startswith(f"[{reference}] SEV3 Aviso de falla: Débito BBVA")
    assert (spanish["To"], spanish["From"]) == ("operacion@bbva.test", "PayHealth Operations <payhealth@localhost>")
    assert spanish["X-PayHealth-Reference"] == reference
    assert spanish["X-PayHealth-Kind"] == "breakage"
    assert spanish["In-Reply-To"] is None and spanish["References"] is None
    body = spanish.get_content()
    expected = [
        "Estimado equipo de BBVA México:",
        "Su folio: MX-7781",
        "Ventana de afectación",
        "acuse de recibo",
        "- Tasa de aprobación: 73.33 % observada contra 91.33 % de referencia",
        "- Monto en riesgo: MXN 1,750,000.50",
        "- Código 05: No aceptar (rechazo genérico del emisor)",
        "hora del centro de México (UTC−06:00) / 2026-03-06 15:00 UTC",
    ]
    for text in expected:
        assert text in body
    assert english["Message-ID"] == english_row.message_id
    assert english["To"] == "intl@bbva.test"
    assert subject(english).startswith(
        f"[{reference}] SEV3 Breakage notice: Débito BBVA: caída de aprobación; please confirm receipt"
    )
    assert "Hello BBVA México team," in english.get_content()
    for row in drafts:
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_error) == (Status.SENT, 1, "")
        assert row.sent_at is not None
        assert events_of(row, CaseEvent.Kind.NOTICE_SENT)[0]["message_id"] == row.message_id


def test_the_first_notice_marks_the_partner_notified_once(smtp, desk, analyst, partner_manager):
    drafts = queue_notices(desk, analyst, partner_manager, partners=[desk.bbva])

    correspondence_deliver(correspondence_id=drafts[0].pk)
    desk.bbva_engagement.refresh_from_db()
    first = desk.bbva_engagement.first_notified_at
    correspondence_deliver(correspondence_id=drafts[1].pk)

    desk.bbva_engagement.refresh_from_db()
    assert desk.bbva_engagement.partner_status == PartnerEngagement.PartnerStatus.NOTIFIED
    assert desk.bbva_engagement.first_notified_at == first is not None
    updates = CaseEvent.objects.filter(incident=desk.incident, kind=CaseEvent.Kind.PARTNER_UPDATED)
    assert [event.data["changes"]["partner_status"] for event in updates] == [
        {"from": "not_notified", "to": "notified"}
    ]


def test_a_follow_up_is_threaded_under_the_previous_message(smtp, desk, analyst, partner_manager):
    breakage = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]
    correspondence_deliver(correspondence_id=breakage.pk)
    update = queue_notices(desk, analyst, partner_manager, kind="update", partners=[desk.visa])[0]

    correspondence_deliver(correspondence_id=update.pk)

    message = smtp.accepted[-1]
    assert subject(message).startswith(f"[{desk.incident.reference}] Update: ")
    assert message["In-Reply-To"] == breakage.message_id
    assert message["References"] == breakage.message_id


def test_the_same_notice_delivered_twice_is_sent_once(smtp, desk, analyst, partner_manager):
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]

    outcomes = [correspondence_deliver(correspondence_id=row.pk) for _ in range(2)]

    assert outcomes == ["sent", "skipped"]
    assert [m["Message-ID"] for m in smtp.seen] == [row.message_id]
    assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1


@pytest.mark.parametrize("answer", ["451 4.3.0 Try again later", "421 4.7.0 Too many connections"])
def test_a_4xx_answer_puts_the_notice_back_in_the_queue_for_a_retry(smtp, desk, analyst, partner_manager, answer):
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]
    smtp.script.append(answer)

    with pytest.raises(TransientDeliveryError, match=answer[:3]):
        correspondence_deliver(correspondence_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error, row.sent_at) == (Status.QUEUED, 1, answer, None)
    wait = (row.next_attempt_at - row.queued_at).total_seconds()
    assert 0.8 * settings.PAYHEALTH_NOTICE_RETRY_BACKOFF <= wait <= 1.2 * settings.PAYHEALTH_NOTICE_RETRY_BACKOFF
    assert correspondence_deliver(correspondence_id=row.pk) == "skipped"  # a duplicate task, ahead of the retry

    Correspondence.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())  # the retry is due
    assert correspondence_deliver(correspondence_id=row.pk) == "sent"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert [m["Message-ID"] for m in smtp.seen] == [row.message_id, row.message_id]
    assert len(smtp.accepted) == 1


def test_a_transient_error_on_the_last_attempt_fails_the_notice(smtp, desk, analyst, partner_manager):
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]
    smtp.script.append("451 4.3.0 Try again later")

    assert correspondence_deliver(correspondence_id=row.pk, final_attempt=True) == "failed"

    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.FAILED, "Gave up after 1 attempts: 451 4.3.0 Try again later")


def test_a_5xx_answer_fails_the_notice_with_the_servers_answer_on_the_timeline(smtp, desk, analyst, partner_manager):
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]
    smtp.script.append("550 5.7.1 Message rejected by policy")

    assert correspondence_deliver(correspondence_id=row.pk) == "failed"

    row.refresh_from_db()
    assert (row.status, row.last_error, row.sent_at) == (Status.FAILED, "550 5.7.1 Message rejected by policy", None)
    assert events_of(row, CaseEvent.Kind.NOTICE_FAILED) == [
        {"correspondence": row.pk, "partner": "Visa", "error": "550 5.7.1 Message rejected by policy", "attempts": 1}
    ]
    desk.visa_engagement.refresh_from_db()
    assert desk.visa_engagement.partner_status == PartnerEngagement.PartnerStatus.NOT_NOTIFIED


def test_an_unreachable_server_is_transient(settings, desk, analyst, partner_manager):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    smtp_settings(settings, port)
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]

    with pytest.raises(TransientDeliveryError, match="ConnectionRefusedError"):
        correspondence_deliver(correspondence_id=row.pk)

    row.refresh_from_db()
    assert row.status == Status.QUEUED
    assert row.last_error.startswith("ConnectionRefusedError: ")


def test_recipients_refused_one_by_one_are_noted_on_a_sent_notice(smtp, desk, analyst, partner_manager):
    desk.bbva_intl.language = ""
    desk.bbva_intl.save()
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.bbva])[0]

    smtp.refuse["intl@bbva.test"] = "550 5.1.1 No such user"

    assert correspondence_deliver(correspondence_id=row.pk) == "sent"

    row.refresh_from_db()
    assert row.status == Status.SENT
    assert row.last_error == "intl@bbva.test: 550 5.1.1 No such user"
    assert smtp.accepted[0]["X-RcptTo"] == "operacion@bbva.test"
    assert events_of(row, CaseEvent.Kind.NOTICE_SENT)[0]["to"] == ["operacion@bbva.test"]


# --- a batch of notices over one SMTP connection ----------------------------------------------


def drafts_queued(desk, author, sender) -> list[Correspondence]:
    """Three notices (BBVA in Spanish and in English, Visa) queued by the bulk action."""
    drafts = notice_compose(incident=desk.incident, actor=author, kind="breakage").drafts
    notices_send(correspondences=drafts, actor=sender)
    return sorted(drafts, key=lambda row: row.pk)


def test_notices_are_published_in_batches_a_lone_id_as_an_id(settings, monkeypatch):
    settings.PAYHEALTH_NOTICE_DELIVERY_BATCH = 2
    sent_tasks = []
    monkeypatch.setattr(app, "send_task", lambda name, args, **options: sent_tasks.append((name, args)))
    monkeypatch.setattr(app, "producer_or_acquire", lambda: contextlib.nullcontext("producer"))

    assert publish(DELIVER_TASK, [11, 12, 13]) == 3

    assert sent_tasks == [(DELIVER_TASK, [[11, 12]]), (DELIVER_TASK, [13])]


def test_a_batch_of_notices_goes_over_one_smtp_connection_and_is_recorded_with_few_queries(
    smtp, desk, analyst, partner_manager
):
    drafts = drafts_queued(desk, analyst, partner_manager)
    email_module._drop_smtp()  # no session kept from an earlier test

    with CaptureQueriesContext(connection) as queries:
        result = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])

    assert (result.sent, result.failed, result.retry, result.skipped) == ([row.pk for row in drafts], [], {}, [])
    assert smtp.sessions == 1
    assert sorted(m["Message-ID"] for m in smtp.accepted) == sorted(row.message_id for row in drafts)
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "cases_correspondence"')]
    assert len(updates) == 3  # claimed together, sent together, consequences together
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "cases_caseevent"')]
    notice_sent_inserts = [sql for sql in inserts if "notice_sent" in sql]
    assert len(notice_sent_inserts) <= 1
    locking = [q["sql"] for q in queries.captured_queries if 'FROM "cases_correspondence"' in q["sql"]]
    locking = [sql for sql in locking if "FOR UPDATE" in sql]
    # The notices are locked alone and their incidents, partners… read by id: no join whose plan
    # could walk a whole index when the statistics lag the newest notices.
    assert len(locking) == 2 and not any(" JOIN " in sql for sql in locking)
    for row in drafts:
        row.refresh_from_db()
        assert (row.status, row.attempts, row.consequences_at is not None) == (Status.SENT, 1, True)
        assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1

    again = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])  # the task delivered twice
    assert again.skipped == [row.pk for row in drafts]
    assert len(smtp.seen) == 3


def test_a_notice_the_server_cannot_take_does_not_resend_the_others_of_its_batch(smtp, desk, analyst, partner_manager):
    desk.bbva_intl.language = ""  # BBVA's two contacts in one (Spanish) notice: one is refused
    desk.bbva_intl.save()
    desk.visa.contacts.create(name="Visa LatAm", email="latam@visa.test", language="es")
    drafts = drafts_queued(desk, analyst, partner_manager)
    assert len(drafts) == 3
    email_module._drop_smtp()
    smtp.refuse["intl@bbva.test"] = "550 5.1.1 No such user"
    busy = "451 4.3.0 Try again later"
    smtp.script.extend(["250 OK", busy])  # the first message taken, the second answered 451

    result = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])

    first, second, third = drafts
    assert result.sent == [first.pk, third.pk]
    assert list(result.retry) == [second.pk] and result.retry[second.pk][0] == busy
    assert smtp.sessions == 2  # a fresh session after the 451, for the third message
    for row in drafts:
        row.refresh_from_db()
    assert (second.status, second.attempts, second.last_error) == (Status.QUEUED, 1, busy)
    assert {first.status, third.status} == {Status.SENT}
    refused_one = next(row for row in (first, third) if "intl@bbva.test" in row.to_addresses)
    assert refused_one.last_error == "intl@bbva.test: 550 5.1.1 No such user"
    assert refused_one.refused_addresses == ["intl@bbva.test"]

    Correspondence.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())  # its retry is due
    retried = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])  # e.g. the sweep's batch

    assert (retried.sent, sorted(retried.skipped)) == ([second.pk], sorted([first.pk, third.pk]))
    seen = [m["Message-ID"] for m in smtp.seen]
    assert sorted(seen) == sorted([first.message_id, second.message_id, second.message_id, third.message_id])
    assert sorted(m["Message-ID"] for m in smtp.accepted) == sorted(row.message_id for row in drafts)
    for row in drafts:
        assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1


def test_an_unreachable_server_puts_the_whole_batch_back_without_trying_each_notice(
    settings, desk, analyst, partner_manager
):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    smtp_settings(settings, port)
    drafts = drafts_queued(desk, analyst, partner_manager)
    email_module._drop_smtp()

    result = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])

    assert sorted(result.retry) == [row.pk for row in drafts]
    for row in drafts:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.QUEUED, 1)
        assert row.last_error.startswith("ConnectionRefusedError: ")


# --- sent first, its consequences second --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sent_update_commits_without_waiting_for_the_incidents_sla_clocks(settings, analyst, partner_manager):
    """Another transaction holds every SLA clock of the incident: the notice is still recorded
    `sent` at once (the window after the server's 250 never waits on a clock); the timeline row
    and the clocks follow when the lock is released."""
    live = sla_desk(actor=analyst)
    row = queue_notices(live, analyst, partner_manager, partners=[live.visa])[0]
    assert SlaClock.objects.filter(incident=live.incident).exists()
    with scripted_smtp_server() as (port, handler):
        smtp_settings(settings, port)
        holder = psycopg.connect(database_url_for_workers(), autocommit=False)
        outcome: list[str] = []
        worker = threading.Thread(
            target=lambda: (outcome.append(correspondence_deliver(correspondence_id=row.pk)), connection.close())
        )
        try:
            holder.execute("select id from cases_slaclock where incident_id = %s for update", [live.incident.pk])
            worker.start()
            wait_for(
                lambda: Correspondence.objects.get(pk=row.pk).status == Status.SENT,
                timeout=30,
                what="the notice to be recorded sent while the clocks are locked",
            )
            assert Correspondence.objects.get(pk=row.pk).consequences_at is None
            assert events_of(row, CaseEvent.Kind.NOTICE_SENT) == []
        finally:
            holder.rollback()
            holder.close()
            worker.join(timeout=30)
    assert outcome == ["sent"]
    row.refresh_from_db()
    assert row.consequences_at is not None
    assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1
    assert [m["Message-ID"] for m in handler.accepted] == [row.message_id]


def test_the_sweep_completes_what_a_worker_that_died_after_the_sent_update_left(
    smtp, desk, analyst, partner_manager, monkeypatch
):
    row = queue_notices(desk, analyst, partner_manager, partners=[desk.visa])[0]

    def dies(**kwargs):
        raise SystemExit("worker killed")  # between the two transactions

    monkeypatch.setattr(delivery_module, "correspondence_record_sent", dies)
    with pytest.raises(SystemExit):
        correspondence_deliver(correspondence_id=row.pk)
    monkeypatch.undo()
    row.refresh_from_db()
    assert (row.status, row.consequences_at) == (Status.SENT, None)
    assert events_of(row, CaseEvent.Kind.NOTICE_SENT) == []

    assert correspondence_requeue_stuck(sending_after=timedelta(0)) == 0  # nothing to send again
    assert correspondence_requeue_stuck(sending_after=timedelta(0)) == 0

    row.refresh_from_db()
    assert row.consequences_at is not None
    assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1
    desk.visa_engagement.refresh_from_db()
    assert desk.visa_engagement.partner_status == PartnerEngagement.PartnerStatus.NOTIFIED
    assert len(smtp.seen) == 1


# --- end to end: real workers, real broker, real SMTP server ----------------------------------


@pytest.fixture(scope="module")
def smtp_server():
    with scripted_smtp_server() as (port, handler):
        yield port, handler


class Worker:
    def __init__(self, queue, log, process, env):
        self.queue, self.log, self.process, self.env = queue, log, process, env

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_env(smtp_port: int, **extra) -> dict[str, str]:
    return subprocess_env(
        DATABASE_URL=database_url_for_workers(),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}?timeout=10",
        PAYHEALTH_NOTICE_RETRY_BACKOFF="1",
        PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX="2",
        **extra,
    )


def started_worker(queue, log, env) -> Worker:
    process = start_celery_worker(queue=queue, log_path=log, env=env)
    worker = Worker(queue, log, process, env)
    wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker to start")
    assert process.poll() is None, worker.text()
    return worker


@pytest.fixture(scope="module")
def notice_worker(django_db_setup, smtp_server, tmp_path_factory):
    """One worker for the module, on the configured broker, consuming a queue of its own."""
    queue = f"notices-{uuid.uuid4().hex[:12]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = started_worker(queue, log, worker_env(smtp_server[0]))
    try:
        with celery_routes(app, NOTICE_TASKS, queue):
            yield worker
    finally:
        stop_celery_worker(worker.process)
        delete_queue(app, queue)


@pytest.fixture
def live_smtp(smtp_server):
    port, handler = smtp_server
    handler.reset()
    yield handler
    handler.reset()


@pytest.fixture
def live_desk(transactional_db, analyst):
    return notice_desk(owner=analyst)


def wait_for_status(rows, status, *, timeout=30, worker=None):
    def done():
        # A sent notice is done once its consequences (timeline, SLA clocks, first notice) are recorded too.
        current = [Correspondence.objects.get(pk=row.pk) for row in rows]
        return all(row.status == status and (status != Status.SENT or row.consequences_at) for row in current)

    try:
        wait_for(done, timeout=timeout, what=f"notices to be {status}")
    except AssertionError:
        states = [(row.pk, Correspondence.objects.get(pk=row.pk).status) for row in rows]
        raise AssertionError(f"{states}\n{worker.text() if worker else ''}") from None


def successes(worker: Worker, since: int) -> list[str]:
    """Return values of the delivery tasks the worker finished after log offset `since`."""
    pattern = r"Task cases\.deliver_correspondence_task\[[0-9a-f-]+\] succeeded in [0-9.]+s: '(\w+)'"
    return re.findall(pattern, worker.text()[since:])


@pytest.mark.slow
def test_a_real_worker_delivers_english_and_spanish_notices_with_their_headers(
    notice_worker, live_smtp, live_desk, analyst, partner_manager
):
    drafts = queue_notices(live_desk, analyst, partner_manager)

    wait_for_status(drafts, Status.SENT, worker=notice_worker)

    assert sorted(m["Message-ID"] for m in live_smtp.accepted) == sorted(row.message_id for row in drafts)
    by_recipient = {m["To"]: m for m in live_smtp.accepted}
    spanish, english, visa = (by_recipient[a] for a in ("operacion@bbva.test", "intl@bbva.test", "support@visa.test"))
    reference = live_desk.incident.reference
    assert (spanish["Content-Language"], english["Content-Language"], visa["Content-Language"]) == ("es-MX", "en", "en")
    assert all(subject(m).startswith(f"[{reference}] SEV3 ") for m in (spanish, english, visa))
    assert "Le solicitamos" in spanish.get_content() and "acuse de recibo" in spanish.get_content()
    assert "What we ask of you" in english.get_content()
    start = "- Start: Friday 6 Mar 2026, 10:00 EST (US Eastern time, UTC−05:00) / 2026-03-06 15:00 UTC"
    assert start in visa.get_content()
    engagements = PartnerEngagement.objects.filter(incident=live_desk.incident)
    assert {e.partner_status for e in engagements} == {PartnerEngagement.PartnerStatus.NOTIFIED}

    update = queue_notices(live_desk, analyst, partner_manager, kind="update", partners=[live_desk.visa])[0]
    wait_for_status([update], Status.SENT, worker=notice_worker)

    breakage = next(row for row in drafts if row.to_addresses == ["support@visa.test"])
    threaded = next(m for m in live_smtp.accepted if m["Message-ID"] == update.message_id)
    assert (threaded["In-Reply-To"], threaded["References"]) == (breakage.message_id, breakage.message_id)


@pytest.mark.slow
def test_the_same_task_delivered_twice_sends_once(notice_worker, live_smtp, live_desk, analyst, partner_manager):
    since = len(notice_worker.text())
    row = queue_notices(live_desk, analyst, partner_manager, partners=[live_desk.visa])[0]
    deliver_correspondence_task.apply_async(args=[row.pk])  # the broker hands the same task over again

    wait_for(lambda: len(successes(notice_worker, since)) == 2, timeout=30, what="both deliveries")

    assert sorted(successes(notice_worker, since)) == ["sent", "skipped"]
    assert [m["Message-ID"] for m in live_smtp.seen] == [row.message_id]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)


@pytest.mark.slow
def test_451_then_250_is_delivered_after_a_retry(notice_worker, live_smtp, live_desk, analyst, partner_manager):
    live_smtp.script.append("451 4.3.0 Mailbox busy, try again later")
    row = queue_notices(live_desk, analyst, partner_manager, partners=[live_desk.visa])[0]

    wait_for_status([row], Status.SENT, worker=notice_worker)

    row.refresh_from_db()
    assert (row.attempts, row.last_error) == (2, "")
    assert [m["Message-ID"] for m in live_smtp.seen] == [row.message_id, row.message_id]
    assert len(live_smtp.accepted) == 1
    assert "retry: Retry in" in notice_worker.text()


@pytest.mark.slow
def test_550_fails_the_notice_with_the_reason_and_retry_delivers_it(
    notice_worker, live_smtp, live_desk, analyst, partner_manager
):
    live_smtp.script.append("550 5.1.1 <support@visa.test>: Recipient address rejected")
    row = queue_notices(live_desk, analyst, partner_manager, partners=[live_desk.visa])[0]

    wait_for_status([row], Status.FAILED, worker=notice_worker)

    row.refresh_from_db()
    assert row.last_error == "550 5.1.1 <support@visa.test>: Recipient address rejected"
    assert [e["error"] for e in events_of(row, CaseEvent.Kind.NOTICE_FAILED)] == [row.last_error]
    assert live_smtp.accepted == []

    notice_retry(correspondence=row, actor=partner_manager)
    wait_for_status([row], Status.SENT, worker=notice_worker)

    assert [m["Message-ID"] for m in live_smtp.accepted] == [row.message_id]


def backends_waiting_on_a_lock(database: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("select pid from pg_stat_activity where datname = %s and wait_event_type = 'Lock'", [database])
        return [pid for (pid,) in cursor.fetchall()]


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_stat_activity where pid = %s", [pid])
        return cursor.fetchone()[0] > 0


@pytest.mark.slow
def test_a_worker_killed_after_the_smtp_send_causes_no_message_with_another_message_id(
    notice_worker, live_smtp, live_desk, analyst, partner_manager, tmp_path
):
    """The server accepts the message, then the worker dies before recording it: the row stays
    `sending`, the sweep re-queues it, and the partner gets the same message (same Message-ID)
    again, never a second, different notice."""
    victim = started_worker(f"victim-{uuid.uuid4().hex[:12]}", tmp_path / "victim.log", notice_worker.env)
    database, database_url = connection.settings_dict["NAME"], notice_worker.env["DATABASE_URL"]
    holder = {}

    def hold_the_row(message):
        # Runs in the SMTP server before it answers 250: lock the row, so the worker blocks on
        # its "sent" update right after the server accepted the message.
        holder["lock"] = psycopg.connect(database_url, autocommit=False)
        holder["lock"].execute(
            "select id from cases_correspondence where message_id = %s for update", [message["Message-ID"]]
        )

    live_smtp.before_answer = hold_the_row
    try:
        with celery_routes(app, NOTICE_TASKS, victim.queue):
            row = queue_notices(live_desk, analyst, partner_manager, partners=[live_desk.visa])[0]
        wait_for(lambda: live_smtp.accepted, timeout=30, what="the server to accept the message")
        waiting = wait_for(
            lambda: backends_waiting_on_a_lock(database), timeout=30, what="the worker to block on its sent update"
        )
        kill_process_group(victim.process)
    finally:
        live_smtp.before_answer = None
        if "lock" in holder:
            holder["lock"].rollback()
            holder["lock"].close()
        stop_celery_worker(victim.process)
        forget_unacked(app, victim.queue)
        delete_queue(app, victim.queue)
    # The dead worker's database session ends once it notices its client is gone.
    wait_for(lambda: not any(backend_alive(pid) for pid in waiting), timeout=30, what="the dead session to end")

    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENDING, 1)
    assert [m["Message-ID"] for m in live_smtp.accepted] == [row.message_id]

    assert correspondence_requeue_stuck(sending_after=timedelta(0)) == 1  # as if the task time limit had passed
    wait_for_status([row], Status.SENT, worker=notice_worker)

    row.refresh_from_db()
    assert (row.attempts, row.possible_duplicates) == (2, 1)  # counted where deliveries are shown
    assert [m["Message-ID"] for m in live_smtp.accepted] == [row.message_id, row.message_id]
    assert len({m.get_content() for m in live_smtp.accepted}) == 1
    assert len(events_of(row, CaseEvent.Kind.NOTICE_SENT)) == 1


@pytest.mark.slow
def test_a_broker_stopped_while_notices_are_queued_then_started_delivers_each_once(
    live_smtp, smtp_server, live_desk, analyst, partner_manager, tmp_path, caplog
):
    redis = RedisServer(tmp_path)
    redis.start()
    queue = f"outage-{uuid.uuid4().hex[:12]}"
    worker = None
    try:
        worker = started_worker(queue, tmp_path / "worker.log", worker_env(smtp_server[0], CELERY_BROKER_URL=redis.url))
        with celery_broker(app, redis.url), celery_routes(app, NOTICE_TASKS, queue):
            redis.stop()
            started = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="payhealth.outbox"):
                drafts = queue_notices(live_desk, analyst, partner_manager)
            assert time.monotonic() - started < 10  # the request does not hang on the dead broker
            assert caplog.text.count("broker unavailable") == 3
            assert {Correspondence.objects.get(pk=row.pk).status for row in drafts} == {Status.QUEUED}
            assert live_smtp.seen == []

            redis.start()
            # What beat's sweep does (the reconnecting worker's own sweep may have taken some first).
            assert correspondence_requeue_stuck(stuck_after=timedelta(0)) <= 3
            wait_for_status(drafts, Status.SENT, timeout=45, worker=worker)

            assert correspondence_requeue_stuck(stuck_after=timedelta(0)) == 0
        assert sorted(m["Message-ID"] for m in live_smtp.seen) == sorted(row.message_id for row in drafts)
        assert worker.process.poll() is None  # the same worker, reconnected
    finally:
        if worker is not None:
            stop_celery_worker(worker.process)
        redis.stop()


def test_a_server_answer_quoting_a_card_number_is_kept_masked():
    refused = smtplib.SMTPRecipientsRefused({"4111111111111111@bank.test": (550, b"5.1.1 no such user")})
    answered = smtplib.SMTPResponseException(554, b"5.7.1 card 4111-1111-1111-1111 in body")

    assert describe_error(refused) == "411111******1111@bank.test: 550 5.1.1 no such user"
    assert describe_error(answered) == "554 5.7.1 card 411111******1111 in body"
