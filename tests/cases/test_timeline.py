"""The timeline: one typed payload per kind, a sentence per kind in both languages, listeners."""

from __future__ import annotations

import dataclasses
import html
import types
import typing

import pytest
from django.db import transaction
from django.utils import translation

from cases import timeline
from cases.correspondence.compose import notice_compose, notice_edit
from cases.correspondence.dispatch import notice_reject, notice_submit
from cases.models import CaseEvent
from cases.templatetags.cases_extras import event_sentence
from cases.timeline import events as ev
from cases.timeline.sentences import RENDERERS
from tests.cases.correspondence.data import notice_desk
from tests.factories import IncidentFactory, UserFactory

SAMPLES = {str: "x", int: 7, bool: True, dict: {}, list: ["a@bank.test"]}
# Fields whose strings are numbers (decimal strings of the alert's figures).
NUMBERS = {"baseline_rate": "0.92", "observed_rate": "0.71", "drop_pp": "21.00"}


def sample(payload_class: type[ev.Payload]) -> ev.Payload:
    """A payload with a value of its declared type in every field."""
    hints = typing.get_type_hints(payload_class)
    values = {}
    for field in dataclasses.fields(payload_class):
        hint = hints[field.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        values[field.name] = NUMBERS.get(field.name) or SAMPLES[next(o for o in options if o is not type(None))]
    return payload_class(**values)


def test_every_timeline_kind_has_one_payload_class_and_one_sentence():
    assert set(ev.PAYLOADS) == set(CaseEvent.Kind.values)
    assert set(RENDERERS) == set(ev.PAYLOADS.values())


def test_a_payload_refuses_a_missing_or_unknown_key():
    with pytest.raises(TypeError):
        ev.NoticeRejected(correspondence=1, partner="Visa")  # no comment
    with pytest.raises(TypeError):
        ev.NoticeRejected(correspondence=1, partner="Visa", comment="x", reason="x")


def test_stored_keys_are_fixed_and_read_back_into_the_same_payload():
    changed = ev.StatusChanged(was="new", to="triaging", reason="", partner=None, partner_code=None)

    assert changed.data() == {"from": "new", "to": "triaging", "reason": "", "partner": None, "partner_code": None}
    assert ev.StatusChanged.from_data(changed.data()) == changed
    # A row written before a key existed reads it as None instead of failing.
    assert ev.StatusChanged.from_data({"from": "new", "to": "triaging", "reason": ""}).partner is None


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", CaseEvent.Kind.values)
def test_every_kind_reads_as_a_sentence_in_both_languages(kind, language):
    incident = IncidentFactory()
    row = timeline.event(sample(ev.PAYLOADS[kind]), incident=incident, actor=None)

    with translation.override(language):
        text = str(event_sentence(row))

    assert text.strip() and "%(" not in text


@pytest.mark.django_db
def test_listeners_named_in_settings_get_every_row_in_the_writing_transaction(settings, analyst):
    heard: list[tuple[str, bool]] = []
    settings.PAYHEALTH_TIMELINE_LISTENERS = ["tests.cases.test_timeline.listener"]
    listener.heard = heard
    incident = IncidentFactory()

    with transaction.atomic():
        timeline.record(ev.NoteAdded(note=1), incident=incident, actor=analyst)

    assert heard == [("note_added", True)]


def listener(rows):
    listener.heard.extend((row.kind, transaction.get_connection().in_atomic_block) for row in rows)


# --- what the notice services write reads back right ------------------------------------------


@pytest.fixture
def desk(db, analyst):
    return notice_desk(owner=analyst, severity="sev1")


def _sentence_of(incident, kind: str, language: str = "en") -> str:
    row = incident.events.filter(kind=kind).latest("id")
    with translation.override(language):
        return html.unescape(str(event_sentence(row)))


def test_a_drafted_notice_names_its_kind_and_language(desk, analyst):
    notice_compose(incident=desk.incident, actor=analyst, kind="rca_request", partners=[desk.visa])

    assert _sentence_of(desk.incident, "notice_drafted") == (
        f"{analyst.get_full_name()} drafted a notice to Visa: RCA request, in English."
    )
    assert "Solicitud de análisis de causa raíz, en Inglés" in _sentence_of(desk.incident, "notice_drafted", "es")


def test_a_leads_rejection_shows_its_reason(desk, analyst):
    lead = UserFactory(username="lead2", role="lead", first_name="Leo", last_name="Lead")
    draft = notice_compose(incident=desk.incident, actor=analyst, kind="breakage", partners=[desk.visa]).drafts[0]
    notice_submit(correspondence=draft, actor=analyst)

    notice_reject(correspondence=draft, actor=lead, comment="Add the BIN ranges")

    assert _sentence_of(desk.incident, "notice_rejected") == "Leo Lead sent a notice back — reason: Add the BIN ranges"


def test_submitting_and_editing_a_notice_are_on_the_timeline(desk, analyst):
    draft = notice_compose(incident=desk.incident, actor=analyst, kind="breakage", partners=[desk.visa]).drafts[0]

    notice_edit(correspondence=draft, actor=analyst, subject=draft.subject, body_text="A shorter text.")
    notice_edit(correspondence=draft, actor=analyst, subject=draft.subject, body_text="A shorter text.")  # no change
    notice_submit(correspondence=draft, actor=analyst)

    edited = desk.incident.events.filter(kind="notice_edited")
    assert [(row.actor, row.data) for row in edited] == [
        (analyst, {"correspondence": draft.pk, "partner": "Visa", "changed": ["body_text"]})
    ]
    submitted = desk.incident.events.get(kind="notice_submitted")
    assert (submitted.actor, submitted.data) == (
        analyst,
        {"correspondence": draft.pk, "partner": "Visa", "language": "en"},
    )
    assert "submitted the notice to Visa for a lead's approval" in _sentence_of(desk.incident, "notice_submitted")


KEPT_EN = "before storing it; only {} first 6 and last 4 digits are kept."
KEPT_ES = "antes de {}; solo se conservan sus primeros 6 y últimos 4 dígitos."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("origin", "count", "language", "expected"),
    [
        ("mail", 1, "en", "PayHealth masked a card number in a received message " + KEPT_EN.format("its")),
        ("alert", 3, "en", "PayHealth masked 3 card numbers in a monitoring alert " + KEPT_EN.format("their")),
        (
            "mail",
            2,
            "es",
            "PayHealth enmascaró 2 números de tarjeta en un mensaje recibido " + KEPT_ES.format("guardarlo"),
        ),
        (
            "alert",
            1,
            "es",
            "PayHealth enmascaró un número de tarjeta en una alerta de monitoreo " + KEPT_ES.format("guardarla"),
        ),
    ],
)
def test_masked_card_numbers_are_said_in_both_languages_never_shown(origin, count, language, expected):
    masked = ev.CardNumbersMasked(origin=origin, count=count, correspondence=None)
    row = timeline.event(masked, incident=IncidentFactory(), actor=None)

    with translation.override(language):
        assert html.unescape(str(event_sentence(row))) == expected
    assert masked.data() == {"origin": origin, "count": count, "correspondence": None}
