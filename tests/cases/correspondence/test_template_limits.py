"""The limits of the notice-template sandbox: a partner manager's template cannot make the server
loop, nest, recurse or write without bound. Such a template is refused with the line and the
reason when it is saved or previewed (pages, API, admin), and a stored one that breaks a limit
fails its notice with a clear error when it is composed, by a person or by an SLA escalation."""

from __future__ import annotations

import copy

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import Profile
from cases.correspondence.compose import notice_compose
from cases.models import CaseEvent, Correspondence
from partners.models import NoticeTemplate
from partners.notices import (
    MAX_LINE_CHARS,
    MAX_NESTING,
    MAX_OUTPUT_CHARS,
    MAX_RENDER_STEPS,
    MAX_TAG_WORDS,
    MAX_TEMPLATE_CHARS,
    NoticeRenderError,
    notice_template_errors,
    read_default_template,
    render_notice,
    sample_notice_contexts,
    template_problems,
)
from partners.services import notice_template_activate
from tests.api.helpers import token_client
from tests.cases.correspondence.data import notice_desk
from tests.cases.sla.data import bbva_acknowledge_breach, notify_and_mail
from tests.factories import AffectedMerchantFactory, MerchantFactory

SUBJECT = "[{{ reference }}] Update"
LITERAL = '"' + "x" * 100 + '"'
# The attack as reported: three loops over a 100-character literal, a million passes.
LITERAL_LOOPS = f"{{% for a in {LITERAL} %}}{{% for b in {LITERAL} %}}{{% for c in {LITERAL} %}}.{{% endfor %}}{{% endfor %}}{{% endfor %}}\n"  # noqa: E501
MERCHANT_LOOPS = (
    "{% for a in scope.merchants %}{% for b in scope.merchants %}{% for c in scope.merchants %}"
    ".{% endfor %}{% endfor %}{% endfor %}\n"
)
DEEP_IFS = "{% if folio %}\n" * 500 + "x\n" + "{% endif %}\n" * 500
NESTING_MESSAGE = f"Line {MAX_NESTING + 1}: tags are nested more than {MAX_NESTING} deep."
STEPS_MESSAGE = (
    f"rendering it takes more than {MAX_RENDER_STEPS:,} steps: a loop repeats everything inside it, "
    "and loops inside loops multiply."
)
OUTPUT_MESSAGE = f"rendering it produces more than {MAX_OUTPUT_CHARS:,} characters."


def nested(opening: str, closing: str, depth: int) -> str:
    return opening * depth + "x" + closing * depth + "\n"


def body_errors(body: str) -> list[str]:
    return notice_template_errors(subject=SUBJECT, body=body).get("body", [])


def with_merchants(count: int, merchants=None) -> dict:
    context = copy.deepcopy(sample_notice_contexts()[0])
    context["scope"]["merchants"] = merchants if merchants is not None else [f"Merchant {n}" for n in range(count)]
    context["scope"]["merchant_count"] = count
    return context


class CountingList(list):
    """A context list that counts the items rendering took from it."""

    taken = 0

    def __iter__(self):
        for item in super().__iter__():
            CountingList.taken += 1
            yield item


# --- loops --------------------------------------------------------------------------------------


def test_loops_over_literals_are_refused_on_save():
    assert (
        body_errors(LITERAL_LOOPS)
        == [
            "Line 1: a loop can only go over one of the notice's lists: scope.merchants, scope.networks, "
            "scope.bin_prefixes, scope.merchant_rows, scope.entry_modes, symptoms, escalation_contacts, billing.rows, "
            "billing.rate_cards, account.partners."
        ]
        * 3
    )


@pytest.mark.parametrize(
    "loop",
    [
        "{% for c in reference %}{{ c }}{% endfor %}",
        "{% for m in scope.merchants %}{% for c in m %}{% endfor %}{% endfor %}",
    ],
)
def test_a_loop_over_text_is_refused_too(loop):
    assert body_errors(loop + "\n")[0].startswith("Line 1: a loop can only go over one of the notice's lists")


def test_nested_loops_over_the_notices_lists_stop_within_the_step_budget():
    CountingList.taken = 0
    context = with_merchants(100, CountingList(f"Merchant {n}" for n in range(100)))

    with pytest.raises(NoticeRenderError) as refused:
        render_notice(subject=SUBJECT, body=MERCHANT_LOOPS, context=context, language="en")

    assert str(refused.value) == f"Line 1: {STEPS_MESSAGE}"
    assert CountingList.taken <= MAX_RENDER_STEPS  # counted while rendering, not after a million passes


class CountingMembership(list):
    """A context list that counts how often a condition asked whether it holds something."""

    asked = 0

    def __contains__(self, item):
        CountingMembership.asked += 1
        return super().__contains__(item)


def test_a_condition_comparing_a_long_list_costs_its_length():
    CountingMembership.asked = 0
    context = with_merchants(1_000, CountingMembership(f"Merchant {n}" for n in range(1_000)))
    body = "{% for m in scope.merchants %}{% if m in scope.merchants %}.{% endif %}{% endfor %}\n"

    with pytest.raises(NoticeRenderError, match="steps"):
        render_notice(subject=SUBJECT, body=body, context=context, language="en")

    # twice at most the budget's worth: once to render, once more to explain with the line
    assert CountingMembership.asked <= 2 * (MAX_RENDER_STEPS // 1_000 + 1)


def test_a_budget_spent_inside_a_condition_still_stops_the_render():
    # Django turns an error inside `and`/`or` into False; the spent budget is still refused.
    body = "{% if folio and scope.merchants == scope.merchants %}x{% endif %}"  # nothing after it

    with pytest.raises(NoticeRenderError, match="steps"):
        render_notice(subject=SUBJECT, body=body, context=with_merchants(MAX_RENDER_STEPS), language="en")


def test_the_step_budget_is_reported_on_save_with_the_line():
    problems = template_problems("Hello\n" + MERCHANT_LOOPS, sample_contexts=[with_merchants(100)])

    assert [str(problem) for problem in problems] == [f"Line 2: {STEPS_MESSAGE}"]


def test_a_loop_writing_too_much_text_stops_at_the_output_budget():
    body = "{% for m in scope.merchants %}" + "y" * 900 + "\n{% endfor %}\n"

    with pytest.raises(NoticeRenderError, match=OUTPUT_MESSAGE):
        render_notice(subject=SUBJECT, body=body, context=with_merchants(200), language="en")
    assert (
        render_notice(subject=SUBJECT, body=body, context=with_merchants(20), language="en").body.count("y") == 18_000
    )


@pytest.mark.parametrize(
    "body",
    [
        '{{ "' + "x" * 400 + '"|join:"' + "y" * 400 + '" }}\n',
        '{{ "' + "x" * 100 + '"|join:"' + "y" * 100 + '"|join:"' + "z" * 100 + '"|join:"' + "w" * 100 + '"|length }}\n',
        'A\n{{ scope.merchants|join:"' + "y" * 400 + '" }}\n{{ scope.merchants|join:"' + "y" * 400 + '" }}\n',
    ],
)
def test_filters_that_multiply_text_are_stopped_before_they_build_it(body):
    context = with_merchants(100)

    problems = [str(problem) for problem in template_problems(body, sample_contexts=[context])]

    assert problems == [f"Line {body.count(chr(10))}: {OUTPUT_MESSAGE}"]


def test_a_long_filter_chain_in_a_loop_is_charged_per_filter():
    chain = "{{ title" + "|lower" * 150 + " }}"
    body = "{% for m in scope.merchants %}" + chain + "{% endfor %}\n"

    assert (
        render_notice(subject=SUBJECT, body=body, context=with_merchants(10), language="en").body.count("debit") == 10
    )
    with pytest.raises(NoticeRenderError, match="rendering it (takes|produces) more than"):
        render_notice(subject=SUBJECT, body=body, context=with_merchants(200), language="en")


# --- nesting, long tags, long lines, long texts ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        DEEP_IFS,
        "{% for s in symptoms %}\n" * 500 + "{% endfor %}\n" * 500,
        "{% if folio %}\n{% for s in symptoms %}\n" * 250 + "{% endfor %}\n{% endif %}\n" * 250,
        "{% if folio %}{% else %}\n" * 500 + "{% endif %}\n" * 500,
    ],
)
def test_deep_nesting_is_refused_with_the_line_not_a_crash(body):
    assert body_errors(body) == [NESTING_MESSAGE]


def test_nesting_up_to_the_limit_is_fine():
    assert body_errors(nested("{% if folio %}", "{% endif %}", MAX_NESTING)) == []
    assert body_errors(nested("{% if folio %}", "{% endif %}", MAX_NESTING + 1)) == [
        f"Line 1: tags are nested more than {MAX_NESTING} deep."
    ]


@pytest.mark.parametrize(
    "body",
    [
        "{% if " + " or ".join(["folio"] * 60) + " %}x{% endif %}\n",
        "{% if folio %}x{% elif " + " and ".join(["title"] * 60) + " %}y{% endif %}\n",
        "{% if " + "not " * 200 + "folio %}x{% endif %}\n",
    ],
)
def test_a_tag_with_too_many_words_is_refused(body):
    assert body_errors("A\n" + body) == [f"Line 2: the tag has more than {MAX_TAG_WORDS} words: shorten the condition."]


@pytest.mark.parametrize("line", ["x" * (MAX_LINE_CHARS + 1), "{{" * 5_000, "{%" * 5_000, "{#" * 5_000])
def test_a_line_longer_than_the_limit_is_refused_before_it_is_parsed(line):
    assert body_errors("Hello\n" + line + "\n") == [
        f"Line 2: the line is longer than {MAX_LINE_CHARS:,} characters: break it into shorter lines."
    ]


@pytest.mark.parametrize(
    ("line", "opening", "closing"),
    [
        ("{{" * 450, "{{", "}}"),  # each one left open makes the lexer read the rest of the line again
        ("Dear {{ partner.name }}, {% if folio", "{%", "%}"),
        ("{{ reference }} }} {{ title", "{{", "}}"),
        ("{# a note", "{#", "#}"),
    ],
)
def test_a_tag_left_open_on_its_line_is_refused(line, opening, closing):
    assert body_errors("Hello\n" + line + "\nBye\n") == [
        f"Line 2: “{opening}” has no “{closing}” after it on its line."
    ]


def test_tags_closed_on_their_line_are_fine():
    assert body_errors("{{ reference }} {% if folio %}{{ folio }}{% endif %} {# note #} {{ title }}\n") == []


def test_a_text_longer_than_the_limit_is_refused():
    body = ("y" * 99 + "\n") * (MAX_TEMPLATE_CHARS // 100 + 1)

    assert body_errors(body) == [f"The text is longer than {MAX_TEMPLATE_CHARS:,} characters."]
    assert notice_template_errors(subject="x" * 251, body="ok\n")["subject"] == [
        "The text is longer than 250 characters."
    ]


def test_the_shipped_defaults_stay_far_below_every_limit():
    for kind in ("breakage", "update", "resolution", "rca_request", "follow_up", "sla_escalation"):
        for language in ("en", "es"):
            subject, body = read_default_template(kind, language)
            context = with_merchants(500)
            context["symptoms"] = context["symptoms"] * 30
            rendered = render_notice(subject=subject, body=body, context=context, language=language)
            assert len(rendered.body) < MAX_OUTPUT_CHARS // 10


def test_the_limit_messages_are_spanish_for_a_spanish_reader():
    from django.utils import translation

    with translation.override("es"):
        errors = body_errors(DEEP_IFS)
        steps = [str(p) for p in template_problems(MERCHANT_LOOPS, sample_contexts=[with_merchants(100)])]

    assert errors == [f"Línea {MAX_NESTING + 1}: las etiquetas están anidadas a más de {MAX_NESTING} niveles."]
    assert steps == [
        "Línea 1: generarlo toma más de 20,000 pasos: un ciclo repite todo lo que contiene y los ciclos "
        "dentro de ciclos se multiplican."
    ]


def test_a_spanish_template_reports_its_limits_in_the_readers_language():
    with pytest.raises(NoticeRenderError) as refused:
        render_notice(subject=SUBJECT, body=MERCHANT_LOOPS, context=with_merchants(100), language="es")

    assert str(refused.value) == f"Line 1: {STEPS_MESSAGE}"


# --- every entry point ------------------------------------------------------------------------------


@pytest.fixture
def desk(analyst):
    return notice_desk(owner=analyst)


def versions():
    return list(NoticeTemplate.objects.order_by("pk").values_list("pk", "version", "active"))


@pytest.mark.parametrize("body", [DEEP_IFS, LITERAL_LOOPS, '{{ "' + "x" * 400 + '"|join:"' + "y" * 400 + '" }}\n'])
def test_the_editor_refuses_it_on_save_and_preview_with_a_form_error(client, desk, partner_manager, body):
    client.force_login(partner_manager)
    before = versions()

    saved = client.post(
        reverse("partners:notice_template_edit", args=["update", "en"]), {"subject": SUBJECT, "body": body}
    )
    previewed = client.post(
        reverse("partners:notice_template_preview", args=["update", "en"]),
        {"subject": SUBJECT, "body": body, "engagement": desk.visa_engagement.pk},
        HTTP_HX_REQUEST="true",
    )

    assert (saved.status_code, previewed.status_code) == (200, 200)
    for response in (saved, previewed):
        assert "Line " in response.content.decode()
    assert versions() == before


def test_the_editor_refuses_it_in_spanish(client, desk, partner_manager):
    client.force_login(partner_manager)

    saved = client.post(
        reverse("partners:notice_template_edit", args=["update", "es"]),
        {"subject": SUBJECT, "body": DEEP_IFS},
        HTTP_ACCEPT_LANGUAGE="es",
    )

    assert saved.status_code == 200
    assert f"Línea {MAX_NESTING + 1}: las etiquetas están anidadas a más de {MAX_NESTING} niveles." in (
        saved.content.decode()
    )


@pytest.mark.parametrize("body", [DEEP_IFS, LITERAL_LOOPS, "x" * (MAX_LINE_CHARS + 1) + "\n"])
def test_the_api_refuses_it_on_save_and_preview_with_a_field_message(desk, partner_manager, body):
    client = token_client(partner_manager)
    before = versions()
    text = {"language": "en", "subject": SUBJECT, "body": body}

    saved = client.post(reverse("api:notice-template-list"), {"kind": "update", **text})
    sample = client.post(reverse("api:notice-template-preview"), text)
    engaged = client.post(
        reverse("api:notice-template-preview"), {**text, "incident": desk.incident.reference, "partner": "visa"}
    )

    for response in (saved, sample, engaged):
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["body"]
        assert response.json()["error"]["fields"]["body"][0].startswith("Line ")
    assert versions() == before


def test_the_api_refuses_it_in_spanish(partner_manager):
    response = token_client(partner_manager).post(
        reverse("api:notice-template-list"),
        {"kind": "update", "language": "es", "subject": SUBJECT, "body": DEEP_IFS},
        HTTP_ACCEPT_LANGUAGE="es",
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "body": [f"Línea {MAX_NESTING + 1}: las etiquetas están anidadas a más de {MAX_NESTING} niveles."]
    }


def test_the_api_refuses_a_body_longer_than_the_limit_as_a_field_error(partner_manager):
    response = token_client(partner_manager).post(
        reverse("api:notice-template-preview"),
        {"language": "en", "subject": SUBJECT, "body": "y\n" * (MAX_TEMPLATE_CHARS // 2 + 1)},
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["body"]


def test_the_admin_refuses_it(client, desk, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@payhealth.test", "secret-pass-123"))
    before = versions()

    response = client.post(
        reverse("admin:partners_noticetemplate_add"),
        {"kind": "update", "language": "en", "subject": SUBJECT, "body": DEEP_IFS},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["body"] == [NESTING_MESSAGE]
    assert versions() == before


def stored(kind: str, body: str) -> NoticeTemplate:
    """An active template that breaks a limit, as if written before the limits or by SQL."""
    NoticeTemplate.objects.filter(kind=kind, language="en", active=True).update(body=body)
    return NoticeTemplate.objects.get(kind=kind, language="en", partner_kind="", active=True)


@pytest.mark.parametrize("body", [DEEP_IFS, LITERAL_LOOPS, "x" * (MAX_LINE_CHARS + 1) + "\n"])
def test_composing_from_a_stored_template_beyond_the_limits_fails_with_a_clear_error(desk, analyst, body):
    template = stored("update", body)

    with pytest.raises(ValidationError) as refused:
        notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa])

    assert refused.value.code == "template_broken"
    visa_template = NoticeTemplate.objects.get(kind="update", language="en", partner_kind="card_network", active=True)
    assert template.body == visa_template.body  # every partner kind's variant is broken alike
    assert refused.value.messages[0].startswith(f"Template {visa_template} cannot be rendered: Line ")
    assert not Correspondence.objects.exists()
    assert not CaseEvent.objects.filter(kind="notice_drafted").exists()


def test_composing_for_an_incident_whose_lists_blow_the_budget_fails_with_a_clear_error(desk, analyst):
    stored("update", MERCHANT_LOOPS)
    for number in range(30):  # 30 × 30 × 30 passes
        AffectedMerchantFactory(incident=desk.incident, merchant=MerchantFactory(name=f"Comercio {number:02d}"))

    with pytest.raises(ValidationError, match="steps"):
        notice_compose(incident=desk.incident, actor=analyst, kind="update", partners=[desk.visa])

    assert not Correspondence.objects.exists()


def test_composing_on_the_page_and_over_the_api_reports_it(client, desk, partner_manager):
    stored("update", DEEP_IFS)
    client.force_login(partner_manager)

    page = client.post(
        reverse("cases:notice_compose", args=[desk.incident.reference]), {"kind": "update", "partners": [desk.visa.pk]}
    )
    api = token_client(partner_manager).post(
        reverse("api:notice-compose", args=[desk.incident.reference]), {"kind": "update", "partners": ["visa"]}
    )

    assert page.status_code == 200 and NESTING_MESSAGE in page.content.decode()
    assert api.status_code == 400 and NESTING_MESSAGE in api.json()["error"]["message"]
    assert not Correspondence.objects.exists()


def test_rolling_back_to_a_version_beyond_the_limits_is_refused(partner_manager, desk):
    old = NoticeTemplate.objects.create(
        kind="update", language="en", version=7, subject=SUBJECT, body=DEEP_IFS, active=False
    )

    with pytest.raises(ValidationError) as refused:
        notice_template_activate(actor=partner_manager, template=old)

    assert refused.value.message_dict == {"body": [NESTING_MESSAGE]}
    old.refresh_from_db()
    assert not old.active


@pytest.mark.django_db
def test_an_sla_escalation_from_a_template_beyond_the_limits_still_tells_the_desk(
    monkeypatch, analyst, partner_manager, lead, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Profile.objects.update_or_create(user=analyst, defaults={"language": "es", "timezone": "America/Mexico_City"})
    desk, breach, _now = bbva_acknowledge_breach(monkeypatch, analyst=analyst, partner_manager=partner_manager)
    NoticeTemplate.objects.filter(kind="sla_escalation", active=True).update(body=DEEP_IFS)
    mail.outbox.clear()

    assert notify_and_mail(event_id=breach.pk) == "notified"

    breach.refresh_from_db()
    assert breach.notified_at is not None
    assert not Correspondence.objects.filter(incident=desk.incident, kind="sla_escalation").exists()
    assert not CaseEvent.objects.filter(
        incident=desk.incident, kind="notice_drafted", data__notice_kind="sla_escalation"
    ).exists()
    by_address = {message.to[0]: message.body for message in mail.outbox}
    assert sorted(by_address) == ["ana@payhealth.test", "lucia@payhealth.test"]
    assert (
        "The escalation notice to BBVA México could not be written from its template: a partner manager needs to "
        "fix the SLA escalation template." in " ".join(by_address["lucia@payhealth.test"].split())
    )
    assert (
        "No se pudo redactar el aviso de escalamiento a BBVA México con su plantilla: un gestor de socios debe "
        "corregir la plantilla de escalamiento por SLA." in " ".join(by_address["ana@payhealth.test"].split())
    )


def test_an_index_that_is_not_ascii_digits_is_an_unknown_variable():
    assert body_errors("{{ symptoms.0.code }}") == []
    assert body_errors("{{ symptoms.².code }}") == ["Line 1: “symptoms.²” is not something a notice can show."]
