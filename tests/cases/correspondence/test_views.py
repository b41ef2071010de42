"""The notice screens (cases/correspondence/views/): compose, review and
edit, send or submit, approvals, the incident's messages with live status, the template editor."""

import pytest
from django.urls import reverse

from cases.correspondence.compose import notice_compose
from cases.correspondence.dispatch import notice_send, notice_submit
from cases.models import CaseEvent, Correspondence
from partners.models import NoticeTemplate
from tests.cases.correspondence.data import notice_desk

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
Status = Correspondence.Status


@pytest.fixture
def desk(analyst):
    return notice_desk(owner=analyst)


@pytest.fixture
def sev1_desk(analyst):
    return notice_desk(owner=analyst, severity="sev1")


def url(name, *args):
    return reverse(f"cases:{name}", args=args)


def login(client, user):
    client.force_login(user)
    return client


def snapshot():
    """Everything a refused request must leave untouched."""
    return (
        list(Correspondence.objects.order_by("pk").values_list("pk", "status", "subject", "body_text", "approved_by")),
        CaseEvent.objects.count(),
        list(NoticeTemplate.objects.order_by("pk").values_list("pk", "version", "active")),
    )


def drafts_of(desk, user):
    return notice_compose(incident=desk.incident, actor=user, kind="breakage").drafts


# Compose and review -----------------------------------------------------------------------------


def test_the_compose_page_lists_the_engaged_partners_and_the_kinds(client, desk, partner_manager):
    response = login(client, partner_manager).get(url("notice_compose", desk.incident.reference))
    assert response.status_code == 200
    html = response.content.decode()
    assert "BBVA México" in html and "Visa" in html
    assert "Breakage notice" in html and "All engaged partners" in html


def test_composing_for_all_partners_drafts_one_message_per_language_and_shows_them_side_by_side(
    client, desk, partner_manager
):
    client = login(client, partner_manager)
    response = client.post(
        url("notice_compose", desk.incident.reference), {"kind": "breakage", "all_partners": "on"}, follow=True
    )
    assert response.status_code == 200
    drafts = Correspondence.objects.filter(incident=desk.incident, status=Status.DRAFT)
    assert sorted(tuple(d.to_addresses) for d in drafts) == [
        ("intl@bbva.test",),
        ("operacion@bbva.test",),
        ("support@visa.test",),
    ]
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith(url("notice_review", desk.incident.reference))
    for draft in drafts:
        assert f'id="notice-{draft.pk}"' in html
        assert draft.subject in html
    assert 'lang="es"' in html and 'lang="en"' in html
    assert "Aviso de falla" in html and "please confirm receipt" in html
    assert "Send 3 notices" in html


def test_composing_for_chosen_partners_only_drafts_for_them(client, desk, partner_manager):
    login(client, partner_manager).post(
        url("notice_compose", desk.incident.reference), {"kind": "update", "partners": [desk.visa.pk]}
    )
    drafts = Correspondence.objects.filter(incident=desk.incident)
    assert [(d.engagement.partner, d.kind) for d in drafts] == [(desk.visa, "update")]


def test_composing_without_a_partner_is_refused_in_the_form(client, desk, partner_manager):
    response = login(client, partner_manager).post(url("notice_compose", desk.incident.reference), {"kind": "update"})
    assert response.status_code == 200
    assert "Pick at least one partner" in response.content.decode()
    assert not Correspondence.objects.exists()


def test_a_partner_without_eligible_contacts_is_reported(client, desk, partner_manager):
    desk.visa.contacts.update(receives_notices=False)
    response = login(client, partner_manager).post(
        url("notice_compose", desk.incident.reference), {"kind": "breakage", "all_partners": "on"}, follow=True
    )
    assert "Visa has no active contact that receives notices" in response.content.decode()
    response = login(client, partner_manager).post(
        url("notice_compose", desk.incident.reference), {"kind": "breakage", "partners": [desk.visa.pk]}
    )
    assert response.status_code == 200
    assert "Visa has no active contact that receives notices" in response.content.decode()


def test_an_edit_is_kept_in_place_with_htmx(client, desk, partner_manager):
    draft = drafts_of(desk, partner_manager)[0]
    client = login(client, partner_manager)
    form = client.get(url("notice_edit", draft.pk), **HTMX)
    assert form.status_code == 200 and 'name="body_text"' in form.content.decode()
    response = client.post(
        url("notice_edit", draft.pk), {"subject": "Nuevo asunto", "body_text": "Texto corregido.", "ids": ""}, **HTMX
    )
    assert response.status_code == 200
    draft.refresh_from_db()
    assert draft.subject == f"[{desk.incident.reference}] Nuevo asunto"
    assert draft.body_text == "Texto corregido.\n"
    assert "Texto corregido." in response.content.decode()
    assert 'name="body_text"' not in response.content.decode()


def test_an_empty_edit_comes_back_with_the_error(client, desk, partner_manager):
    draft = drafts_of(desk, partner_manager)[0]
    response = login(client, partner_manager).post(
        url("notice_edit", draft.pk), {"subject": "x", "body_text": ""}, **HTMX
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_only_the_author_edits_a_draft(client, desk, analyst, partner_manager):
    draft = drafts_of(desk, analyst)[0]
    before = snapshot()
    response = login(client, partner_manager).post(url("notice_edit", draft.pk), {"subject": "x", "body_text": "y"})
    assert response.status_code == 403
    assert snapshot() == before


def test_sending_a_sev3_notice_queues_every_draft(client, desk, partner_manager, django_capture_on_commit_callbacks):
    drafts = drafts_of(desk, partner_manager)
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(client, partner_manager).post(
            url("notice_release", desk.incident.reference), {"ids": [d.pk for d in drafts]}, **HTMX
        )
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("incident_detail", desk.incident.reference) + "#incident-notices"
    assert set(Correspondence.objects.values_list("status", flat=True)) == {Status.QUEUED}
    assert len(callbacks) == 1


def test_an_analyst_drafts_but_cannot_send(client, desk, analyst):
    drafts = drafts_of(desk, analyst)
    client = login(client, analyst)
    review = client.get(url("notice_review", desk.incident.reference))
    assert "a partner manager or a lead sends them" in review.content.decode()
    before = snapshot()
    response = client.post(url("notice_release", desk.incident.reference), {"ids": [d.pk for d in drafts]})
    assert response.status_code == 403
    assert snapshot() == before


def test_a_sev1_notice_is_submitted_for_approval_not_sent(client, sev1_desk, partner_manager):
    drafts = drafts_of(sev1_desk, partner_manager)
    client = login(client, partner_manager)
    review = client.get(url("notice_review", sev1_desk.incident.reference))
    assert "Submit for approval" in review.content.decode()
    response = client.post(url("notice_release", sev1_desk.incident.reference), {"ids": [d.pk for d in drafts]})
    assert response.status_code == 302
    assert set(Correspondence.objects.values_list("status", flat=True)) == {Status.PENDING_APPROVAL}


def test_an_analyst_may_submit_a_sev1_notice_for_approval(client, sev1_desk, analyst):
    drafts = drafts_of(sev1_desk, analyst)
    response = login(client, analyst).post(
        url("notice_release", sev1_desk.incident.reference), {"ids": [d.pk for d in drafts]}
    )
    assert response.status_code == 302
    assert set(Correspondence.objects.values_list("status", flat=True)) == {Status.PENDING_APPROVAL}


def test_a_sev1_draft_stays_an_approval_after_the_incident_is_lowered_on_its_page(
    client, sev1_desk, partner_manager, django_capture_on_commit_callbacks
):
    drafts = drafts_of(sev1_desk, partner_manager)
    client = login(client, partner_manager)
    lowered = client.post(
        url("incident_severity", sev1_desk.incident.reference), {"severity": "sev3", "reason": "Looks smaller"}
    )
    assert lowered.status_code == 302
    sev1_desk.incident.refresh_from_db()
    assert sev1_desk.incident.severity == "sev3"

    review = client.get(url("notice_review", sev1_desk.incident.reference))
    assert "Submit for approval" in review.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("notice_release", sev1_desk.incident.reference), {"ids": [d.pk for d in drafts]})

    assert response.status_code == 302
    assert set(Correspondence.objects.values_list("status", flat=True)) == {Status.PENDING_APPROVAL}
    assert callbacks == []


def test_an_analyst_cannot_submit_someone_elses_sev1_drafts(client, sev1_desk, analyst, partner_manager):
    drafts = drafts_of(sev1_desk, partner_manager)
    client = login(client, analyst)
    review = client.get(url("notice_review", sev1_desk.incident.reference)).content.decode()
    assert "Submit for approval" not in review
    before = snapshot()

    response = client.post(url("notice_release", sev1_desk.incident.reference), {"ids": [d.pk for d in drafts]})

    assert response.status_code == 403
    assert snapshot() == before


def test_outsiders_see_nothing_and_change_nothing(client, desk, outsider, partner_manager):
    draft = drafts_of(desk, partner_manager)[0]
    client = login(client, outsider)
    before = snapshot()
    for method, target, data in [
        ("get", url("notice_compose", desk.incident.reference), {}),
        ("post", url("notice_compose", desk.incident.reference), {"kind": "update", "all_partners": "on"}),
        ("get", url("notice_review", desk.incident.reference), {}),
        ("get", url("incident_notices", desk.incident.reference), {}),
        ("post", url("notice_edit", draft.pk), {"subject": "x", "body_text": "y"}),
        ("post", url("notice_release", desk.incident.reference), {"ids": [draft.pk]}),
        ("get", url("notice_approvals"), {}),
        ("post", url("notice_approve", draft.pk), {}),
        ("post", url("notice_reject", draft.pk), {"comment": "no"}),
        ("post", url("notice_retry", draft.pk), {}),
        ("get", reverse("partners:notice_template_list"), {}),
        ("post", reverse("partners:notice_template_edit", args=["breakage", "en"]), {"subject": "x", "body": "y"}),
    ]:
        response = getattr(client, method)(target, data)
        assert response.status_code == 403, (method, target)
    assert snapshot() == before


def test_anonymous_visitors_are_sent_to_the_login_page(client, desk):
    response = client.get(url("notice_compose", desk.incident.reference))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# Approvals --------------------------------------------------------------------------------------


@pytest.fixture
def pending(sev1_desk, partner_manager):
    drafts = drafts_of(sev1_desk, partner_manager)
    for draft in drafts:
        notice_submit(correspondence=draft, actor=partner_manager)
    return drafts


def test_the_approvals_page_is_for_leads(client, pending, partner_manager, lead):
    assert login(client, partner_manager).get(url("notice_approvals")).status_code == 403
    response = login(client, lead).get(url("notice_approvals"))
    assert response.status_code == 200
    html = response.content.decode()
    for notice in pending:
        assert f'id="pending-{notice.pk}"' in html and notice.subject in html
    assert "Approve and send" in html


def test_a_lead_approves_with_a_comment_and_the_notice_is_queued(
    client, pending, lead, django_capture_on_commit_callbacks
):
    notice = pending[0]
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(client, lead).post(url("notice_approve", notice.pk), {"comment": "Bien redactado."})
    assert response.status_code == 302
    notice.refresh_from_db()
    assert (notice.status, notice.approved_by) == (Status.QUEUED, lead)
    event = CaseEvent.objects.get(kind="notice_approved")
    assert event.data["comment"] == "Bien redactado."
    assert len(callbacks) == 1


def test_a_rejection_needs_a_comment(client, pending, lead):
    notice = pending[0]
    client = login(client, lead)
    response = client.post(url("notice_reject", notice.pk), {"comment": ""})
    assert response.status_code == 200
    assert "Say what needs to change." in response.content.decode()
    notice.refresh_from_db()
    assert notice.status == Status.PENDING_APPROVAL
    client.post(url("notice_reject", notice.pk), {"comment": "Falta el folio."})
    notice.refresh_from_db()
    assert notice.status == Status.DRAFT


def test_a_lead_cannot_approve_their_own_notice(client, sev1_desk, lead):
    draft = drafts_of(sev1_desk, lead)[0]
    notice_submit(correspondence=draft, actor=lead)
    client = login(client, lead)
    page = client.get(url("notice_approvals")).content.decode()
    assert "You wrote this notice: another lead must approve it." in page
    before = snapshot()
    response = client.post(url("notice_approve", draft.pk), {"comment": "ok"})
    assert response.status_code == 403
    assert "another lead must approve it" in response.content.decode()
    assert snapshot() == before


def test_a_partner_manager_cannot_approve(client, pending, partner_manager):
    before = snapshot()
    response = login(client, partner_manager).post(url("notice_approve", pending[0].pk), {"comment": "ok"})
    assert response.status_code == 403
    assert snapshot() == before


# The incident's messages ------------------------------------------------------------------------


def test_the_section_groups_messages_per_partner_and_polls_while_something_is_on_its_way(
    client, desk, partner_manager, django_capture_on_commit_callbacks
):
    drafts = drafts_of(desk, partner_manager)
    client = login(client, partner_manager)
    section = client.get(url("incident_notices", desk.incident.reference), **HTMX).content.decode()
    assert section.count('class="notice-thread"') == 2
    assert section.index("BBVA México") < section.index("Visa")
    assert "every 5s" not in section  # drafts only: nothing to watch
    with django_capture_on_commit_callbacks():
        notice_send(correspondence=drafts[0], actor=partner_manager)
    section = client.get(url("incident_notices", desk.incident.reference), **HTMX).content.decode()
    assert 'hx-trigger="every 5s"' in section and "Queued" in section
    Correspondence.objects.filter(pk=drafts[0].pk).update(status=Status.SENT, sent_at=drafts[0].created_at)
    section = client.get(url("incident_notices", desk.incident.reference), **HTMX).content.decode()
    assert "every 5s" not in section and "Sent" in section


def test_without_htmx_the_messages_are_a_page_of_their_own(client, desk, partner_manager):
    drafts_of(desk, partner_manager)
    response = login(client, partner_manager).get(url("incident_notices", desk.incident.reference))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="incident-notices"' in html and "BBVA México" in html


def test_the_incident_page_loads_the_messages_section(client, desk, analyst):
    html = login(client, analyst).get(url("incident_detail", desk.incident.reference)).content.decode()
    assert 'id="incident-notices"' in html
    assert f'hx-get="{url("incident_notices", desk.incident.reference)}"' in html


def test_someone_else_opening_a_draft_for_editing_just_reads_it(client, desk, analyst, partner_manager):
    draft = drafts_of(desk, analyst)[0]
    response = login(client, partner_manager).get(url("notice_edit", draft.pk))
    assert response.status_code == 200
    assert draft.subject in response.content.decode() and 'name="body_text"' not in response.content.decode()


def test_a_failed_notice_shows_the_servers_answer_and_can_be_retried(
    client, desk, analyst, partner_manager, django_capture_on_commit_callbacks
):
    draft = drafts_of(desk, partner_manager)[0]
    Correspondence.objects.filter(pk=draft.pk).update(status=Status.FAILED, last_error="550 5.1.1 No such user")
    analyst_view = login(client, analyst).get(url("incident_notices", desk.incident.reference), **HTMX)
    assert "550 5.1.1 No such user" in analyst_view.content.decode()
    assert "Retry" not in analyst_view.content.decode()
    before = snapshot()
    assert client.post(url("notice_retry", draft.pk), **HTMX).status_code == 403
    assert snapshot() == before

    client = login(client, partner_manager)
    assert ">Retry<" in client.get(url("incident_notices", desk.incident.reference), **HTMX).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("notice_retry", draft.pk), **HTMX)
    assert response.status_code == 200 and 'hx-trigger="every 5s"' in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Status.QUEUED
    assert len(callbacks) == 1


def test_the_compose_page_shows_the_messages_in_the_viewers_zone(client, desk, partner_manager):
    draft = drafts_of(desk, partner_manager)[0]
    Correspondence.objects.filter(pk=draft.pk).update(
        status=Status.SENT, sent_at=desk.incident.started_at
    )  # 15:00 UTC: 09:00 in Mexico City, the desk default
    html = login(client, partner_manager).get(url("notice_compose", desk.incident.reference)).content.decode()
    assert 'id="incident-notices"' in html
    assert "09:00" in html


# The template editor ----------------------------------------------------------------------------


def test_the_template_list_shows_every_kind_and_language(client, desk, partner_manager, analyst):
    assert login(client, analyst).get(reverse("partners:notice_template_list")).status_code == 403
    response = login(client, partner_manager).get(reverse("partners:notice_template_list"))
    assert response.status_code == 200
    html = response.content.decode()
    for kind, label in NoticeTemplate.Kind.choices:
        assert str(label) in html
        assert reverse("partners:notice_template_edit", args=[kind, "es"]) in html


def test_the_editor_shows_the_active_text_the_variables_and_the_versions(client, desk, partner_manager):
    response = login(client, partner_manager).get(reverse("partners:notice_template_edit", args=["breakage", "es"]))
    html = response.content.decode()
    assert "Aviso de falla" in html
    assert "window.start.text" in html and "escalation_contacts" in html
    assert "v1" in html and "in use" in html


def test_saving_a_template_creates_a_new_version(client, desk, partner_manager):
    response = login(client, partner_manager).post(
        reverse("partners:notice_template_edit", args=["update", "en"]),
        {"subject": "[{{ reference }}] Update", "body": "Hello {{ partner.name }}.\n"},
    )
    assert response.status_code == 302
    active = NoticeTemplate.objects.get(kind="update", language="en", partner_kind="", active=True)
    assert (active.version, active.author) == (2, partner_manager)


def test_a_bad_template_is_refused_with_the_line_and_the_reason(client, desk, partner_manager):
    before = snapshot()
    body = "Hello {{ partner.name }},\n\nThe key is {{ settings.SECRET_KEY }}.\n{% if x %}\n"
    response = login(client, partner_manager).post(
        reverse("partners:notice_template_edit", args=["update", "en"]), {"subject": "Update", "body": body}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Line 4:" in html  # the unclosed {% if %}
    response = client.post(
        reverse("partners:notice_template_edit", args=["update", "en"]),
        {"subject": "Update", "body": "Hello,\n\nThe key is {{ settings.SECRET_KEY }}.\n"},
    )
    html = response.content.decode()
    assert "Line 3:" in html and "unknown variable" in html and "settings" in html
    assert snapshot() == before


def test_the_live_preview_renders_for_a_chosen_partner(client, desk, partner_manager):
    client = login(client, partner_manager)
    preview = reverse("partners:notice_template_preview", args=["breakage", "es"])
    response = client.post(
        preview,
        {
            "subject": "Aviso {{ reference }}",
            "body": "Estimado equipo de {{ partner.name }}: folio {{ folio }}.\n",
            "engagement": desk.bbva_engagement.pk,
        },
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert f"[{desk.incident.reference}]" in html
    assert "Estimado equipo de BBVA México: folio MX-7781." in html
    assert 'id="notice-preview"' in html and "<html" not in html


def test_the_live_preview_uses_sample_data_and_shows_problems(client, desk, partner_manager):
    client = login(client, partner_manager)
    preview = reverse("partners:notice_template_preview", args=["update", "en"])
    html = client.post(preview, {"subject": "Hi", "body": "Hello {{ partner.name }}"}, **HTMX).content.decode()
    assert "Hello Sample Bank" in html
    html = client.post(preview, {"subject": "Hi", "body": "a\n{% load static %}"}, **HTMX).content.decode()
    assert "Line 2:" in html and "not allowed" in html


def test_the_live_preview_never_shows_a_card_number_and_says_why(client, desk, partner_manager):
    client = login(client, partner_manager)
    preview = reverse("partners:notice_template_preview", args=["update", "en"])

    html = client.post(preview, {"subject": "Hi", "body": "Card 4111 1111 1111 1111 declined"}, **HTMX).content.decode()

    assert "Card numbers are never stored" in html
    assert "4111 1111 1111 1111" not in html and "4111111111111111" not in html
