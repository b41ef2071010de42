"""SLA clocks through the real services: which clocks start, when they
pause, resume, stop and re-target, and the traps of §4 with real calendars. Every expected instant
is worked out by hand in the comments (Mexico City is UTC−6 all year; New York is UTC−5 until
8 March 2026, UTC−4 after). The incremental state always equals `clock_replay`.
"""

from __future__ import annotations

import pytest

from cases.models import CaseEvent, SlaClock, SlaClockEvent, SlaPolicy
from cases.services import engagement_update, incident_change_severity, incident_transition
from cases.sla.rules import RESOLVED_BY_DESK
from cases.sla.sweep import sla_sweep
from partners.models import BusinessCalendar
from tests.cases.sla.data import (
    H,
    M,
    assert_replay_matches,
    deliver_notice,
    freeze,
    mx,
    partner_reply,
    sla_desk,
    utc,
)

pytestmark = pytest.mark.django_db
State = SlaClock.State


@pytest.fixture(autouse=True)
def _mail_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def now(monkeypatch):
    return freeze(monkeypatch, mx(2026, 4, 13, 10, 0))  # Monday 13 April 2026, 10:00 CST = 16:00 UTC


def kinds(clock: SlaClock) -> list[tuple[str, int]]:
    return [(event.kind, event.cycle) for event in clock.events.order_by("at", "id")]


def move(desk, actor, to, at, reason="", **extra):
    desk.refresh()
    return incident_transition(incident=desk.incident, actor=actor, to=to, reason=reason, **extra)


def every_clock_replays(desk) -> None:
    for clock in SlaClock.objects.filter(incident=desk.incident):
        assert_replay_matches(clock)


# --- lifecycle --------------------------------------------------------------------------------


def test_opening_a_sev3_incident_starts_our_three_clocks_on_mexican_banking_hours(now, analyst):
    desk = sla_desk(actor=analyst)

    clocks = {clock.metric: clock for clock in SlaClock.objects.filter(incident=desk.incident)}
    # the update cadence starts with the first notice, partner clocks with their first notice
    assert set(clocks) == {"acknowledge", "first_notice", "resolve"}
    mx_banking = BusinessCalendar.objects.get(code="mx-banking")
    assert {(clock.family, clock.calendar_id, clock.state) for clock in clocks.values()} == {
        ("ours", mx_banking.pk, State.RUNNING)
    }
    assert {clock.policy for clock in clocks.values()} == {
        SlaPolicy.objects.get(severity="sev3", partner_kind="", category="")
    }
    ack = clocks["acknowledge"]
    assert (ack.target, ack.warn_after, ack.started_at) == (4 * H, 3 * H, utc(2026, 4, 13, 16))
    # 10:00 + 4 business hours = 14:00 CST (20:00Z); warning at 75 % = 13:00 CST
    assert (ack.due_at, ack.warn_due_at) == (utc(2026, 4, 13, 20), utc(2026, 4, 13, 19))
    # first notice, 9 h: Monday 10–18 is 8 h, then 1 h on Tuesday: 10:00 CST
    assert clocks["first_notice"].due_at == utc(2026, 4, 14, 16)
    # resolve, 45 h: Mon 8 + Tue–Fri 36 = 44 h, then 1 h on Monday 20 April: 10:00 CST
    assert clocks["resolve"].due_at == utc(2026, 4, 20, 16)
    assert all(kinds(clock) == [("start", 1)] for clock in clocks.values())
    every_clock_replays(desk)


def test_a_sev1_incident_runs_on_the_24x7_calendar(now, analyst):
    desk = sla_desk(actor=analyst, severity="sev1")

    due = {clock.metric: clock.due_at for clock in SlaClock.objects.filter(incident=desk.incident)}
    assert due == {"acknowledge": utc(2026, 4, 13, 16, 15), "first_notice": utc(2026, 4, 13, 16, 30),
                   "resolve": utc(2026, 4, 13, 20)}  # fmt: skip


def test_a_sev4_incident_has_no_first_notice_clock_and_skips_labour_day(now, analyst):
    desk = sla_desk(actor=analyst, severity="sev4")

    due = {clock.metric: clock.due_at for clock in SlaClock.objects.filter(incident=desk.incident)}
    # acknowledge, 9 h: Monday 10–18 (8 h) + 1 h Tuesday = 10:00 CST on 14 April.
    # resolve, 180 h: 8 h on Monday, then 19 full days (14–17, 20–24, 27–30 April: 1 May is a bank
    # holiday, 4–8, 11 May) = 171 h, then 1 h on Tuesday 12 May: 10:00 CST.
    assert due == {"acknowledge": utc(2026, 4, 14, 16), "resolve": utc(2026, 5, 12, 16)}


def test_leaving_new_meets_acknowledge_and_nothing_else(now, analyst):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 11, 0))

    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 11, 30))
    move(desk, analyst, "investigating", now)

    ack = desk.clock("acknowledge")
    assert (ack.state, ack.consumed, ack.stopped_at) == (State.MET, 1 * H, utc(2026, 4, 13, 17))
    assert (ack.due_at, ack.warn_due_at) == (None, None)
    assert kinds(ack) == [("start", 1), ("stop", 1)]
    assert ack.events.get(kind="stop").data == {"outcome": "met", "status": "triaging"}
    assert {desk.clock(m).state for m in ("first_notice", "resolve")} == {State.RUNNING}
    every_clock_replays(desk)


def test_waiting_on_partner_pauses_ours_and_only_a_real_reply_resumes_them(now, analyst, partner_manager):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 10, 30))
    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    now.set(mx(2026, 4, 13, 11, 0))

    move(desk, analyst, "waiting_on_partner", now, reason="Esperando folio de BBVA", partner=desk.bbva)

    resolve, update = desk.clock("resolve"), desk.clock("update")
    assert (resolve.state, resolve.pause_reason, resolve.consumed) == (State.PAUSED, "Esperando folio de BBVA", 1 * H)
    assert (update.state, update.consumed) == (State.PAUSED, 30 * M)  # started with the notice at 10:30
    assert (resolve.due_at, resolve.warn_due_at, update.due_at) == (None, None, None)
    assert desk.clock("first_notice").state == State.MET  # never waits
    assert desk.clock("acknowledge", desk.bbva).state == State.RUNNING  # the partner's clocks run while we wait
    paused = CaseEvent.objects.filter(incident=desk.incident, kind=CaseEvent.Kind.SLA_PAUSED).order_by("id")
    assert [event.data for event in paused] == [
        {"clock": c.pk, "metric": c.metric, "family": "ours", "partner": None, "reason": "Esperando folio de BBVA"}
        for c in sorted([resolve, update], key=lambda c: c.pk)
    ]

    now.set(mx(2026, 4, 13, 11, 30))
    partner_reply(notice, auto=True)

    assert desk.clock("resolve").state == State.PAUSED
    assert desk.clock("acknowledge", desk.bbva).state == State.RUNNING

    now.set(mx(2026, 4, 13, 12, 0))
    partner_reply(notice)

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.consumed_at) == (State.RUNNING, 1 * H, utc(2026, 4, 13, 18))
    # 44 h left from Monday 12:00: Mon 6, Tue–Fri 36 (42), Monday 20 April 09:00 + 2 h = 11:00 CST
    assert resolve.due_at == utc(2026, 4, 20, 17)
    assert desk.clock("update").state == State.RUNNING
    partner_ack = desk.clock("acknowledge", desk.bbva)
    assert (partner_ack.state, partner_ack.consumed) == (State.MET, 90 * M)  # 10:30 → 12:00
    resumed = CaseEvent.objects.filter(incident=desk.incident, kind=CaseEvent.Kind.SLA_RESUMED)
    assert sorted(event.data["metric"] for event in resumed) == ["resolve", "update"]
    assert desk.refresh().status == "waiting_on_partner"
    every_clock_replays(desk)


def test_a_reply_from_a_partner_already_marked_resolved_does_not_end_the_wait(now, analyst, partner_manager):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 10, 30))
    to_bbva = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    to_visa = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.visa)
    now.set(mx(2026, 4, 13, 11, 0))
    engagement_update(engagement=desk.engagement(desk.bbva), actor=partner_manager, partner_status="resolved")
    move(desk, analyst, "waiting_on_partner", now, reason="Visa revisa su stand-in")

    now.set(mx(2026, 4, 13, 11, 30))
    partner_reply(to_bbva)  # "received": BBVA is done, the desk waits on Visa

    assert desk.clock("resolve").state == State.PAUSED
    assert not CaseEvent.objects.filter(incident=desk.incident, kind=CaseEvent.Kind.SLA_RESUMED).exists()

    now.set(mx(2026, 4, 13, 12, 0))
    partner_reply(to_visa, sender="Visa Issuer Support <support@visa.test>")

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.consumed_at) == (State.RUNNING, 1 * H, utc(2026, 4, 13, 18))
    assert desk.clock("acknowledge", desk.visa).state == State.MET
    every_clock_replays(desk)


def test_leaving_waiting_on_partner_resumes_and_resolving_from_it_stops(now, analyst):
    desk = sla_desk(actor=analyst, partners=False)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 11, 0))
    move(desk, analyst, "waiting_on_partner", now, reason="Waiting for the switch")
    now.set(mx(2026, 4, 13, 13, 0))

    move(desk, analyst, "investigating", now, reason="Confirmed by phone")

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed) == (State.RUNNING, 1 * H)
    assert resolve.events.get(kind="resume").reason == "Confirmed by phone"

    now.set(mx(2026, 4, 13, 14, 0))
    move(desk, analyst, "waiting_on_partner", now, reason="Waiting again")
    now.set(mx(2026, 4, 13, 15, 0))
    move(desk, analyst, "resolved", now)

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.stopped_at) == (State.MET, 2 * H, utc(2026, 4, 13, 21))
    assert kinds(resolve) == [("start", 1), ("pause", 1), ("resume", 1), ("pause", 1), ("stop", 1)]
    # first notice was never needed: resolved before any notice
    assert desk.clock("first_notice").state == State.CANCELLED
    every_clock_replays(desk)


def test_the_first_notice_starts_partner_clocks_and_the_cadence_and_later_notices_renew_it(
    now, analyst, partner_manager
):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 10, 30))

    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)

    first_notice = desk.clock("first_notice")
    assert (first_notice.state, first_notice.consumed) == (State.MET, 30 * M)
    update = desk.clock("update")
    assert (update.cycle, update.state, update.target) == (1, State.RUNNING, 9 * H)
    # 9 h from Monday 10:30: 7.5 h on Monday, then Tuesday 09:00 + 1.5 h = 10:30 CST
    assert update.due_at == utc(2026, 4, 14, 16, 30)
    bbva_clocks = SlaClock.objects.filter(engagement__partner=desk.bbva)
    assert sorted((c.metric, c.family, c.state, c.started_at) for c in bbva_clocks) == [
        ("acknowledge", "partner", State.RUNNING, utc(2026, 4, 13, 16, 30)),
        ("resolve", "partner", State.RUNNING, utc(2026, 4, 13, 16, 30)),
    ]
    assert not SlaClock.objects.filter(engagement__partner=desk.visa).exists()

    now.set(mx(2026, 4, 13, 14, 0))
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva, kind="update")

    update = desk.clock("update")
    assert (update.cycle, update.state, update.consumed, update.started_at) == (
        2,
        State.RUNNING,
        0 * H,
        utc(2026, 4, 13, 16, 30),
    )
    # cycle 2 from Monday 14:00: 4 h on Monday, Tuesday 09:00 + 5 h = 14:00 CST
    assert update.due_at == utc(2026, 4, 14, 20)
    assert kinds(update) == [("start", 1), ("stop", 1), ("start", 2)]
    stop = update.events.get(kind="stop")
    assert (stop.at, stop.data["outcome"]) == (utc(2026, 4, 13, 20), "met")
    assert bbva_clocks.count() == 2 and {c.started_at for c in bbva_clocks} == {utc(2026, 4, 13, 16, 30)}

    now.set(mx(2026, 4, 13, 14, 30))
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.visa)

    visa_ack = desk.clock("acknowledge", desk.visa)
    assert visa_ack.calendar.code == "us-eastern-business"  # Visa keeps its own hours
    # 14:30 CST = 16:30 EDT: 1.5 h until 18:00 EDT, then Tuesday 09:00 EDT + 2.5 h = 11:30 EDT = 15:30Z
    assert visa_ack.due_at == utc(2026, 4, 14, 15, 30)
    assert desk.clock("update").cycle == 3
    every_clock_replays(desk)


def test_one_compose_to_several_partners_renews_the_cadence_once(now, analyst, partner_manager):
    from cases.correspondence.compose import notice_compose
    from cases.correspondence.delivery import correspondence_deliver
    from cases.correspondence.dispatch import notice_send

    desk = sla_desk(actor=analyst)
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)  # cycle 1 at 10:00
    now.set(mx(2026, 4, 13, 11, 0))
    drafts = notice_compose(
        incident=desk.incident, actor=analyst, kind="update", partners=[desk.bbva, desk.visa]
    ).drafts
    assert len(drafts) == 2

    for draft in drafts:  # BBVA in Spanish, Visa in English: two messages of one update
        notice_send(correspondence=draft, actor=partner_manager)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"

    update = desk.clock("update")
    assert update.cycle == 2
    assert kinds(update) == [("start", 1), ("stop", 1), ("start", 2)]
    every_clock_replays(desk)


def test_resolving_stops_ours_and_cancels_the_partners_clocks(now, analyst, partner_manager):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 10, 30))
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    now.set(mx(2026, 4, 13, 16, 0))

    move(desk, analyst, "resolved", now)

    assert (desk.clock("resolve").state, desk.clock("resolve").consumed) == (State.MET, 6 * H)
    update = desk.clock("update")
    assert (update.state, update.consumed, update.due_at) == (State.MET, 5 * H + 30 * M, None)
    for metric in ("acknowledge", "resolve"):
        clock = desk.clock(metric, desk.bbva)
        assert (clock.state, clock.stopped_at) == (State.CANCELLED, utc(2026, 4, 13, 22))
        assert clock.events.get(kind="stop").reason == RESOLVED_BY_DESK
    assert SlaClock.objects.filter(incident=desk.incident, state__in=[State.RUNNING, State.PAUSED]).count() == 0
    every_clock_replays(desk)


def test_the_partner_resolve_clock_pauses_while_mitigated_and_stops_when_the_partner_resolves(
    now, analyst, partner_manager
):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 10, 30))
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    now.set(mx(2026, 4, 13, 11, 0))

    move(desk, analyst, "mitigated", now, reason="Traffic rerouted to another acquirer")

    partner_resolve = desk.clock("resolve", desk.bbva)
    assert (partner_resolve.state, partner_resolve.consumed) == (State.PAUSED, 30 * M)
    assert desk.clock("acknowledge", desk.bbva).state == State.RUNNING
    assert desk.clock("resolve").state == State.RUNNING  # ours does not pause in mitigated

    now.set(mx(2026, 4, 13, 12, 0))
    move(desk, analyst, "investigating", now, reason="Declines are back")
    now.set(mx(2026, 4, 13, 13, 0))
    engagement_update(engagement=desk.engagement(desk.bbva), actor=partner_manager, partner_status="acknowledged")

    partner_ack = desk.clock("acknowledge", desk.bbva)
    assert (partner_ack.state, partner_ack.consumed) == (State.MET, 150 * M)  # 10:30 → 13:00

    now.set(mx(2026, 4, 13, 15, 0))
    engagement_update(engagement=desk.engagement(desk.bbva), actor=partner_manager, partner_status="resolved")

    partner_resolve = desk.clock("resolve", desk.bbva)
    # 10:30–11:00, paused until 12:00, then 12:00–15:00
    assert (partner_resolve.state, partner_resolve.consumed) == (State.MET, 3 * H + 30 * M)
    assert kinds(partner_resolve) == [("start", 1), ("pause", 1), ("resume", 1), ("stop", 1)]
    every_clock_replays(desk)


# --- The traps of business time (docs/sla.md) -----------------------------------------------------


def test_trap_a_pause_spanning_a_mexican_bank_holiday(monkeypatch, analyst):
    now = freeze(monkeypatch, mx(2026, 3, 12, 9, 0))  # Thursday 12 March 2026
    desk = sla_desk(actor=analyst, partners=False)
    now.set(mx(2026, 3, 12, 9, 30))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 3, 12, 12, 0))
    move(desk, analyst, "waiting_on_partner", now, reason="Waiting on the switch")
    assert desk.clock("resolve").consumed == 3 * H  # 09:00–12:00 Thursday

    # Monday 16 March is a bank holiday (Benito Juárez); the desk resumes at 10:00 that day
    now.set(mx(2026, 3, 16, 10, 0))
    move(desk, analyst, "investigating", now, reason="Switch answered")

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.consumed_at) == (State.RUNNING, 3 * H, utc(2026, 3, 16, 16))
    # 42 h left, counted from Tuesday 17 09:00 (the holiday is closed): Tue 9, Wed 9, Thu 9, Fri 9
    # (36 h), then Monday 23 09:00 + 6 h = 15:00 CST = 21:00Z
    assert resolve.due_at == utc(2026, 3, 23, 21)
    # warning at 33 h 45 min, 30 h 45 min left: Tue, Wed, Thu (27 h), Friday 20 09:00 + 3 h 45 = 12:45 CST
    assert resolve.warn_due_at == utc(2026, 3, 20, 18, 45)

    now.set(mx(2026, 3, 17, 10, 0))
    move(desk, analyst, "resolved", now)
    assert desk.clock("resolve").consumed == 4 * H  # plus Tuesday 09:00–10:00; nothing on the holiday
    every_clock_replays(desk)


def test_trap_resume_outside_business_hours(monkeypatch, analyst):
    now = freeze(monkeypatch, mx(2026, 4, 14, 16, 0))  # Tuesday 14 April, 16:00 CST
    desk = sla_desk(actor=analyst, partners=False)
    now.set(mx(2026, 4, 14, 16, 10))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 14, 17, 0))
    move(desk, analyst, "waiting_on_partner", now, reason="Waiting on the issuer")
    now.set(mx(2026, 4, 14, 21, 30))  # 03:30Z on Wednesday

    move(desk, analyst, "investigating", now, reason="Issuer replied at night")

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.consumed_at) == (State.RUNNING, 1 * H, utc(2026, 4, 15, 3, 30))
    # 44 h left from the next opening, Wednesday 09:00: Wed, Thu, Fri, Mon (36 h), Tuesday 21
    # 09:00 + 8 h = 17:00 CST = 23:00Z
    assert resolve.due_at == utc(2026, 4, 21, 23)
    # warning: 33 h 45 min − 1 h = 32 h 45 min: Wed, Thu, Fri (27 h), Monday 20 09:00 + 5 h 45 = 14:45 CST
    assert resolve.warn_due_at == utc(2026, 4, 20, 20, 45)

    now.set(mx(2026, 4, 15, 9, 30))
    move(desk, analyst, "resolved", now)
    assert desk.clock("resolve").consumed == 90 * M  # the night counted nothing
    every_clock_replays(desk)


def test_trap_severity_change_mid_flight_retargets_to_24x7_and_keeps_consumed(now, analyst):
    desk = sla_desk(actor=analyst, partners=False)  # SEV3, Monday 10:00 CST
    now.set(mx(2026, 4, 13, 10, 5))
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 4, 13, 12, 0))  # 18:00Z

    incident_change_severity(incident=desk.refresh(), actor=analyst, severity="sev1", reason="Issuer fully down")

    always = BusinessCalendar.objects.get(code="24x7")
    sev1 = SlaPolicy.objects.get(severity="sev1", partner_kind="")
    resolve = desk.clock("resolve")
    assert (resolve.target, resolve.calendar_id, resolve.policy_id, resolve.consumed) == (
        4 * H,
        always.pk,
        sev1.pk,
        2 * H,  # 10:00–12:00 business time, kept
    )
    # 2 h left on 24x7 from 18:00Z; warning at 3 h consumed: 1 h left
    assert (resolve.due_at, resolve.warn_due_at) == (utc(2026, 4, 13, 20), utc(2026, 4, 13, 19))
    retarget = resolve.events.get(kind="retarget")
    assert (retarget.data["old_target"], retarget.data["new_target"]) == (45 * 3600, 4 * 3600)
    # first notice: 2 h consumed against a new 30 min target: due at once
    first_notice = desk.clock("first_notice")
    assert (first_notice.target, first_notice.due_at, first_notice.warn_due_at) == (
        30 * M,
        utc(2026, 4, 13, 18),
        utc(2026, 4, 13, 18),
    )
    assert desk.clock("acknowledge").target == 4 * H  # stopped clocks keep their target

    result = sla_sweep(now=utc(2026, 4, 13, 18, 0, 1))

    assert (result.warned, result.breached) == (1, 1)
    first_notice = desk.clock("first_notice")
    assert (first_notice.breached_at, first_notice.state) == (utc(2026, 4, 13, 18), State.RUNNING)
    every_clock_replays(desk)


def test_trap_reopen_after_resolve_resumes_the_resolve_clock_with_consumed_kept(monkeypatch, analyst):
    now = freeze(monkeypatch, utc(2026, 4, 13, 10))
    desk = sla_desk(actor=analyst, severity="sev2", partners=False)  # 8 h on 24x7
    now.set(utc(2026, 4, 13, 10, 10))
    move(desk, analyst, "triaging", now)
    now.set(utc(2026, 4, 13, 10, 30))
    move(desk, analyst, "investigating", now)
    now.set(utc(2026, 4, 13, 13))
    move(desk, analyst, "resolved", now)
    assert (desk.clock("resolve").state, desk.clock("resolve").consumed) == (State.MET, 3 * H)
    now.set(utc(2026, 4, 13, 15))

    move(desk, analyst, "investigating", now, reason="Declines are back")

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.stopped_at) == (State.RUNNING, 3 * H, None)
    # 5 h left from 15:00; the warning at 6 h consumed: 3 h left
    assert (resolve.due_at, resolve.warn_due_at) == (utc(2026, 4, 13, 20), utc(2026, 4, 13, 18))
    assert resolve.events.get(kind="resume").reason == "Declines are back"

    now.set(utc(2026, 4, 13, 16))
    move(desk, analyst, "resolved", now)

    resolve = desk.clock("resolve")
    assert (resolve.state, resolve.consumed, resolve.stopped_at) == (State.MET, 4 * H, utc(2026, 4, 13, 16))
    assert kinds(resolve) == [("start", 1), ("stop", 1), ("resume", 1), ("stop", 1)]
    every_clock_replays(desk)


def test_trap_an_incident_opened_at_2330_on_31_december(monkeypatch, analyst):
    freeze(monkeypatch, mx(2026, 12, 31, 23, 30))  # 05:30Z on 1 January 2027

    desk = sla_desk(actor=analyst, partners=False)

    ack = desk.clock("acknowledge")
    assert ack.started_at == utc(2027, 1, 1, 5, 30)
    # 1 January (Friday) is a bank holiday, then the weekend: the first business morning is
    # Monday 4 January 09:00 CST; + 4 h = 13:00 CST = 19:00Z; warning at 3 h = 12:00 CST
    assert (ack.due_at, ack.warn_due_at) == (utc(2027, 1, 4, 19), utc(2027, 1, 4, 18))
    # first notice, 9 h: all of Monday, 18:00 CST = 00:00Z on Tuesday
    assert desk.clock("first_notice").due_at == utc(2027, 1, 5, 0)
    # resolve, 45 h: Monday to Friday 8 January, 18:00 CST = 00:00Z on Saturday
    assert desk.clock("resolve").due_at == utc(2027, 1, 9, 0)
    every_clock_replays(desk)


def test_trap_a_us_partner_on_us_eastern_hours_across_the_dst_change(monkeypatch, analyst, partner_manager):
    now = freeze(monkeypatch, mx(2026, 3, 6, 14, 0))  # Friday 6 March, 14:00 CST = 15:00 EST
    desk = sla_desk(actor=analyst)
    move(desk, analyst, "triaging", now)
    now.set(mx(2026, 3, 6, 15, 0))  # 21:00Z = 16:00 EST

    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.visa)

    ack = desk.clock("acknowledge", desk.visa)
    assert ack.calendar.code == "us-eastern-business"
    # 16:00–18:00 EST Friday is 2 h; clocks spring forward on Sunday 8 March; Monday 9 opens at
    # 09:00 EDT = 13:00Z: + 2 h = 11:00 EDT = 15:00Z (16:00Z if EST were kept)
    assert ack.due_at == utc(2026, 3, 9, 15)
    assert ack.warn_due_at == utc(2026, 3, 9, 14)  # 3 h: 1 h on Monday, 10:00 EDT
    # resolve, 45 h: 2 h Friday, Mon–Thu 36 h, Friday 13 09:00 EDT + 7 h = 16:00 EDT = 20:00Z
    assert desk.clock("resolve", desk.visa).due_at == utc(2026, 3, 13, 20)

    now.set(utc(2026, 3, 9, 14, 30))  # 10:30 EDT
    partner_reply(notice, sender="Visa Issuer Support <support@visa.test>")

    ack = desk.clock("acknowledge", desk.visa)
    assert (ack.state, ack.consumed) == (State.MET, 3 * H + 30 * M)  # 2 h Friday + 1.5 h Monday
    every_clock_replays(desk)


def test_an_incident_without_clocks_is_left_alone(now, analyst):
    from tests.factories import IncidentFactory

    incident = IncidentFactory(status="new")

    incident_transition(incident=incident, actor=analyst, to="triaging")

    assert not SlaClock.objects.filter(incident=incident).exists()
    assert not SlaClockEvent.objects.exists()


def test_the_hooks_cost_a_few_queries_whatever_they_do(now, analyst, django_assert_max_num_queries):
    from cases.sla.clocks import sla_clocks_start_for_incident, sla_on_transition
    from tests.factories import IncidentFactory

    incident = IncidentFactory(status="new")
    # policy, clocks, 3 for the calendar, events, state, savepoint, the reports' rollup mark
    with django_assert_max_num_queries(10):
        sla_clocks_start_for_incident(incident=incident, at=now())
    with django_assert_max_num_queries(3):  # nothing to change: the clock lock only
        sla_on_transition(incident=incident, actor=analyst, old="triaging", new="investigating", reason="", at=now())
    with django_assert_max_num_queries(11):  # + the two timeline rows of the pauses
        sla_on_transition(
            incident=incident, actor=analyst, old="investigating", new="waiting_on_partner", reason="x", at=now()
        )
    assert SlaClock.objects.filter(incident=incident, state=State.PAUSED).count() == 2


def _first_notices_delivered_together(partners: int, analyst, partner_manager, at) -> tuple:
    """An incident engaging `partners` partners, a breakage notice to each delivered in one batch:
    the batch's queries, and the incident."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.correspondence.compose import notice_compose
    from cases.correspondence.delivery import correspondence_deliver_batch
    from cases.correspondence.dispatch import notices_send
    from cases.models import Incident
    from cases.services import incident_open
    from partners.models import NoticeTemplate
    from partners.notices import load_notice_templates
    from tests.factories import PartnerContactFactory, PartnerFactory

    load_notice_templates(NoticeTemplate)
    engaged = [PartnerFactory(language="es" if n % 2 else "en") for n in range(partners)]
    for partner in engaged:
        PartnerContactFactory(partner=partner)
    incident = incident_open(
        actor=analyst, owner=analyst, title="Caída", category="auth_rate", severity="sev3", partners=engaged
    )
    Incident.objects.filter(pk=incident.pk).update(
        partner_title_en="Approval drop",
        partner_title_es="Caída de aprobación",
        partner_summary_en="Authorizations decline more than usual.",
        partner_summary_es="Las autorizaciones se rechazan más de lo habitual.",
    )
    drafts = notice_compose(incident=incident, actor=analyst, kind="breakage").drafts
    notices_send(correspondences=drafts, actor=partner_manager)
    with CaptureQueriesContext(connection) as queries:
        result = correspondence_deliver_batch(correspondence_ids=[row.pk for row in drafts])
    assert len(result.sent) == partners
    return len(queries.captured_queries), incident


def test_first_notices_delivered_together_start_every_partners_clocks_in_queries_that_do_not_grow(
    now, analyst, partner_manager
):
    from cases.models import PartnerEngagement

    two, _ = _first_notices_delivered_together(2, analyst, partner_manager, now)
    six, incident = _first_notices_delivered_together(6, analyst, partner_manager, now)

    assert six == two  # each incident's clocks locked and read once for the whole batch, not once a notice
    engagements = PartnerEngagement.objects.filter(incident=incident)
    assert {(e.partner_status, e.first_notified_at) for e in engagements} == {("notified", now())}
    partner_clocks = SlaClock.objects.filter(incident=incident, family="partner")
    assert sorted({(c.metric, c.state, c.started_at) for c in partner_clocks}) == [
        ("acknowledge", State.RUNNING, now()),
        ("resolve", State.RUNNING, now()),
    ]
    assert partner_clocks.count() == 12  # two for each of the six partners
    ours = SlaClock.objects.filter(incident=incident, family="ours")
    assert ours.get(metric="first_notice").state == State.MET
    assert kinds(ours.get(metric="update")) == [("start", 1)]  # one compose: one cycle, not one a notice
    assert CaseEvent.objects.filter(incident=incident, kind=CaseEvent.Kind.PARTNER_UPDATED).count() == 6
    for clock in SlaClock.objects.filter(incident=incident):
        assert_replay_matches(clock)


def test_a_partner_clock_a_concurrent_hook_made_first_is_the_only_one(now, analyst, partner_manager):
    from cases.correspondence.compose import notice_compose
    from cases.correspondence.dispatch import notice_send
    from cases.sla import rules
    from cases.sla.clocks import ClockLedger
    from cases.sla.rules import SentNotice

    desk = sla_desk(actor=analyst)
    engagement = desk.engagement(desk.bbva)
    [notice] = notice_compose(incident=desk.incident, actor=analyst, kind="breakage", partners=[desk.bbva]).drafts
    notice_send(correspondence=notice, actor=partner_manager)
    ledger = ClockLedger(incident=desk.incident, actor=None)  # this hook has read the incident's clocks…
    policy = ledger.policy_for(severity="sev3", partner=desk.bbva)
    theirs = rules.new_clock(
        incident_id=desk.incident.pk, metric="acknowledge", policy=policy, engagement=engagement, at=now()
    )
    theirs.save()  # …when another hook, not blocked by those locks, makes BBVA's acknowledge clock

    rules.on_notice_sent(
        ledger,
        status=desk.incident.status,
        severity="sev3",
        engagement=engagement,
        notice=SentNotice(pk=notice.pk, kind=notice.kind, created_at=notice.created_at),
        at=now(),
    )
    ledger.save()

    acknowledge = SlaClock.objects.get(engagement=engagement, metric="acknowledge")
    assert acknowledge.pk == theirs.pk and not acknowledge.events.exists()  # ours dropped, with its start
    resolve = SlaClock.objects.get(engagement=engagement, metric="resolve")  # the one nobody else made
    assert kinds(resolve) == [("start", 1)] and resolve.started_at == now()
    assert desk.clock("first_notice").state == State.MET
