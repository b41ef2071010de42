"""Follow-through after the first notice: the next logical kind per partner thread, the warning
before a second breakage notice, the update drafted when our update cadence warns, the RCA
request's due date on the partner's calendar (the Prosa outage: requested Saturday 10/08/2019,
due Friday 16/08/2019), its reminders and states, and the incident's action items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_release
from cases.correspondence.followup import next_notice_kinds
from cases.models import ActionItem, CaseEvent, Correspondence, RcaRequest, SlaClockEvent
from cases.rca.services import action_item_add, action_item_update, rca_change, rca_sweep
from cases.services import incident_transition
from cases.sla.sweep import sla_sweep
from tests.cases.sla.data import deliver_notice, freeze, notify_and_mail, sla_desk
from tests.cases.sla.data import mx as mx_now
from tests.factories import UserFactory
from tests.prosa import prosa_desk

CDMX = ZoneInfo("America/Mexico_City")
# Saturday 10 August 2019, 19:30 Mexico City (UTC−05:00 then): after the outage, the RCA is asked.
RCA_ASKED = datetime(2019, 8, 11, 0, 30, tzinfo=UTC)
Status = Correspondence.Status


@pytest.fixture
def email(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def other_lead(db):
    return UserFactory(username="leonor", role="lead")


def send(drafts, *, manager, lead):
    """Release the drafts (SEV1: a lead approves), then deliver them in this process."""
    for draft in drafts:
        row = notice_release(correspondence=draft, actor=manager)
        if row.status == Status.PENDING_APPROVAL:
            notice_approve(correspondence=row, actor=lead)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"
        draft.refresh_from_db()
    return drafts


def compose(desk, actor, kind, partners, **kwargs):
    return notice_compose(incident=desk.incident, actor=actor, kind=kind, partners=partners, **kwargs).drafts


# --- the next logical kind ----------------------------------------------------------------------


def test_each_partner_thread_moves_breakage_update_resolution_rca(db, email, analyst, partner_manager, other_lead):
    desk = prosa_desk(owner=analyst)
    kinds = next_notice_kinds(desk.incident)
    assert {pk: k.kind for pk, k in kinds.items()} == dict.fromkeys(
        [desk.prosa.pk, desk.bbva.pk, desk.visa.pk], "breakage"
    )

    send(compose(desk, analyst, "breakage", [desk.prosa]), manager=partner_manager, lead=other_lead)
    kinds = next_notice_kinds(desk.incident)
    assert (kinds[desk.prosa.pk].kind, kinds[desk.bbva.pk].kind) == ("update", "breakage")

    incident_transition(incident=desk.incident, actor=analyst, to="mitigated")
    desk.incident.refresh_from_db()
    assert next_notice_kinds(desk.incident)[desk.prosa.pk].kind == "resolution"

    send(compose(desk, analyst, "resolution", [desk.prosa]), manager=partner_manager, lead=other_lead)
    assert next_notice_kinds(desk.incident)[desk.prosa.pk].kind == "rca_request"
    send(compose(desk, analyst, "rca_request", [desk.prosa]), manager=partner_manager, lead=other_lead)
    assert next_notice_kinds(desk.incident)[desk.prosa.pk].kind == "follow_up"


def test_the_compose_page_preselects_the_next_kind_and_says_why(
    client, db, email, analyst, partner_manager, other_lead
):
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "breakage", [desk.prosa, desk.bbva]), manager=partner_manager, lead=other_lead)
    client.force_login(analyst)

    html = client.get(reverse("cases:notice_compose", args=[desk.incident.reference])).content.decode()

    assert '<option value="update" selected>' in html  # two partners of three are due an update
    assert "The breakage notice went out; the next message is an update." in html
    assert "Nothing was sent to this partner yet." in html  # Visa


# --- a second breakage notice -------------------------------------------------------------------


def test_a_second_breakage_notice_needs_an_explicit_confirmation(db, email, analyst, partner_manager, other_lead):
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "breakage", [desk.prosa]), manager=partner_manager, lead=other_lead)

    with pytest.raises(ValidationError) as refused:
        compose(desk, analyst, "breakage", [desk.prosa, desk.visa])
    assert "confirm_repeat" in refused.value.message_dict
    assert "Prosa already got a breakage notice" in refused.value.message_dict["confirm_repeat"][0]
    assert Correspondence.objects.filter(status=Status.DRAFT).count() == 0  # nothing half-written

    assert compose(desk, analyst, "breakage", [desk.visa])  # Visa got none: no warning
    assert len(compose(desk, analyst, "breakage", [desk.prosa], confirm_repeat=True)) == 1


@pytest.mark.parametrize(
    ("language", "warning", "label"),
    [
        ("en", "Prosa already got a breakage notice on this incident.", "Yes, send another breakage notice"),
        ("es", "Prosa ya recibió un aviso de falla en este incidente.", "Sí, enviar otro aviso de falla"),
    ],
)
def test_the_compose_page_warns_and_refuses_without_the_confirmation(
    client, db, email, analyst, partner_manager, other_lead, language, warning, label
):
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "breakage", [desk.prosa]), manager=partner_manager, lead=other_lead)
    client.force_login(analyst)
    url = reverse("cases:notice_compose", args=[desk.incident.reference])

    html = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert warning in html and label in html

    answer = client.post(url, {"kind": "breakage", "partners": [desk.prosa.pk]}, HTTP_ACCEPT_LANGUAGE=language)
    assert answer.status_code == 200
    assert Correspondence.objects.filter(status=Status.DRAFT).count() == 0
    answer = client.post(url, {"kind": "breakage", "partners": [desk.prosa.pk], "confirm_repeat": "on"})
    assert answer.status_code == 302
    assert Correspondence.objects.filter(status=Status.DRAFT, kind="breakage").count() == 1


def test_the_api_refuses_a_second_breakage_notice_without_confirm_repeat(
    db, email, analyst, partner_manager, other_lead
):
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "breakage", [desk.prosa]), manager=partner_manager, lead=other_lead)
    api = APIClient()
    api.force_authenticate(analyst)
    url = reverse("api:notice-compose", args=[desk.incident.reference])

    nexts = api.get(reverse("api:notice-next-kinds", args=[desk.incident.reference])).json()
    assert [(row["partner"]["code"], row["kind"], row["breakage_sent"]) for row in nexts] == [
        ("bbva-mx", "breakage", False),
        ("prosa", "update", True),
        ("visa", "breakage", False),
    ]
    refused = api.post(url, {"kind": "breakage", "partners": ["prosa"]}, format="json")
    assert refused.status_code == 400
    assert "confirm_repeat" in refused.content.decode()
    confirmed = api.post(url, {"kind": "breakage", "partners": ["prosa"], "confirm_repeat": True}, format="json")
    assert confirmed.status_code == 201
    assert len(confirmed.json()["drafts"]) == 1


# --- the update drafted when our update cadence warns --------------------------------------------


def test_our_update_cadence_warning_drafts_the_update_once(monkeypatch, db, email, analyst, partner_manager):
    now = freeze(monkeypatch, mx_now(2026, 3, 2, 9, 0))
    desk = sla_desk(actor=analyst, severity="sev3")
    now.set(mx_now(2026, 3, 2, 9, 5))
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    update = desk.clock("update")
    now.set(update.warn_due_at)

    sla_sweep(now=update.warn_due_at)
    warning = SlaClockEvent.objects.get(clock=update, kind="warn")
    assert notify_and_mail(event_id=warning.pk) == "notified"

    drafted = Correspondence.objects.filter(kind="update", status=Status.DRAFT)
    assert [(row.engagement.partner, row.created_by) for row in drafted] == [(desk.bbva, None)]  # Visa got nothing yet
    assert CaseEvent.objects.filter(kind="notice_drafted", actor=None, data__notice_kind="update").count() == 1
    # Once per warning: the task again, the sweep again.
    assert notify_and_mail(event_id=warning.pk) == "skipped"
    sla_sweep(now=update.warn_due_at + timedelta(minutes=5))
    assert SlaClockEvent.objects.filter(clock=update, kind="warn").count() == 1
    assert drafted.count() == 1


# --- the RCA request's due date ------------------------------------------------------------------


def test_the_rca_request_states_friday_16_08_2019_in_spanish_and_english(monkeypatch, db, email, analyst, settings):
    freeze(monkeypatch, RCA_ASKED)
    settings.PAYHEALTH_DESK_PHONE = "+52 55 8000 2400"
    settings.PAYHEALTH_DESK_BRIDGE_URL = "https://bridge.example.com/payhealth"
    settings.PAYHEALTH_DESK_ESCALATION_NAME = "Marta Gómez"
    desk = prosa_desk(owner=analyst)

    drafts = {
        row.engagement.partner.code: row for row in compose(desk, analyst, "rca_request", [desk.prosa, desk.visa])
    }

    prosa, visa = drafts["prosa"], drafts["visa"]
    assert "a más tardar el viernes 16/08/2019, al cierre del día hábil" in prosa.body_text
    assert "en un plazo de cinco días hábiles" not in prosa.body_text
    assert "by the end of the business day on Friday, 16 August 2019" in visa.body_text
    assert "within five business days" not in visa.body_text
    # The due hour in the partner's zone, and the window, the way each bank writes a date.
    assert "al cierre del día hábil (18:00 h, hora del centro de México, horario de verano, UTC−05:00)" in (
        prosa.body_text
    )
    assert "- Inicio: sábado 10/08/2019, 10:47 h, hora del centro de México (horario de verano, UTC−05:00)" in (
        prosa.body_text
    )
    assert "2019-08-10 10:47 CDT" not in prosa.body_text
    assert "- Start: Saturday 10 Aug 2019, 11:47 EDT" in visa.body_text
    # Our desk's 24×7 line, bridge and escalation manager sign it, as every notice.
    for row, line in ((prosa, "Línea 24×7: +52 55 8000 2400"), (visa, "24×7 line: +52 55 8000 2400")):
        assert line in row.body_text
        assert "https://bridge.example.com/payhealth" in row.body_text and "Marta Gómez" in row.body_text
    assert "Operaciones PayHealth" in prosa.body_text


def test_a_sent_rca_request_opens_an_rca_due_friday_at_close(
    monkeypatch, db, email, analyst, partner_manager, other_lead
):
    now = freeze(monkeypatch, RCA_ASKED)
    desk = prosa_desk(owner=analyst)
    now.set(RCA_ASKED + timedelta(minutes=20))  # sent a little later: the date stays the one the text gave
    send(compose(desk, analyst, "rca_request", [desk.prosa]), manager=partner_manager, lead=other_lead)

    rca = RcaRequest.objects.get()
    assert rca.engagement == desk.prosa_engagement
    assert rca.status == "requested"
    assert rca.requested_at == RCA_ASKED + timedelta(minutes=20)
    due = rca.due_at.astimezone(CDMX)
    assert (due.date(), due.weekday()) == (date(2019, 8, 16), 4)  # Friday
    assert due.hour >= 17  # the close of the banking day, Mexico City
    assert CaseEvent.objects.filter(kind="rca_requested", data__rca=rca.pk, data__reminder="").count() == 1


def test_rca_reminders_are_drafted_the_day_before_and_when_overdue_once_each(
    monkeypatch, db, email, analyst, partner_manager, other_lead, client
):
    now = freeze(monkeypatch, RCA_ASKED)
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "rca_request", [desk.prosa]), manager=partner_manager, lead=other_lead)
    rca = RcaRequest.objects.get()

    assert rca_sweep(now=datetime(2019, 8, 14, 22, 0, tzinfo=UTC)) == 0  # Wednesday 17:00: not yet
    thursday = datetime(2019, 8, 15, 17, 0, tzinfo=UTC)  # Thursday 12:00 Mexico City
    now.set(thursday)
    assert rca_sweep(now=thursday) == 1
    assert rca_sweep(now=thursday + timedelta(hours=1)) == 0
    reminder = Correspondence.objects.get(kind="rca_request", status=Status.DRAFT)
    assert reminder.created_by is None
    assert "Recordatorio" in reminder.subject
    assert "vence a más tardar el viernes 16/08/2019" in reminder.body_text

    saturday = datetime(2019, 8, 17, 16, 0, tzinfo=UTC)
    now.set(saturday)
    assert rca_sweep(now=saturday) == 1
    assert rca_sweep(now=saturday) == 0
    overdue = Correspondence.objects.filter(kind="rca_request", status=Status.DRAFT).latest("id")
    assert "cuyo plazo venció el viernes 16/08/2019" in overdue.body_text
    rca.refresh_from_db()
    assert rca.reminders_sent == 2
    assert list(
        CaseEvent.objects.filter(kind="rca_requested").order_by("id").values_list("data__reminder", flat=True)
    ) == ["", "due_soon", "overdue"]

    client.force_login(analyst)
    html = client.get(reverse("cases:sla_at_risk")).content.decode()
    assert 'id="overdue-rcas"' in html and "Prosa" in html


# --- RCA states ----------------------------------------------------------------------------------


@pytest.fixture
def requested(monkeypatch, db, email, analyst, partner_manager, other_lead):
    freeze(monkeypatch, RCA_ASKED)
    desk = prosa_desk(owner=analyst)
    send(compose(desk, analyst, "rca_request", [desk.prosa]), manager=partner_manager, lead=other_lead)
    monkeypatch.undo()
    return desk, RcaRequest.objects.get()


def test_an_rca_is_received_then_rejected_received_again_and_accepted(requested, analyst, outsider):
    desk, rca = requested
    with pytest.raises(ValidationError):
        rca_change(rca=rca, actor=analyst, to="accepted")  # not received yet
    with pytest.raises(PermissionDenied):
        rca_change(rca=rca, actor=outsider, to="received")

    rca = rca_change(rca=rca, actor=analyst, to="received", root_cause="Falla de energía en el sitio principal")
    with pytest.raises(ValidationError) as no_reason:
        rca_change(rca=rca, actor=analyst, to="rejected")
    assert "note" in no_reason.value.message_dict
    rca = rca_change(rca=rca, actor=analyst, to="rejected", note="Falta la cronología")
    rca = rca_change(rca=rca, actor=analyst, to="received")
    rca = rca_change(rca=rca, actor=analyst, to="accepted", note="Completo")

    assert (rca.status, rca.decided_by, rca.decision_note) == ("accepted", analyst, "Completo")
    moves = CaseEvent.objects.filter(kind="rca_changed").order_by("id")
    assert [(e.data["from"], e.data["to"], e.actor) for e in moves] == [
        ("requested", "received", analyst),
        ("received", "rejected", analyst),
        ("rejected", "received", analyst),
        ("received", "accepted", analyst),
    ]


@pytest.mark.parametrize(
    ("language", "panel", "due"),
    [("en", "Root-cause analyses", "Friday, 16 August 2019"), ("es", "Análisis de causa raíz", "viernes 16/08/2019")],
)
def test_the_incident_page_shows_the_rca_and_moves_it(requested, client, analyst, language, panel, due):
    desk, rca = requested
    client.force_login(analyst)
    page = reverse("cases:incident_detail", args=[desk.incident.reference])

    html = client.get(page, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert panel in html and due in html

    move = reverse("cases:incident_rca_move", args=[desk.incident.reference, rca.pk])
    answer = client.post(move, {"status": "accepted"}, HTTP_ACCEPT_LANGUAGE=language)
    assert answer.status_code == 200  # not received yet: the form comes back with the error
    rca.refresh_from_db()
    assert rca.status == "requested"
    answer = client.post(move, {"status": "received", "root_cause": "Falla de energía"})
    assert answer.status_code == 302
    rca.refresh_from_db()
    assert (rca.status, rca.root_cause) == ("received", "Falla de energía")


def test_the_api_lists_and_moves_rcas(requested, analyst, outsider):
    desk, rca = requested
    api = APIClient()
    api.force_authenticate(analyst)
    listed = api.get(reverse("api:incident-rca-list", args=[desk.incident.reference])).json()
    assert [(row["partner"]["code"], row["status"]) for row in listed] == [("prosa", "requested")]
    assert listed[0]["due_at"].startswith("2019-08-1")
    url = reverse("api:incident-rca-status", args=[desk.incident.reference, rca.pk])

    assert api.post(url, {"status": "rejected", "note": "x"}, format="json").status_code == 400
    answer = api.post(url, {"status": "received", "root_cause": "Falla de energía"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "received"
    api.force_authenticate(outsider)
    assert api.post(url, {"status": "accepted"}, format="json").status_code == 403


# --- action items --------------------------------------------------------------------------------


def test_action_items_have_one_owner_and_a_status_on_the_timeline(db, email, analyst):
    desk = prosa_desk(owner=analyst)
    with pytest.raises(ValidationError) as two:
        action_item_add(incident=desk.incident, actor=analyst, title="Doble enlace", owner=analyst, partner=desk.prosa)
    assert "owner" in two.value.message_dict

    item = action_item_add(
        incident=desk.incident,
        actor=analyst,
        title="Segundo enlace al switch",
        partner=desk.prosa,
        due_date=date(2019, 9, 30),
    )
    item = action_item_update(item=item, actor=analyst, status="done")
    assert item.status == "done" and item.done_at is not None
    item = action_item_update(item=item, actor=analyst, status="open")
    assert item.done_at is None
    assert list(
        CaseEvent.objects.filter(kind__startswith="action_item").order_by("id").values_list("kind", flat=True)
    ) == ["action_item_added", "action_item_changed", "action_item_changed"]


@pytest.mark.parametrize(("language", "heading"), [("en", "Action items"), ("es", "Acciones de seguimiento")])
def test_the_incident_page_adds_and_completes_action_items(client, db, email, analyst, language, heading):
    desk = prosa_desk(owner=analyst)
    client.force_login(analyst)
    reference = desk.incident.reference
    assert (
        heading
        in client.get(
            reverse("cases:incident_detail", args=[reference]), HTTP_ACCEPT_LANGUAGE=language
        ).content.decode()
    )

    panel = client.get(reverse("cases:incident_followthrough", args=[reference]), HTTP_ACCEPT_LANGUAGE=language)
    assert 'name="title"' in panel.content.decode()
    add = reverse("cases:incident_action_item_add", args=[reference])
    assert client.post(add, {"title": ""}, HTTP_ACCEPT_LANGUAGE=language).status_code == 200
    assert ActionItem.objects.count() == 0
    answer = client.post(add, {"title": "Monitoreo del enlace", "owner": analyst.pk, "due_date": "2019-08-30"})
    assert answer.status_code == 302
    item = ActionItem.objects.get()
    assert (item.owner, item.due_date, item.created_by) == (analyst, date(2019, 8, 30), analyst)

    client.post(reverse("cases:incident_action_item_status", args=[reference, item.pk]), {"status": "done"})
    item.refresh_from_db()
    assert item.status == "done"


def test_the_api_adds_and_updates_action_items(db, email, analyst, outsider):
    desk = prosa_desk(owner=analyst)
    api = APIClient()
    api.force_authenticate(analyst)
    url = reverse("api:incident-action-item-list", args=[desk.incident.reference])

    assert api.post(url, {"title": "x", "owner": analyst.pk, "partner": "prosa"}, format="json").status_code == 400
    created = api.post(
        url, {"title": "Plan de contingencia", "partner": "prosa", "due_date": "2019-09-15"}, format="json"
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["partner"]["code"], body["status"], body["due_date"]) == ("prosa", "open", "2019-09-15")
    detail = reverse("api:incident-action-item-detail", args=[desk.incident.reference, body["id"]])
    done = api.patch(detail, {"status": "done"}, format="json")
    assert done.status_code == 200 and done.json()["done_at"]
    api.force_authenticate(outsider)
    assert api.post(url, {"title": "y"}, format="json").status_code == 403


def test_the_incident_page_edits_an_action_item_and_hands_it_to_a_partner(client, db, email, analyst):
    desk = prosa_desk(owner=analyst)
    item = action_item_add(incident=desk.incident, actor=analyst, title="Revisar reversos", owner=analyst)
    client.force_login(analyst)
    edit = reverse("cases:incident_action_item_edit", args=[desk.incident.reference, item.pk])

    assert 'value="Revisar reversos"' in client.get(edit).content.decode()
    answer = client.post(edit, {"title": "Revisar reversos duplicados", "partner": desk.bbva.pk, "status": "open"})

    assert answer.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner, item.partner) == ("Revisar reversos duplicados", None, desk.bbva)
    change = CaseEvent.objects.filter(kind="action_item_changed").get()
    assert change.data["changes"]["owner"] == {"from": "ana", "to": "BBVA México"}
