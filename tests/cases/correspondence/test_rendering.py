"""Notice templates: the shipped defaults, the sandbox, the checks on save and the context."""

import re
from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from cases.correspondence.context import moment, notice_context
from partners.models import NoticeTemplate, PartnerContact
from partners.notices import (
    KINDS,
    LANGUAGES,
    NoticeRenderError,
    default_variants,
    load_notice_templates,
    notice_template_errors,
    read_default_template,
    render_notice,
    sample_notice_contexts,
)
from partners.services import notice_template_save
from tests.cases.correspondence.data import MITIGATED, notice_desk
from tests.factories import AffectedMerchantFactory, MerchantFactory

DEFAULTS = [(kind, language) for kind in KINDS for language in LANGUAGES]


# --- shipped defaults -------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "language"), DEFAULTS)
def test_every_default_template_passes_the_checks_it_would_meet_on_save(kind, language):
    subject, body = read_default_template(kind, language)

    assert notice_template_errors(subject=subject, body=body) == {}
    assert "{{ reference }}" in subject


@pytest.mark.parametrize(("kind", "language"), DEFAULTS)
def test_every_default_renders_without_stray_blank_lines(kind, language):
    subject, body = read_default_template(kind, language)

    for context in sample_notice_contexts():
        rendered = render_notice(subject=subject, body=body, context=context, language=language)
        assert rendered.subject.startswith("[PH-2026-000123] ")
        assert "\n\n\n" not in rendered.body
        assert "{" not in rendered.body and "}" not in rendered.body


# Glossary terms (partners/data/glossary_en_es.csv) each Spanish default of that kind uses.
SPANISH_TERMS = {
    "breakage": ["tasa de aprobación", "rechazo", "folio", "acuse de recibo", "ventana de afectación", "día hábil",
                 "escalamiento", "restablecer el servicio", "Códigos de respuesta observados"],
    "update": ["tasa de aprobación", "Rechazos adicionales", "folio", "acuse de recibo", "día hábil"],
    "resolution": ["tasa de aprobación", "Ventana de afectación", "folio", "causa raíz"],
    "rca_request": ["causa raíz", "días hábiles", "Ventana de afectación", "reversos", "cargos duplicados"],
    "follow_up": ["seguimiento", "acuse de recibo", "folio"],
    "sla_escalation": ["escalamos", "escalamiento", "acuse de recibo", "día hábil"],
    "billing_discrepancy": ["aclaración", "puntos base", "nota de crédito", "folio", "tarifa"],
    "account_update": ["tasa de aprobación", "Rechazos adicionales", "Monto en riesgo", "causa raíz", "socios"],
}  # fmt: skip
INFORMAL = re.compile(r"\b(tú|tu|tus|te|ti|puedes|tienes|envíanos|comparte|confirma|dinos|quieres)\b", re.I)


@pytest.mark.parametrize("kind", KINDS)
def test_spanish_defaults_use_mexican_terms_and_the_formal_register(kind):
    subject, body = read_default_template(kind, "es")
    text = f"{subject}\n{body}"

    missing = [term for term in SPANISH_TERMS[kind] if term.lower() not in text.lower()]
    assert missing == []
    assert INFORMAL.findall(text) == []
    assert re.search(r"\b(Le|su|Su)\b", text)  # usted: le solicitamos, su folio
    assert "declinad" not in text  # the glossary flags "declinada"; Mexican banks say "rechazo"


@pytest.mark.django_db
def test_the_loader_creates_version_one_of_each_default_once():
    NoticeTemplate.objects.all().delete()

    first = load_notice_templates(NoticeTemplate)
    again = load_notice_templates(NoticeTemplate)

    shipped = len(default_variants()) * len(LANGUAGES)
    assert len(first) == shipped > len(KINDS) * len(LANGUAGES)  # the variants per partner kind, too
    assert again == []
    assert NoticeTemplate.objects.filter(active=True, version=1).count() == shipped
    breakage = NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="")
    assert (breakage.subject, breakage.body) == read_default_template("breakage", "es")
    issuer = NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="issuer")
    assert (issuer.subject, issuer.body) == read_default_template("breakage", "es", "issuer")


@pytest.mark.django_db
def test_refresh_makes_a_changed_default_the_next_active_version_and_keeps_edits_in_history(partner_manager):
    NoticeTemplate.objects.all().delete()
    load_notice_templates(NoticeTemplate)
    notice_template_save(
        actor=partner_manager, kind="update", language="en", subject="[{{ reference }}] Edited", body="Edited.\n"
    )

    changed = load_notice_templates(NoticeTemplate, refresh=True)

    assert changed == ["update/en v3"]
    versions = list(NoticeTemplate.objects.filter(kind="update", language="en", partner_kind="").order_by("version"))
    assert [(v.version, v.active) for v in versions] == [(1, False), (2, False), (3, True)]
    assert versions[1].subject == "[{{ reference }}] Edited"


@pytest.mark.django_db
def test_refresh_unedited_brings_a_shipped_version_up_to_date_and_leaves_a_persons_edit_active(partner_manager):
    """What the data migrations run when a shipped default changes (the RCA request's signature)."""
    NoticeTemplate.objects.all().delete()
    load_notice_templates(NoticeTemplate)
    NoticeTemplate.objects.filter(kind="rca_request", language="es").update(body="Cuerpo de una versión anterior.\n")
    notice_template_save(
        actor=partner_manager, kind="rca_request", language="en", subject="[{{ reference }}] Ours", body="Ours.\n"
    )

    changed = load_notice_templates(NoticeTemplate, refresh="unedited")

    assert changed == ["rca_request/es v2"]
    spanish = NoticeTemplate.objects.get(kind="rca_request", language="es", active=True)
    assert "Línea 24×7: {{ our_contact.phone }}" in spanish.body
    assert NoticeTemplate.objects.get(kind="rca_request", language="en", active=True).body == "Ours.\n"


@pytest.mark.django_db
def test_the_command_loads_the_defaults(capsys):
    NoticeTemplate.objects.all().delete()

    call_command("load_notice_templates")
    call_command("load_notice_templates")

    out = capsys.readouterr().out
    assert "loaded breakage/en v1" in out
    assert out.strip().endswith("notice templates up to date")
    assert NoticeTemplate.objects.filter(active=True).count() == len(default_variants()) * len(LANGUAGES)


# --- the sandbox ------------------------------------------------------------------------------


@pytest.fixture
def desk(db):
    return notice_desk()


@pytest.fixture
def other_partner_contact(desk):
    """A contact of another partner on the same incident: no notice to BBVA may show it."""
    return PartnerContact.objects.create(
        partner=desk.visa,
        name="Visa Secret Escalation",
        email="vip-escalation@visa.test",
        phone="+1 555 0100",
        role=PartnerContact.Role.ESCALATION,
        escalation_level=3,
    )


PROBES = (
    "{{ settings.SECRET_KEY }}|{{ SECRET_KEY }}|{{ settings }}|{{ request }}|{{ user.password }}|{{ perms }}"
    "|{{ incident.engagements }}|{{ incident.summary }}|{{ partner.contacts }}|{{ partner.engagements.all }}"
    "|{{ escalation_contacts.0.partner.contacts }}|{{ csrf_token }}|{{ view }}|{{ connection }}|{{ block.super }}"
)


def test_a_template_reaching_for_settings_secrets_or_another_partner_renders_nothing_of_them(
    desk, other_partner_contact, settings
):
    settings.SECRET_KEY = "s3cr3t-k3y-never-in-mail"
    settings.EMAIL_HOST_PASSWORD = "smtp-password-never-in-mail"
    desk.incident.summary = "Internal: Visa BIN 411111 also affected"
    desk.incident.save()
    context = notice_context(engagement=desk.bbva_engagement, language="en")

    rendered = render_notice(subject="{{ settings.SECRET_KEY }}", body=PROBES, context=context, language="en")

    assert rendered.subject == ""
    assert rendered.body == "|" * PROBES.count("|") + "\n"


def test_another_partners_contacts_never_reach_a_notice(desk, other_partner_contact):
    subject, body = read_default_template("sla_escalation", "es")

    context = notice_context(engagement=desk.bbva_engagement, language="es")
    rendered = render_notice(subject=subject, body=body, context=context, language="es")

    assert [c["email"] for c in context["escalation_contacts"]] == ["gerencia@bbva.test"]
    assert "gerencia@bbva.test" in rendered.body
    assert "visa.test" not in rendered.body
    assert "Visa Secret Escalation" not in rendered.body


def test_the_context_holds_only_plain_data():
    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(key, str) and plain(item) for key, item in value.items())
        if isinstance(value, list):
            return all(plain(item) for item in value)
        return value is None or isinstance(value, str | int | float | bool)

    for context in sample_notice_contexts():
        assert plain(context)


@pytest.mark.django_db
def test_a_real_context_holds_only_plain_data(desk):
    context = notice_context(engagement=desk.bbva_engagement, language="es")

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            assert value is None or type(value) in (str, int, bool), repr(value)

    walk(context)


@pytest.mark.parametrize(
    "source",
    [
        "{% debug %}",
        "{% load static %}{% static 'x' %}",
        '{% include "base.html" %}',
        '{% extends "base.html" %}',
        "{% url 'home' %}",
        "{% now 'Y' %}",
        "{{ reference|safe }}",
        "{{ reference|pprint }}",
    ],
)
def test_tags_and_filters_outside_the_allow_list_do_not_even_compile(source):
    with pytest.raises(NoticeRenderError):
        render_notice(subject="x", body=source, context=sample_notice_contexts()[0], language="en")


# --- checks on save ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Hello\n{% load static %}\n", "Line 2: the tag {% load %} is not allowed in notice templates"),
        ("Hello\n\n{% debug %}\n", "Line 3: the tag {% debug %} is not allowed in notice templates"),
        ('One\n{% include "base.html" %}\n', "Line 2: the tag {% include %} is not allowed"),
        ("One\ntwo {{ reference|safe }}\n", "Line 2: the filter “safe” is not allowed in notice templates"),
        ("One\n{% if folio %}\nno end\n", "Line 2: Unclosed tag: 'if'. Looking for one of: elif, else, endif."),
        ("One\n\n\n{{ settings.SECRET_KEY }}\n", "Line 4: unknown variable “settings”."),
        ("{{ reference }}\n{{ partner.contacts }}\n", "Line 2: “partner.contacts” is not something a notice can show."),
        (
            "A\n{% if folio %}x{% elif incident.engagements %}y{% endif %}\n",
            "Line 2: unknown variable “incident”.",
        ),
        (
            "{% for c in escalation_contacts %}\n{{ c.email }} {{ c.partner }}\n{% endfor %}\n",
            "Line 2: “c.partner” is not something a notice can show.",
        ),
        ("{{ reference.__class__ }}\n", "Line 1: Variables and attributes may not begin with underscores"),
        ("{{ title|wordwrap:'x' }}\n", "Line 1: it cannot be rendered: invalid literal for int()"),
    ],
)
def test_a_template_is_refused_on_save_with_the_line_and_the_reason(partner_manager, body, message):
    with pytest.raises(ValidationError) as refused:
        notice_template_save(
            actor=partner_manager, kind="breakage", language="en", subject="[{{ reference }}]", body=body
        )

    assert list(refused.value.message_dict) == ["body"]
    assert refused.value.message_dict["body"][0].startswith(message)
    assert not NoticeTemplate.objects.filter(kind="breakage", language="en", author=partner_manager).exists()


def test_the_subject_is_checked_too_and_stays_one_line(partner_manager):
    with pytest.raises(ValidationError) as refused:
        notice_template_save(
            actor=partner_manager, kind="update", language="es", subject="{{ folio.owner }}\nmore", body="ok\n"
        )

    assert refused.value.message_dict == {
        "subject": ["The subject is a single line.", "Line 1: “folio.owner” is not something a notice can show."]
    }


def test_loops_may_name_their_item_and_forloop(partner_manager):
    body = (
        "{% for symptom in symptoms %}{{ forloop.counter }}. {{ symptom.code }} {{ symptom.meaning }}"
        "{% if not forloop.last %}, {% endif %}{% empty %}none{% endfor %}\n"
        "{% for network in scope.networks %}{{ network|upper }}{% endfor %}\n"
        "{{ escalation_contacts.0.email|default:'-' }} {{ window.start.local }} {{ next_update.utc|default:'' }}\n"
    )

    template = notice_template_save(
        actor=partner_manager, kind="follow_up", language="en", subject="[{{ reference }}] {{ title }}", body=body
    )

    assert template.active


@pytest.mark.django_db
def test_saving_creates_the_next_version_and_deactivates_the_previous(partner_manager):
    load_notice_templates(NoticeTemplate)
    first = NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="", active=True)

    saved = notice_template_save(
        actor=partner_manager,
        kind="breakage",
        language="es",
        subject="[{{ reference }}] Aviso: {{ title }}",
        body="Estimado equipo de {{ partner.name }}:\r\nLe informamos…\r\n",
    )
    unchanged = notice_template_save(
        actor=partner_manager,
        kind="breakage",
        language="es",
        subject="[{{ reference }}] Aviso: {{ title }}",
        body="Estimado equipo de {{ partner.name }}:\nLe informamos…\n",
    )

    first.refresh_from_db()
    assert (first.active, saved.version, saved.active, saved.author) == (
        False,
        first.version + 1,
        True,
        partner_manager,
    )
    assert saved.body == "Estimado equipo de {{ partner.name }}:\nLe informamos…\n"
    assert unchanged.pk == saved.pk
    assert NoticeTemplate.objects.filter(kind="breakage", language="es", partner_kind="").count() == first.version + 1


@pytest.mark.django_db
def test_an_analyst_cannot_edit_templates(analyst):
    with pytest.raises(PermissionDenied):
        notice_template_save(actor=analyst, kind="update", language="en", subject="[{{ reference }}]", body="x\n")

    assert not NoticeTemplate.objects.filter(author=analyst).exists()


# --- the context: times, scope, impact --------------------------------------------------------


def test_mexico_city_is_utc_minus_six_all_year_and_new_york_follows_dst():
    winter = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    summer = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)

    assert moment(winter, "America/Mexico_City", "en") | {"zone": ""} == {
        "utc": "2026-03-06 15:00 UTC",
        "local": "2026-03-06 09:00 CST",
        "offset": "UTC−06:00",
        "zone": "",
        "iso": "2026-03-06T15:00:00Z",
        "text": "Friday 6 Mar 2026, 09:00 CST (Central Mexico time, UTC−06:00)",
        "date": "06/03/2026",
        "time": "09:00",
        "weekday": "Friday",
        "dst": False,
    }
    assert moment(summer, "America/Mexico_City")["local"] == "2026-03-09 09:00 CST"
    assert (moment(winter, "America/New_York")["local"], moment(winter, "America/New_York")["offset"]) == (
        "2026-03-06 10:00 EST",
        "UTC−05:00",
    )
    assert (moment(summer, "America/New_York")["local"], moment(summer, "America/New_York")["offset"]) == (
        "2026-03-09 11:00 EDT",
        "UTC−04:00",
    )
    assert moment(winter, "America/Sao_Paulo")["local"] == "2026-03-06 12:00"  # no letter abbreviation
    assert moment(winter, "America/Sao_Paulo")["zone"] == "America/Sao_Paulo"


@pytest.mark.django_db
def test_the_window_is_shown_in_each_partners_zone_with_its_name(desk):
    desk.incident.mitigated_at = MITIGATED
    desk.incident.save()

    bbva = notice_context(engagement=desk.bbva_engagement, language="en")["window"]
    visa = notice_context(engagement=desk.visa_engagement, language="en")["window"]

    assert (bbva["start"]["local"], bbva["end"]["local"]) == ("2026-03-06 09:00 CST", "2026-03-09 09:30 CST")
    assert bbva["start"]["zone"] == "Central Mexico time"
    assert (visa["start"]["local"], visa["end"]["local"]) == ("2026-03-06 10:00 EST", "2026-03-09 11:30 EDT")
    assert (visa["start"]["offset"], visa["end"]["offset"]) == ("UTC−05:00", "UTC−04:00")
    assert visa["end"]["zone"] == "US Eastern time"
    assert bbva["end"]["utc"] == visa["end"]["utc"] == "2026-03-09 15:30 UTC"
    assert bbva["ongoing"] is False


@pytest.mark.django_db
def test_the_context_carries_what_a_breakage_notice_says(desk, lead):
    context = notice_context(engagement=desk.bbva_engagement, language="es", author=lead)

    assert (context["reference"], context["folio"], context["severity"]) == (desk.incident.reference, "MX-7781", "SEV3")
    assert context["status"] == "En investigación"
    assert context["scope"] == {  # an issuer sees its own BIN prefixes and their network only
        "merchants": ["Tiendas Sol", "Viajes Luna"],
        "merchant_count": 2,
        "networks": ["Visa"],
        "bin_prefixes": ["415231"],
        "country": "México",
        "country_code": "MX",
        "merchant_rows": [{"name": "Tiendas Sol", "affiliation": ""}, {"name": "Viajes Luna", "affiliation": ""}],
        "entry_modes": [],
    }
    # The notice is in Spanish: so are the codes' meanings.
    assert [(s["code"], s["meaning"]) for s in context["symptoms"]] == [
        ("05", "No aceptar (rechazo genérico del emisor)"),
        ("91", "Emisor o switch fuera de operación"),
    ]
    # Weighted by attempts: (0.92×100k + 0.90×50k) / 150k = 91.33 %, (0.70×100k + 0.80×50k) / 150k = 73.33 %.
    assert context["impact"] == {
        "measured": True,
        "baseline_rate": "91.33 %",
        "observed_rate": "73.33 %",
        "drop_pp": "18.00",
        "change": "caída de 18.00 puntos porcentuales",
        "attempts": "150,000",
        "excess_declines": "27,000",
        "amount_at_risk": "MXN 1,750,000.50",
        "drop": "caída de 18.00 puntos porcentuales",
    }
    assert context["escalation_contacts"] == [
        {
            "name": "Gerencia de Incidentes",
            "email": "gerencia@bbva.test",
            "phone": "+52 55 5555 0000",
            "role": "Escalamiento",
            "level": 2,
        }
    ]
    assert context["our_contact"] == {
        "name": lead.get_full_name(),
        "team": "PayHealth Operations",
        "email": "payhealth@localhost",
        "desk": "Operaciones PayHealth",
        "phone": "",
        "bridge": "",
        "escalation": {"name": "", "phone": "", "email": ""},
    }
    assert context["next_update"] is None  # SEV3 updates run on business days: "within one business day"


@pytest.mark.django_db
def test_more_than_twenty_merchants_read_as_multiple_merchants(desk):
    for number in range(19):
        AffectedMerchantFactory(incident=desk.incident, merchant=MerchantFactory(name=f"Comercio {number}"))
    subject, body = read_default_template("breakage", "en")

    rendered = render_notice(
        subject=subject,
        body=body,
        context=notice_context(engagement=desk.visa_engagement, language="en"),
        language="en",
    )

    assert "- Merchants: multiple merchants (21)\n" in rendered.body


@pytest.mark.django_db
def test_a_sev1_notice_promises_the_next_update_on_the_24x7_cadence(desk):
    desk.incident.severity = "sev1"
    desk.incident.save()
    now = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)

    context = notice_context(engagement=desk.visa_engagement, language="en", now=now)

    assert context["next_update"]["utc"] == "2026-03-06 16:30 UTC"  # SEV1: updates every 30 minutes
    assert context["next_update"]["local"] == "2026-03-06 11:30 EST"


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "5.00 percentage points higher"), ("es", "alza de 5.00 puntos porcentuales")],
)
def test_an_approval_rate_that_rose_is_written_as_having_risen(desk, language, text):
    """An update after recovery: the observed rate is above the baseline, and the notice says so."""
    from cases.correspondence.compose import notice_compose

    desk.incident.affected_merchants.all().delete()
    AffectedMerchantFactory(
        incident=desk.incident,
        merchant=MerchantFactory(name="Tiendas Sol"),
        baseline_rate="0.9000",
        observed_rate="0.9500",
        attempts=1000,
        failed_attempts=50,
    )
    partner = desk.bbva if language == "es" else desk.visa
    PartnerContact.objects.filter(partner=desk.bbva).exclude(pk=desk.bbva_ops.pk).update(receives_notices=False)

    [draft] = notice_compose(
        incident=desk.incident, actor=desk.incident.owner, kind="update", partners=[partner]
    ).drafts

    assert draft.language == language
    assert f"({text})" in draft.body_text
    assert "lower" not in draft.body_text and "menos)" not in draft.body_text
