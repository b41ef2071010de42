"""The SLA sweep (set-based, exactly once, also under concurrent sweeps), the warning and breach
mails (each person's language and time zone), a partner breach's escalation, and end to end
through a real Celery worker into a real SMTP server.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.models import Profile
from cases.correspondence.delivery import correspondence_deliver
from cases.models import CaseEvent, Correspondence, SlaClock, SlaClockEvent, SlaNotification
from cases.services import incident_open, incident_transition
from cases.sla import sweep as sweep_module
from cases.sla import tasks as tasks_module
from cases.sla.clocks import NOTIFY_TASK
from cases.sla.notify import sla_event_notify, sla_mail
from cases.sla.sweep import SweepResult, sla_sweep
from payhealth import outbox
from payhealth.celery import app
from tests.cases.sla.data import (
    H,
    M,
    assert_replay_matches,
    deliver_notice,
    freeze,
    mx,
    notify_and_mail,
    partner_reply,
    sla_desk,
    utc,
)
from tests.database import HeldTransaction, backends_blocked_by
from tests.factories import UserFactory
from tests.support import (
    celery_routes,
    database_url_for_workers,
    delete_queue,
    published,
    scripted_smtp_server,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
    worker_is_ready,
)

T0 = utc(2026, 4, 13, 16)  # a SEV1 opened then: acknowledge warns at +11:15 (75 % of 15 min), breaches at +15:00
WARN_AT = T0 + timedelta(minutes=11, seconds=15)
Kind = SlaClockEvent.Kind
SECOND = timedelta(seconds=1)


def sev1_incidents(monkeypatch, actor, count: int) -> list:
    """`count` SEV1 incidents opened at T0 (time is frozen only while they are opened)."""
    with monkeypatch.context() as patch:
        freeze(patch, T0)
        return [
            incident_open(actor=actor, owner=actor, title=f"Switch down {n}", category="outage", severity="sev1")
            for n in range(count)
        ]


def sweep_events(kind: str) -> list[SlaClockEvent]:
    return list(SlaClockEvent.objects.filter(kind=kind).order_by("id"))


@pytest.fixture
def queued_notifications(monkeypatch):
    """The SLA event ids the sweeps and the clock hooks publish for notification (no broker here)."""
    queued: list[int] = []

    def publish(task_name, ids):
        if task_name == NOTIFY_TASK:
            queued.extend(ids)
        return len(ids)

    monkeypatch.setattr(outbox, "publish", publish)
    return queued


# --- the sweep --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_warning_then_a_breach_fire_once_each(monkeypatch, analyst, django_capture_on_commit_callbacks):
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    ack = SlaClock.objects.get(incident=incident, metric="acknowledge")

    assert sla_sweep(now=T0 + 11 * M) == SweepResult(warned=0, breached=0)
    with django_capture_on_commit_callbacks() as callbacks:
        assert sla_sweep(now=T0 + 12 * M) == SweepResult(warned=1, breached=0)
    assert len(callbacks) == 1  # the notification is queued after the commit
    assert sla_sweep(now=T0 + 14 * M) == SweepResult(warned=0, breached=0)
    assert sla_sweep(now=T0 + 16 * M) == SweepResult(warned=0, breached=1)
    assert sla_sweep(now=T0 + 17 * M) == SweepResult(warned=0, breached=0)

    ack.refresh_from_db()
    # the crossing instants are recorded, not the sweep's
    assert (ack.warned_at, ack.breached_at, ack.warn_due_at, ack.state) == (
        WARN_AT,
        T0 + 15 * M,
        None,
        SlaClock.State.RUNNING,
    )
    warn, breach = sweep_events(Kind.WARN), sweep_events(Kind.BREACH)
    assert [(e.clock_id, e.at, e.cycle) for e in warn] == [(ack.pk, WARN_AT, 1)]
    assert [(e.clock_id, e.at, e.cycle) for e in breach] == [(ack.pk, T0 + 15 * M, 1)]
    assert breach[0].data == {
        "status": "new",
        "waiting_on": [],
        "pause_reason": "",
        "due_at": "2026-04-13T16:15:00+00:00",
        "target": 900,
    }
    timeline = CaseEvent.objects.filter(incident=incident, kind__in=["sla_warning", "sla_breached"]).order_by("id")
    assert [(e.kind, e.created_at, e.actor_id) for e in timeline] == [
        ("sla_warning", WARN_AT, None),
        ("sla_breached", T0 + 15 * M, None),
    ]
    assert timeline[1].data == {
        "clock": ack.pk,
        "metric": "acknowledge",
        "family": "ours",
        "partner": None,
        "reason": "",
        "event": breach[0].pk,
    }


@pytest.mark.django_db
def test_paused_and_stopped_clocks_are_not_swept(monkeypatch, analyst):
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    freeze(monkeypatch, T0 + 1 * M)
    incident_transition(incident=incident, actor=analyst, to="triaging")  # acknowledge met
    freeze(monkeypatch, T0 + 2 * M)
    incident_transition(incident=incident, actor=analyst, to="waiting_on_partner", reason="Waiting on Prosa")

    result = sla_sweep(now=T0 + 10 * H)

    # only first notice runs (it never pauses): warned and breached; resolve is paused
    assert result == SweepResult(warned=1, breached=1)
    assert {e.clock.metric for e in SlaClockEvent.objects.filter(kind__in=[Kind.WARN, Kind.BREACH])} == {"first_notice"}
    breach = SlaClockEvent.objects.get(kind=Kind.BREACH)
    assert (breach.data["status"], breach.data["pause_reason"]) == ("waiting_on_partner", "")


@pytest.mark.django_db
def test_a_stop_before_the_sweep_reached_the_crossing_fires_the_breach_at_its_instant(
    monkeypatch, analyst, queued_notifications, django_capture_on_commit_callbacks
):
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    ack = SlaClock.objects.get(incident=incident, metric="acknowledge")
    freeze(monkeypatch, T0 + 15 * M + 30 * SECOND)  # 30 s late; the sweep last ran at +14:50

    with django_capture_on_commit_callbacks(execute=True):
        incident_transition(incident=incident, actor=analyst, to="triaging")

    ack.refresh_from_db()
    assert (ack.state, ack.breached_at, ack.stopped_at) == ("breached", T0 + 15 * M, T0 + 15 * M + 30 * SECOND)
    breach = SlaClockEvent.objects.get(clock=ack, kind=Kind.BREACH)
    assert (breach.at, breach.actor_id, breach.cycle) == (T0 + 15 * M, None, 1)
    assert breach.data == {
        "status": "new",  # the status the incident had when the target passed, not the one it moved to
        "waiting_on": [],
        "pause_reason": "",
        "due_at": "2026-04-13T16:15:00+00:00",
        "target": 900,
    }
    assert queued_notifications == [breach.pk]  # told to the owner and the leads like a swept breach
    timeline = CaseEvent.objects.filter(incident=incident, kind="sla_breached")
    assert [(row.created_at, row.actor_id, row.data) for row in timeline] == [
        (
            T0 + 15 * M,
            None,
            {
                "clock": ack.pk,
                "metric": "acknowledge",
                "family": "ours",
                "partner": None,
                "reason": "",
                "event": breach.pk,
            },
        )
    ]
    # the warning's moment has passed unswept too, but a warning about a clock that has stopped
    # would tell nobody anything: it is not fired after the fact
    assert not SlaClockEvent.objects.filter(clock=ack, kind=Kind.WARN).exists()

    sla_sweep(now=T0 + 1 * H)
    assert SlaClockEvent.objects.filter(clock=ack, kind=Kind.BREACH).count() == 1
    assert_replay_matches(ack)


@pytest.mark.django_db
def test_a_pause_after_the_crossing_keeps_the_breach_at_its_instant(
    monkeypatch, analyst, queued_notifications, django_capture_on_commit_callbacks
):
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    freeze(monkeypatch, T0 + 1 * M)
    incident_transition(incident=incident, actor=analyst, to="triaging")
    incident_transition(incident=incident, actor=analyst, to="investigating")
    resolve = SlaClock.objects.get(incident=incident, metric="resolve", engagement__isnull=True)
    due = resolve.due_at
    freeze(monkeypatch, due + 20 * SECOND)

    with django_capture_on_commit_callbacks(execute=True):
        incident_transition(incident=incident, actor=analyst, to="waiting_on_partner", reason="Esperando a Prosa")

    resolve.refresh_from_db()
    assert (resolve.state, resolve.breached_at, resolve.pause_reason) == ("paused", due, "Esperando a Prosa")
    assert [(e.kind, e.at) for e in resolve.events.order_by("at", "id")] == [
        ("start", T0),
        ("breach", due),
        ("pause", due + 20 * SECOND),
    ]
    assert SlaClockEvent.objects.get(clock=resolve, kind=Kind.BREACH).data["status"] == "investigating"
    assert queued_notifications == [resolve.events.get(kind=Kind.BREACH).pk]

    freeze(monkeypatch, due + 2 * H)
    incident_transition(incident=incident, actor=analyst, to="investigating")  # resumes, still overdue
    sla_sweep(now=due + 3 * H)
    assert SlaClockEvent.objects.filter(clock=resolve, kind=Kind.BREACH).count() == 1  # not again at the resume
    assert_replay_matches(resolve)


@pytest.mark.django_db
def test_resolving_late_fires_every_unswept_breach_with_the_facts_before_the_change(
    monkeypatch, analyst, queued_notifications, django_capture_on_commit_callbacks
):
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    freeze(monkeypatch, T0 + 1 * M)
    incident_transition(incident=incident, actor=analyst, to="triaging")
    incident_transition(incident=incident, actor=analyst, to="investigating")
    clocks = {clock.metric: clock for clock in SlaClock.objects.filter(incident=incident, state="running")}
    assert sorted(clocks) == ["first_notice", "resolve"]  # both long overdue, never swept
    freeze(monkeypatch, T0 + 8 * H)

    with django_capture_on_commit_callbacks(execute=True):
        incident_transition(incident=incident, actor=analyst, to="resolved", reason="Prosa restarted the switch")

    breaches = SlaClockEvent.objects.filter(kind=Kind.BREACH).select_related("clock").order_by("at")
    assert [(b.clock.metric, b.at, b.data["status"]) for b in breaches] == [
        ("first_notice", clocks["first_notice"].due_at, "investigating"),
        ("resolve", clocks["resolve"].due_at, "investigating"),
    ]
    assert sorted(queued_notifications) == sorted(b.pk for b in breaches)
    assert CaseEvent.objects.filter(incident=incident, kind="sla_breached").count() == 2
    for clock in clocks.values():
        assert_replay_matches(clock)


@pytest.mark.django_db
def test_a_renewed_update_cycle_can_warn_and_breach_again(monkeypatch, analyst, partner_manager, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    now = freeze(monkeypatch, T0)
    desk = sla_desk(actor=analyst, severity="sev3")
    now.set(T0 + 5 * M)
    incident_transition(incident=desk.refresh(), actor=analyst, to="triaging")
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    update = desk.clock("update")
    sla_sweep(now=update.due_at)
    update.refresh_from_db()
    assert update.breached_at is not None
    now.set(update.due_at + 1 * H)

    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva, kind="update")

    update.refresh_from_db()
    assert (update.cycle, update.warned_at, update.breached_at) == (2, None, None)
    first_cycle_stop = update.events.get(kind="stop")
    assert first_cycle_stop.data["outcome"] == "breached"
    sla_sweep(now=update.due_at)
    assert sorted(update.events.filter(kind__in=[Kind.WARN, Kind.BREACH]).values_list("kind", "cycle")) == [
        ("breach", 1),
        ("breach", 2),
        ("warn", 1),
        ("warn", 2),
    ]


@pytest.mark.django_db
def test_one_sweep_over_many_crossing_clocks_takes_a_constant_number_of_queries(
    monkeypatch, analyst, queued_notifications, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    incidents = sev1_incidents(monkeypatch, analyst, 50)
    few = SlaClock.objects.filter(incident__in=incidents[:5], metric="acknowledge")
    SlaClock.objects.filter(metric="acknowledge").exclude(pk__in=few).update(due_at=T0 + 5 * H, warn_due_at=T0 + 5 * H)

    with CaptureQueriesContext(connection) as five, django_capture_on_commit_callbacks(execute=True):
        assert sla_sweep(now=T0 + 16 * M) == SweepResult(warned=5, breached=5)
    first_ten = sorted(queued_notifications)
    # five hours on: the other 45 acknowledge clocks, and all 50 first-notice and resolve clocks
    with django_assert_max_num_queries(len(five)), django_capture_on_commit_callbacks(execute=True):
        assert sla_sweep(now=T0 + 5 * H) == SweepResult(warned=145, breached=145)
    assert len(five) <= 8
    assert CaseEvent.objects.filter(kind="sla_breached").count() == 150
    # notified by nobody yet and older than five minutes: the first sweep's events are queued again
    fired = list(SlaClockEvent.objects.filter(kind__in=[Kind.WARN, Kind.BREACH]).values_list("pk", flat=True))
    assert len(fired) == 300
    assert sorted(queued_notifications) == sorted(fired + first_ten)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("held_in", ["sla_warning", "sla_breached"])
def test_two_sweeps_at_the_same_time_fire_each_warning_and_breach_once(
    monkeypatch, analyst, queued_notifications, held_in, settings
):
    """The overlap is certain: the first sweep is held inside its warning (or breach) batch, its
    clocks marked and locked but not committed, while the second sweep runs; the first commits
    only once the second has finished or is waiting for one of its locks."""
    settings.PAYHEALTH_NOTICE_STUCK_AFTER = 3600  # fired events are not due for recovery yet
    incidents = sev1_incidents(monkeypatch, analyst, 20)
    held = HeldTransaction()
    real_published = sweep_module.timeline.published

    def published_then_hold(rows):  # runs in the batch's transaction, after its statement
        if rows and rows[0].kind == held_in:
            held.hold()
        real_published(rows)

    monkeypatch.setattr(sweep_module.timeline, "published", published_then_hold)
    results: dict[str, SweepResult] = {}
    errors: list[BaseException] = []

    def sweep(name: str) -> None:
        try:
            results[name] = sla_sweep(now=T0 + 16 * M)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=sweep, args=("first",))
    second = threading.Thread(target=sweep, args=("second",))
    first.start()
    try:
        held_pid = held.wait_until_held()
        second.start()
        wait_for(
            lambda: not second.is_alive() or backends_blocked_by(held_pid),
            timeout=30,
            what="the second sweep to finish or wait for the first one's locks",
        )
    finally:
        held.let_go()
        for thread in (first, second):
            if thread.ident is not None:  # started
                thread.join(timeout=60)

    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    assert sum(r.warned for r in results.values()) == 20 and sum(r.breached for r in results.values()) == 20
    for kind in (Kind.WARN, Kind.BREACH):
        events = sweep_events(kind)
        assert len(events) == 20 and len({e.clock_id for e in events}) == 20
    assert CaseEvent.objects.filter(kind="sla_warning").count() == 20
    assert CaseEvent.objects.filter(kind="sla_breached").count() == 20
    assert {e.incident_id for e in CaseEvent.objects.filter(kind="sla_breached")} == {i.pk for i in incidents}
    assert sorted(queued_notifications) == sorted(
        e.pk for e in SlaClockEvent.objects.filter(kind__in=[Kind.WARN, Kind.BREACH])
    )


# --- notifications ----------------------------------------------------------------------------


def set_profile(user, *, language: str, zone: str) -> None:
    Profile.objects.update_or_create(user=user, defaults={"language": language, "timezone": zone})


@pytest.mark.django_db
def test_the_owner_and_every_lead_are_mailed_once_in_their_language_and_zone(monkeypatch, analyst, lead, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PAYHEALTH_SITE_URL = "https://payhealth.example.test/"
    set_profile(analyst, language="es", zone="America/Mexico_City")
    set_profile(lead, language="en", zone="America/New_York")
    UserFactory(username="retired-lead", role="lead", is_active=False)
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    sla_sweep(now=T0 + 12 * M)
    (warn,) = sweep_events(Kind.WARN)

    assert notify_and_mail(event_id=warn.pk) == "notified"
    assert sla_event_notify(event_id=warn.pk) == "skipped"

    warn.refresh_from_db()
    assert warn.notified_at is not None
    assert sorted(message.to[0] for message in mail.outbox) == ["ana@payhealth.test", "lucia@payhealth.test"]
    english = next(m for m in mail.outbox if m.to == ["lucia@payhealth.test"])
    spanish = next(m for m in mail.outbox if m.to == ["ana@payhealth.test"])
    assert (
        english.subject == f"[{incident.reference}] SLA warning: Acknowledge due 2026-04-13 12:15 EDT (US Eastern time)"
    )
    body = english.body
    assert "The SLA target for Acknowledge on " in body and "will be breached soon" in body
    assert "Target: 15 min" in body
    assert "Due: 2026-04-13 12:15 EDT (US Eastern time)" in body  # the lead reads New York time
    link = "https://payhealth.example.test" + reverse("cases:incident_detail", args=[incident.reference])
    assert f"Open the incident: {link}" in body
    assert english.extra_headers["Message-ID"] == f"<ph.sla.{incident.reference}.{warn.pk}.{lead.pk}@localhost>"
    # the owner's mail: Spanish labels already in the catalogue, Mexico City time
    assert spanish.extra_headers["Content-Language"] == "es-MX"
    assert "Severidad: SEV1" in spanish.body and "Acuse de recibo" in spanish.body
    assert "2026-04-13 10:15 CST" in spanish.body


@pytest.mark.django_db
def test_sla_mail_texts_are_translated_spanish(monkeypatch, analyst):
    """Passes once the coordinator has compiled this helper's Spanish messages."""
    set_profile(analyst, language="es", zone="America/Mexico_City")
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)
    sla_sweep(now=T0 + 16 * M)
    breach = sweep_events(Kind.BREACH)[0]

    message = sla_mail(event=breach, user=analyst)

    assert message.subject == f"[{incident.reference}] SLA incumplido: Acuse de recibo"
    assert "Se incumplió el objetivo de SLA de Acuse de recibo en " in message.body
    assert "Objetivo: 15 min" in message.body
    assert "Vencía: 2026-04-13 10:15 CST (hora del centro de México)" in message.body
    assert "Abrir el incidente:" in message.body
    assert translation.get_language() == "en"


@pytest.mark.django_db
def test_a_partner_breach_escalates_to_the_next_level_once(monkeypatch, analyst, partner_manager, lead, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    now = freeze(monkeypatch, mx(2026, 4, 13, 10, 0))
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    incident_transition(incident=desk.refresh(), actor=analyst, to="triaging")
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    partner_ack = desk.clock("acknowledge", desk.bbva)
    assert partner_ack.due_at == utc(2026, 4, 13, 20, 15)  # 10:15 + 4 business hours = 14:15 CST
    sla_sweep(now=partner_ack.due_at)
    breach = SlaClockEvent.objects.get(kind=Kind.BREACH, clock=partner_ack)
    mail.outbox.clear()

    assert notify_and_mail(event_id=breach.pk) == "notified"
    assert sla_event_notify(event_id=breach.pk) == "skipped"

    escalations = Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation")
    assert [(row.to_addresses, row.status, row.created_by_id) for row in escalations] == [
        (["gerencia@bbva.test"], Correspondence.Status.QUEUED, None)
    ]
    assert escalations[0].language == "es"
    assert desk.engagement(desk.bbva).escalation_level == 2
    assert CaseEvent.objects.filter(incident=desk.incident, kind="notice_queued").count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@payhealth.test", "lucia@payhealth.test"]
    assert all("SLA breached: Acknowledge by BBVA México" in m.subject for m in mail.outbox)
    mail.outbox.clear()
    assert correspondence_deliver(correspondence_id=escalations[0].pk) == "sent"
    (sent,) = mail.outbox
    assert (sent.to, sent.extra_headers["Message-ID"]) == (["gerencia@bbva.test"], escalations[0].message_id)
    assert "escalamos" in sent.body.lower()

    # the next breach of that partner (resolve) goes one level further up
    partner_resolve = desk.clock("resolve", desk.bbva)
    sla_sweep(now=partner_resolve.due_at)
    resolve_breach = SlaClockEvent.objects.get(kind=Kind.BREACH, clock=partner_resolve)
    sla_event_notify(event_id=resolve_breach.pk)
    assert [row.to_addresses for row in escalations.order_by("id")] == [
        ["gerencia@bbva.test"],
        ["direccion@bbva.test"],
    ]


@pytest.mark.django_db
def test_a_partner_breach_answered_before_it_is_told_tells_the_desk_but_escalates_nobody(
    monkeypatch, analyst, partner_manager, lead, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    now = freeze(monkeypatch, mx(2026, 4, 13, 10, 0))
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    incident_transition(incident=desk.refresh(), actor=analyst, to="triaging")
    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    partner_ack = desk.clock("acknowledge", desk.bbva)
    sla_sweep(now=partner_ack.due_at)
    breach = SlaClockEvent.objects.get(kind=Kind.BREACH, clock=partner_ack)
    now.set(partner_ack.due_at + 1 * M)
    partner_reply(notice)  # BBVA answers a minute late, before the notification task ran
    mail.outbox.clear()

    assert notify_and_mail(event_id=breach.pk) == "notified"

    assert not Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation").exists()
    assert desk.engagement(desk.bbva).escalation_level == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@payhealth.test", "lucia@payhealth.test"]


# --- end to end: a real worker and a real SMTP server -----------------------------------------

SLA_TASKS = ["cases.notify_sla_event_task", "cases.deliver_sla_mail_task", "cases.deliver_correspondence_task"]


@pytest.fixture(scope="module")
def sla_worker(django_db_setup, tmp_path_factory):
    with scripted_smtp_server() as (port, handler):
        queue = f"sla-{uuid.uuid4().hex[:12]}"
        log = tmp_path_factory.mktemp("sla-worker") / "worker.log"
        env = subprocess_env(
            DATABASE_URL=database_url_for_workers(),
            EMAIL_URL=f"smtp://127.0.0.1:{port}?timeout=10",
            PAYHEALTH_SITE_URL="https://payhealth.example.test",
        )
        process = start_celery_worker(queue=queue, log_path=log, env=env)
        try:
            wait_for(lambda: worker_is_ready(log) or process.poll() is not None, timeout=60, what="the worker")
            assert process.poll() is None, log.read_text()
            with celery_routes(app, SLA_TASKS, queue):
                yield handler, log
        finally:
            stop_celery_worker(process)
            delete_queue(app, queue)


def wait_until_worker_ran_everything_queued(log) -> None:
    """Wait until the worker has run every task queued for it so far: a marker task, queued after
    them, has finished, and so has every task the worker received. The worker runs one task at a
    time, in the order the broker hands them out, which is the order they were queued in."""
    marker = tasks_module.notify_sla_event_task.apply_async(args=[0])  # no such event: "skipped", no mail

    def ran_everything() -> bool:
        text = log.read_text()
        received = set(re.findall(r"Task [\w.]+\[([\w-]+)\] received", text))
        finished = set(re.findall(r"Task [\w.]+\[([\w-]+)\] (?:succeeded|raised|failed)", text))
        return marker.id in finished and received <= finished

    wait_for(ran_everything, timeout=60, what="the worker to run the tasks queued before the marker")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_mails_a_warning_and_a_breach_exactly_once_even_when_the_sweep_runs_twice(
    sla_worker, monkeypatch, analyst, lead, settings
):
    smtp, log = sla_worker
    smtp.reset()
    set_profile(analyst, language="es", zone="America/Mexico_City")
    set_profile(lead, language="en", zone="America/New_York")
    (incident,) = sev1_incidents(monkeypatch, analyst, 1)

    assert sla_sweep(now=T0 + 12 * M) == SweepResult(warned=1, breached=0)
    assert sla_sweep(now=T0 + 12 * M) == SweepResult(warned=0, breached=0)
    assert sla_sweep(now=T0 + 16 * M) == SweepResult(warned=0, breached=1)
    assert sla_sweep(now=T0 + 16 * M) == SweepResult(warned=0, breached=0)

    def notified():
        return SlaClockEvent.objects.filter(kind__in=[Kind.WARN, Kind.BREACH], notified_at__isnull=False).count() == 2

    wait_for(notified, timeout=60, what="both events notified")
    # a later sweep: nothing new crossed (first notice warns at +22:30), and the events, older than
    # five minutes but notified, are not queued again
    assert sla_sweep(now=T0 + 20 * M) == SweepResult(warned=0, breached=0)
    wait_until_worker_ran_everything_queued(log)  # any duplicate would have been mailed by now

    accepted = sorted((m["To"], str(m["Subject"]).strip()) for m in smtp.accepted)
    reference = incident.reference
    assert accepted == sorted(
        [
            ("ana@payhealth.test", f"[{reference}] " + spanish_or_english("breach", "es")),
            ("ana@payhealth.test", f"[{reference}] " + spanish_or_english("warn", "es")),
            ("lucia@payhealth.test", f"[{reference}] SLA breached: Acknowledge"),
            (
                "lucia@payhealth.test",
                f"[{reference}] SLA warning: Acknowledge due 2026-04-13 12:15 EDT (US Eastern time)",
            ),
        ]
    )
    assert len({m["Message-ID"] for m in smtp.accepted}) == 4
    owner_mail = next(m for m in smtp.accepted if m["To"] == "ana@payhealth.test")
    assert owner_mail["Content-Language"] == "es-MX"
    assert "Severidad: SEV1" in owner_mail.get_content()
    assert re.search(r"https://payhealth\.example\.test/\S+" + reference, owner_mail.get_content())


def spanish_or_english(kind: str, language: str) -> str:
    """The subject as rendered in this process (the Spanish text depends on the compiled catalogue)."""
    from django.template.loader import render_to_string

    with translation.override(language):
        context = {
            "breached": kind == "breach",
            "reference": "",
            "metric": str(SlaClock.Metric.ACKNOWLEDGE.label),
            "partner": "",
            "due": "2026-04-13 10:15 CST (" + str(_zone_label()) + ")",
        }
        return " ".join(render_to_string("sla/email/subject.txt", context).split()).removeprefix("[] ")


def _zone_label():
    from cases.correspondence.context import zone_label

    return zone_label("America/Mexico_City")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_mails_everyone_once_when_the_server_refuses_one_lead(sla_worker, monkeypatch, analyst, lead):
    """One lead's mailbox answers 550: the owner and the other lead are mailed once, the refusal
    is recorded for that lead alone, and later sweeps send nothing again."""
    smtp, log = sla_worker
    smtp.reset()
    other_lead = UserFactory(username="leo", role="lead", email="leo@payhealth.test")
    smtp.refuse["lucia@payhealth.test"] = "550 5.1.1 <lucia@payhealth.test>: mailbox unavailable"
    sev1_incidents(monkeypatch, analyst, 1)
    try:
        assert sla_sweep(now=T0 + 12 * M) == SweepResult(warned=1, breached=0)
        (warn,) = sweep_events(Kind.WARN)

        def settled():
            rows = SlaNotification.objects.filter(event=warn)
            return rows.count() == 3 and not rows.filter(status__in=["pending", "sending"]).exists()

        wait_for(settled, timeout=60, what="every mail of the warning to be sent or refused")
        for later in (T0 + 13 * M, T0 + 14 * M):  # sweeps after the refusal, the warning older than any threshold
            assert sla_sweep(now=later) == SweepResult(warned=0, breached=0)
        wait_until_worker_ran_everything_queued(log)  # any repeat would have been mailed by now
    finally:
        smtp.refuse.clear()

    rows = {row.address: row for row in SlaNotification.objects.filter(event=warn)}
    assert {address: (row.status, row.attempts) for address, row in rows.items()} == {
        "ana@payhealth.test": ("sent", 1),
        "leo@payhealth.test": ("sent", 1),
        "lucia@payhealth.test": ("failed", 1),
    }
    assert rows["lucia@payhealth.test"].last_error.endswith("550 5.1.1 <lucia@payhealth.test>: mailbox unavailable")
    assert sorted(m["To"] for m in smtp.accepted) == ["ana@payhealth.test", other_lead.email]
    assert [m["To"] for m in smtp.seen].count("lucia@payhealth.test") == 0  # refused at RCPT, never handed over


@pytest.mark.django_db
def test_after_the_broker_returns_the_sweep_queues_again_an_unnotified_event_however_young(
    monkeypatch, analyst, django_capture_on_commit_callbacks
):
    sev1_incidents(monkeypatch, analyst, 1)
    sla_sweep(now=WARN_AT)  # its notification task is then lost with the broker
    (warn,) = sweep_events(Kind.WARN)
    soon = WARN_AT + timedelta(seconds=10)

    with django_capture_on_commit_callbacks() as callbacks:
        sla_sweep(now=soon)
    assert published(callbacks, NOTIFY_TASK) == []  # younger than the stuck threshold

    with django_capture_on_commit_callbacks() as callbacks:
        sla_sweep(now=soon, reconnected_at=WARN_AT + timedelta(seconds=5))
    assert published(callbacks, NOTIFY_TASK) == [[warn.pk]]
