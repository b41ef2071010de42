"""The desk's Spanish wording where people read it: the incident page (Marcas, México, En curso,
Códigos de respuesta observados, Acuse recibido), the queue's count as one sentence with its
plural, and an SLA overrun ("excedido por 12 min"); the same places in English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import translation

from cases.models import SlaClock
from cases.sla.durations import Level, time_left_text
from payhealth.i18n import country_name
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory

WORDING = {
    "es": ["Marcas", "México", "En curso", "Códigos de respuesta observados", "Acuse recibido"],
    "en": ["Card networks", "Mexico", "Ongoing", "Decline codes seen", "Acknowledged"],
}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_incident_page_uses_the_desks_words(client, analyst, language):
    incident = IncidentFactory(
        country="MX",
        card_networks=["visa"],
        decline_codes=["91"],
        started_at=datetime(2019, 8, 10, 15, 47, tzinfo=UTC),
    )
    PartnerEngagementFactory(incident=incident, partner=PartnerFactory(name="Prosa"), partner_status="acknowledged")
    client.force_login(analyst)

    html = client.get(reverse("cases:incident_detail", args=[incident.reference]), HTTP_ACCEPT_LANGUAGE=language)
    text = _text(html.content.decode())

    assert [words for words in WORDING[language] if words not in text] == []
    other = "en" if language == "es" else "es"
    # Not the other language's words ("America/Mexico_City", a zone name, is no country name).
    untranslated = [words for words in WORDING[other] if words not in WORDING[language]]
    assert [words for words in untranslated if re.search(rf"\b{re.escape(words)}\b", text)] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "count", "sentence"),
    [
        ("es", 30, "Mostrando 1–25 de 30 incidentes"),
        ("en", 30, "Showing 1–25 of 30 incidents"),
        ("es", 1, "1 incidente"),
    ],
)
def test_the_queue_counts_in_one_sentence(client, analyst, language, count, sentence):
    IncidentFactory.create_batch(count)
    client.force_login(analyst)

    html = client.get(reverse("cases:incident_list"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    count_line = _text(re.search(r'<p class="count" id="result-count">(.*?)</p>', html, re.S).group(1)).strip()
    assert count_line == sentence


@pytest.mark.parametrize(("language", "text"), [("es", "excedido por 12 min"), ("en", "overdue by 12 min")])
def test_an_sla_overrun_says_by_how_much(language, text):
    with translation.override(language):
        assert time_left_text(Level.OVERDUE, -timedelta(minutes=12), business=False) == text


@pytest.mark.parametrize(
    ("code", "language", "name"),
    [("MX", "es", "México"), ("MX", "en", "Mexico"), ("us", "es", "Estados Unidos"), ("LATAM", "es", "LATAM")],
)
def test_a_country_is_shown_by_its_name_in_the_visitors_language(code, language, name):
    assert country_name(code, language) == name


@pytest.mark.parametrize(
    ("language", "labels"),
    [
        ("es", ["Acuse de recibo", "Primer aviso al socio", "Frecuencia de actualización", "Resolución"]),
        ("en", ["Acknowledge", "First partner notice", "Update cadence", "Resolve"]),
    ],
)
def test_sla_metrics_are_named_by_nouns(language, labels):
    with translation.override(language):
        assert [str(label) for _value, label in SlaClock.Metric.choices] == labels
