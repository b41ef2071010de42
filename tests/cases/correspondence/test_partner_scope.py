"""Each partner's notice about the Prosa outage of 10 August 2019 (tests/prosa.py): its own scope, the
asks of its kind, the title and summary in its language, dates the way its bank writes them and our
desk's 24×7 contact in the signature."""

import re
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from cases.correspondence.compose import active_template, notice_compose
from cases.correspondence.context import moment, notice_context
from cases.correspondence.dispatch import notice_release
from cases.models import CaseEvent, PartnerEngagement
from cases.services.scope import engagement_scope_edit, network_of_bin
from partners.models import NoticeTemplate, Partner
from partners.notices import (
    INTERNAL_KINDS,
    KINDS,
    LANGUAGES,
    default_variants,
    notice_template_errors,
    read_default_template,
)
from partners.notices import render_notice as render
from tests.prosa import prosa_desk

DESK = {
    "PAYHEALTH_DESK_PHONE": "+52 55 4000 2400",
    "PAYHEALTH_DESK_BRIDGE_URL": "https://bridge.example.com/payhealth",
    "PAYHEALTH_DESK_ESCALATION_NAME": "Marta Gómez",
    "PAYHEALTH_DESK_ESCALATION_PHONE": "+52 55 4000 2401",
    "PAYHEALTH_DESK_ESCALATION_EMAIL": "marta.gomez@example.com",
}
# Words that give away an English sentence in a Spanish notice (partner and merchant names have none).
ENGLISH = re.compile(
    r"\b(the|please|we|your|our|ongoing|merchants|merchant ID|response code|approval|declines?|kind regards|"
    r"hello|team|impact|update|time|until|folio \(ticket)\b",
    re.IGNORECASE,
)
MATRIX_KINDS = [kind for kind in KINDS if kind not in INTERNAL_KINDS]  # the account team: tests/cases/samples


@pytest.fixture
def prosa(db):
    return prosa_desk()


def _body(engagement, kind, language, partner_kind=None):
    context = notice_context(engagement=engagement, language=language)
    template = active_template(kind, language, engagement.partner.kind if partner_kind is None else partner_kind)
    rendered = render(subject=template.subject, body=template.body, context=context, language=template.language)
    return context, template, rendered


# --- the shipped variants ----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "partner_kind"), [variant for variant in default_variants() if variant[1]])
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_shipped_variant_passes_the_checks_it_would_meet_on_save(kind, partner_kind, language):
    subject, body = read_default_template(kind, language, partner_kind)

    assert partner_kind in Partner.Kind.values
    assert notice_template_errors(subject=subject, body=body) == {}
    assert "{{ reference }}" in subject


def test_the_variant_for_the_partners_kind_wins_and_any_other_kind_gets_the_generic_one(prosa):
    assert active_template("breakage", "es", "issuer").partner_kind == "issuer"
    assert active_template("breakage", "es", "switch").partner_kind == "switch"
    assert active_template("breakage", "es", "gateway").partner_kind == ""
    assert active_template("resolution", "es", "issuer").partner_kind == ""  # no issuer variant of it


@override_settings(**DESK)
@pytest.mark.parametrize("kind", MATRIX_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_for_every_partner_kind_in_both_languages_says_what_a_noc_needs(prosa, kind, language):
    engagement = {"en": prosa.visa_engagement, "es": prosa.prosa_engagement}[language]
    for partner_kind in ["", *Partner.Kind.values]:
        context, template, rendered = _body(engagement, kind, language, partner_kind)
        text = f"{rendered.subject}\n{rendered.body}"

        assert template.language == language
        assert prosa.incident.reference in rendered.subject
        if kind != "billing_discrepancy":  # a billing dispute is about the charges, not the outage
            assert prosa.incident.partner_title(language) in rendered.subject
        assert "+52 55 4000 2400" in rendered.body, partner_kind  # our 24×7 line in every signature
        assert "https://bridge.example.com/payhealth" in rendered.body
        assert "Marta Gómez" in rendered.body
        assert "{" not in text and "}" not in text and "\n\n\n" not in rendered.body
        if kind in ("breakage", "update", "resolution", "sla_escalation", "rca_request"):
            assert context["window"]["start"]["text"] in rendered.body
            assert "2019-08-10 15:47 UTC" in rendered.body
        if language == "es":
            assert "Operaciones PayHealth" in rendered.body
            assert "CDT" not in rendered.body  # "hora del centro de México (horario de verano…)", not the code
            spanish = rendered.body  # the decline codes' meanings included: they come in Spanish
            assert ENGLISH.findall(spanish) == [], (partner_kind, template)
            assert "Issuer or switch inoperative" not in spanish and "System malfunction" not in spanish
            if "Código 91" in spanish:
                assert "Código 91: Emisor o switch fuera de operación" in spanish
            assert not re.search(r"\b(tú|tu|tus|te|puedes|envíanos)\b", spanish, re.IGNORECASE)


# --- scope: each partner sees what concerns it --------------------------------------------------


def test_the_switch_sees_every_merchant_routed_through_it_with_its_affiliation_number(prosa):
    context, _template, rendered = _body(prosa.prosa_engagement, "breakage", "es")

    assert context["scope"]["merchant_rows"] == [
        {"name": "Farmacias Nube", "affiliation": "7654321"},
        {"name": "Pizzería Roma", "affiliation": "1029384"},
    ]
    assert "  - Farmacias Nube (número de afiliación 7654321)\n" in rendered.body
    assert "- Prefijos BIN: 415231, 455511, 520416\n" in rendered.body
    assert "- Marcas: Visa, Mastercard\n" in rendered.body
    assert "- Modos de entrada: Chip (EMV), Sin contacto, Comercio electrónico\n" in rendered.body
    assert "- País: México\n" in rendered.body


def test_the_issuer_sees_only_its_own_bins_and_the_merchants_names(prosa):
    context, _template, rendered = _body(prosa.bbva_engagement, "breakage", "es")

    assert context["scope"]["bin_prefixes"] == ["415231", "455511"]
    assert "520416" not in rendered.body  # another issuer's BIN
    assert "- Marcas: Visa\n" in rendered.body
    assert "Mastercard" not in rendered.body
    assert "7654321" not in rendered.body and "afiliación" not in rendered.body  # Prosa's numbers are Prosa's
    assert "  - Farmacias Nube\n" in rendered.body


def test_the_network_sees_its_own_network_and_bins_only(prosa):
    context, _template, rendered = _body(prosa.visa_engagement, "breakage", "en")

    assert context["scope"]["networks"] == ["Visa"]
    assert "- Card networks: Visa\n" in rendered.body
    assert "Mastercard" not in rendered.body and "520416" not in rendered.body
    assert "- BIN prefixes: 415231, 455511\n" in rendered.body
    assert "7654321" not in rendered.body  # no merchant ID Visa gave them
    assert [network_of_bin(b) for b in ("415231", "520416", "222100", "371234")] == [
        "visa",
        "mastercard",
        "mastercard",
        "amex",
    ]


def test_an_edited_scope_is_what_the_notice_shows_and_goes_on_the_timeline(prosa, partner_manager):
    farmacias = prosa.incident.affected_merchants.get(merchant__name="Farmacias Nube").merchant

    engagement_scope_edit(
        engagement=prosa.prosa_engagement,
        actor=partner_manager,
        bin_prefixes=["415231"],
        networks=["visa"],
        entry_modes=["chip"],
        merchants=[farmacias.pk],
    )
    context, _template, rendered = _body(PartnerEngagement.objects.get(pk=prosa.prosa_engagement.pk), "breakage", "en")

    assert context["scope"]["merchant_rows"] == [{"name": "Farmacias Nube", "affiliation": "7654321"}]
    assert (context["scope"]["bin_prefixes"], context["scope"]["networks"]) == (["415231"], ["Visa"])
    assert "- Entry modes: Chip (EMV)\n" in rendered.body
    assert "Pizzería Roma" not in rendered.body
    event = CaseEvent.objects.filter(incident=prosa.incident, kind=CaseEvent.Kind.PARTNER_UPDATED).latest("pk")
    assert event.actor == partner_manager
    assert event.data["changes"]["scope_bin_prefixes"] == {"from": ["415231", "455511", "520416"], "to": ["415231"]}


@pytest.mark.parametrize(
    ("field", "values", "message"),
    [
        ("bin_prefixes", ["4111 1111 1111 1111"], "Card numbers are never stored"),
        ("bin_prefixes", ["41"], "6 to 8 digits"),
        ("networks", ["visa", "diners"], "diners"),
        ("merchants", [0], "affected by the incident"),
    ],
)
def test_a_bad_scope_is_refused_with_a_field_message_and_nothing_saved(prosa, partner_manager, field, values, message):
    with pytest.raises(ValidationError) as refused:
        engagement_scope_edit(engagement=prosa.bbva_engagement, actor=partner_manager, **{field: values})

    assert message in " ".join(refused.value.message_dict[field])
    assert "4111" not in str(refused.value.message_dict)
    assert not PartnerEngagement.objects.get(pk=prosa.bbva_engagement.pk).scope_edited


# --- the asks of each kind -----------------------------------------------------------------------


def test_the_switch_is_asked_to_restore_service_and_the_issuer_to_check_its_host(prosa):
    _c, switch_template, switch = _body(prosa.prosa_engagement, "breakage", "es")
    _c, issuer_template, issuer = _body(prosa.bbva_engagement, "breakage", "es")
    _c, network_template, network = _body(prosa.visa_engagement, "breakage", "en")

    assert (switch_template.partner_kind, issuer_template.partner_kind) == ("switch", "issuer")
    assert "Restablecer el servicio" in switch.body and "(stand-in/STIP)" in switch.body
    assert "participantes afectados" in switch.body
    assert "host autorizador" in issuer.body
    assert "restablecer el servicio" not in issuer.body.lower()  # BBVA's host did not fail
    assert "stand-in processing (STIP) is active for the affected issuers" in network.body
    assert "scheme-wide" in network.body


def test_composing_for_everyone_gives_each_partner_the_notice_of_its_kind(prosa, lead):
    drafts = notice_compose(incident=prosa.incident, actor=lead, kind="breakage").drafts

    kinds = {draft.engagement.partner.code: draft.template.partner_kind for draft in drafts}
    assert kinds == {"prosa": "switch", "bbva-mx": "issuer", "visa": "card_network"}
    bbva = next(draft for draft in drafts if draft.engagement.partner.code == "bbva-mx")
    assert bbva.subject.startswith(f"[{prosa.incident.reference}] SEV1 Aviso de falla: Caída del switch de Prosa")
    assert "Prosa switch outage" not in bbva.subject
    assert "Lo que observamos\nDesde las 10:47 h" in bbva.body_text


@override_settings(**DESK)
def test_the_spanish_notices_use_the_glossarys_wording(prosa):
    """The wording list of locale/GLOSSARY.md, as a Mexican bank's NOC reads it."""
    _c, _t, breakage = _body(prosa.prosa_engagement, "breakage", "es")
    _c, _t, resolution = _body(prosa.bbva_engagement, "resolution", "es")

    for words in (
        "Aviso de falla",
        "Códigos de respuesta observados",
        "- Marcas: Visa, Mastercard",
        "- País: México",
        "caída de 48.42 puntos porcentuales",
        "Le solicitamos:",
        "quede registrada en nuestro caso",
        "por parte de ustedes",
        "Operaciones PayHealth",
    ):
        assert words in f"{breakage.subject}\n{breakage.body}", words
    assert "por parte de ustedes" in resolution.body
    for english_or_informal in ("Aviso de incidencia", "- País: MX", "Marcas: visa", " tu ", " tus "):
        assert english_or_informal not in breakage.body


# --- dates and numbers -------------------------------------------------------------------------


def test_dates_read_the_way_a_mexican_bank_writes_them_with_summer_time_in_2019(prosa):
    spanish = notice_context(engagement=prosa.prosa_engagement, language="es")["window"]
    english = notice_context(engagement=prosa.visa_engagement, language="en")["window"]

    assert spanish["start"]["text"] == (
        "sábado 10/08/2019, 10:47 h, hora del centro de México (horario de verano, UTC−05:00)"
    )
    assert spanish["end"]["text"].startswith("sábado 10/08/2019, 18:17 h")
    assert spanish["start"]["utc"] == "2019-08-10 15:47 UTC"
    assert english["start"]["text"] == "Saturday 10 Aug 2019, 11:47 EDT (US Eastern time, UTC−04:00)"
    assert moment(datetime(2019, 8, 10, 15, 47, tzinfo=UTC), "America/Mexico_City", "en")["text"] == (
        "Saturday 10 Aug 2019, 10:47 CDT (Central Mexico time, UTC−05:00)"
    )


def test_no_summer_time_in_mexico_city_since_2022():
    text = moment(datetime(2026, 8, 10, 16, 47, tzinfo=UTC), "America/Mexico_City", "es")["text"]

    assert text == "lunes 10/08/2026, 10:47 h, hora del centro de México (UTC−06:00)"
    assert "verano" not in text


def test_impact_reads_as_a_drop_in_points_with_spanish_percentages(prosa):
    impact = notice_context(engagement=prosa.prosa_engagement, language="es")["impact"]
    english = notice_context(engagement=prosa.visa_engagement, language="en")["impact"]

    # (0.9310×182,400 + 0.9050×12,300) / 194,700 = 92.94 %; (0.4455×182,400 + 0.4400×12,300) / 194,700 = 44.52 %
    assert (impact["baseline_rate"], impact["observed_rate"]) == ("92.94 %", "44.52 %")
    assert impact["drop"] == "caída de 48.42 puntos porcentuales"
    assert english["drop"] == "a drop of 48.42 percentage points"
    assert impact["amount_at_risk"] == "MXN 40,755,510.40"


# --- title and summary per language -------------------------------------------------------------


def test_a_notice_is_not_sent_while_its_languages_title_or_summary_is_missing(prosa, lead, partner_manager):
    prosa.incident.partner_summary_es = ""
    prosa.incident.save(update_fields=["partner_summary_es"])
    [draft] = notice_compose(
        incident=prosa.incident, actor=partner_manager, kind="breakage", partners=[prosa.bbva]
    ).drafts

    with pytest.raises(ValidationError) as refused:
        notice_release(correspondence=draft, actor=partner_manager)

    assert refused.value.code == "partner_text_missing"
    assert "what we see (Spanish)" in refused.value.messages[0]
    draft.refresh_from_db()
    assert draft.status == "draft"  # composing still drafts; nothing was sent or submitted


def test_the_same_notice_goes_out_once_the_summary_is_written(prosa, partner_manager):
    [draft] = notice_compose(
        incident=prosa.incident, actor=partner_manager, kind="breakage", partners=[prosa.bbva]
    ).drafts

    released = notice_release(correspondence=draft, actor=partner_manager)

    assert released.status == "pending_approval"  # SEV1: a lead approves it, then it is sent


def test_templates_of_a_partner_kind_are_saved_as_their_own_versions(prosa, partner_manager):
    from partners.services import notice_template_save

    saved = notice_template_save(
        actor=partner_manager,
        kind="breakage",
        language="es",
        partner_kind="issuer",
        subject="[{{ reference }}] Aviso de falla: {{ title }}",
        body="Estimado equipo de {{ partner.name }}:\nLe solicitamos revisar su host autorizador.\n",
    )

    assert (saved.partner_kind, saved.version) == ("issuer", 2)
    assert NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="", active=True).version == 1
    with pytest.raises(ValidationError) as refused:
        notice_template_save(
            actor=partner_manager, kind="breakage", language="es", partner_kind="bank", subject="x", body="y"
        )
    assert "partner_kind" in refused.value.message_dict


# --- the incident page and the API ------------------------------------------------------------


def test_the_incident_page_shows_and_edits_each_partners_scope(client, prosa, partner_manager):
    from django.urls import reverse

    client.force_login(partner_manager)
    page = client.get(reverse("cases:incident_detail", args=[prosa.incident.reference])).content.decode()
    assert "What each partner&#x27;s notices show" in page or "What each partner's notices show" in page
    url = reverse("cases:incident_engagement_scope", args=[prosa.incident.reference, prosa.bbva_engagement.pk])
    assert url in page
    editing = client.get(url)
    assert editing.status_code == 200
    assert 'value="415231, 455511"' in editing.content.decode()  # BBVA's own BINs, derived

    refused = client.post(url, {"bin_prefixes": "4111 1111 1111 1111", "networks": ["visa"]})
    saved = client.post(url, {"bin_prefixes": "415231", "networks": ["visa"], "entry_modes": ["chip"]})

    assert "4111 1111 1111 1111" not in refused.content.decode()
    assert saved.status_code == 302
    engagement = PartnerEngagement.objects.get(pk=prosa.bbva_engagement.pk)
    assert (engagement.scope_edited, engagement.scope_bin_prefixes, engagement.scope_entry_modes) == (
        True,
        ["415231"],
        ["chip"],
    )


def test_the_api_reads_and_writes_an_engagements_scope_and_the_incidents_partner_texts(client, prosa, partner_manager):
    from django.urls import reverse

    client.force_login(partner_manager)
    url = reverse("api:incident-engagement-detail", args=[prosa.incident.reference, prosa.visa_engagement.pk])
    before = client.get(url).json()["scope"]
    changed = client.patch(
        url, {"scope": {"bin_prefixes": ["455511"], "networks": ["visa"]}}, content_type="application/json"
    )
    bad = client.patch(url, {"scope": {"bin_prefixes": ["4111111111111111"]}}, content_type="application/json")
    details = client.patch(
        reverse("api:incident-detail", args=[prosa.incident.reference]),
        {"partner_title_es": "Falla del switch de Prosa", "entry_modes": ["magstripe"]},
        content_type="application/json",
    )

    assert before == {
        "bin_prefixes": ["415231", "455511"],
        "networks": ["visa"],
        "entry_modes": ["chip", "contactless", "ecommerce"],
        "merchants": sorted(before["merchants"]),
        "edited": False,
    }
    assert changed.status_code == 200, changed.content
    assert changed.json()["scope"] | {"merchants": []} == {
        "bin_prefixes": ["455511"],
        "networks": ["visa"],
        "entry_modes": [],
        "merchants": [],
        "edited": True,
    }
    assert bad.status_code == 400 and "4111111111111111" not in bad.content.decode()
    assert details.status_code == 200, details.content
    assert details.json()["partner_title_es"] == "Falla del switch de Prosa"
    assert details.json()["entry_modes"] == ["magstripe"]


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_compose_page_says_which_partner_text_is_missing_in_the_readers_language(
    client, prosa, partner_manager, language
):
    from django.urls import reverse

    prosa.incident.partner_title_en = ""
    prosa.incident.save(update_fields=["partner_title_en"])
    client.force_login(partner_manager)

    page = client.get(
        reverse("cases:notice_compose", args=[prosa.incident.reference]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()

    expected = {
        "en": "Before this notice can be sent, fill in the incident&#x27;s partner-facing title (English).",
        "es": "Antes de enviar este aviso, capture en el incidente: título para socios (inglés).",
    }[language]
    assert expected in page
    assert "(Spanish)" not in page and "(español)." not in page


def test_the_merchant_page_and_api_show_its_affiliation_numbers(client, prosa, partner_manager):
    from django.urls import reverse

    merchant = prosa.incident.affected_merchants.get(merchant__name="Farmacias Nube").merchant
    client.force_login(partner_manager)

    page = client.get(reverse("cases:merchant_detail", args=[merchant.account_id])).content.decode()
    api = client.get(reverse("api:merchant-detail", args=[merchant.account_id])).json()

    assert 'Prosa: <span class="mono">7654321</span>' in page
    assert api["routes"] == [{"partner": "prosa", "affiliation": "7654321"}]
