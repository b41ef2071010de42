"""The incident page, its in-place actions, and the "open an incident" form (cases/views/incident.py)."""

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import AffectedMerchant, CaseEvent, Incident, InvestigationNote, PartnerEngagement
from cases.services import incident_open, incident_transition, note_add
from cases.templatetags.cases_extras import event_sentence
from tests.factories import MerchantFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MEXICO_CITY = zoneinfo.ZoneInfo("America/Mexico_City")  # the desk default the middleware activates
DESK = ["analyst", "partner_manager", "lead"]


@pytest.fixture
def incident(analyst):
    return incident_open(
        actor=analyst,
        title="Rechazos 05 en Banorte débito",
        category="auth_rate",
        severity="sev2",
        decline_codes=["05", "91", "zz_unknown"],
        bin_prefixes=["411111", "52345678"],
        merchants=[MerchantFactory(name="Farmacia Lupita")],
        partners=[PartnerFactory(name="Prosa", code="prosa")],
    )


def url(name, incident, *args):
    return reverse(f"cases:{name}", args=[incident.reference, *args])


def login(client, user):
    client.force_login(user)
    return client


def snapshot():
    """Everything a refused request must leave untouched."""
    return (
        list(
            Incident.objects.order_by("pk").values_list("pk", "status", "severity", "owner_id", "title", "updated_at")
        ),
        CaseEvent.objects.count(),
        list(InvestigationNote.objects.order_by("pk").values_list("pk", "body")),
        list(AffectedMerchant.objects.order_by("pk").values_list("pk", "attempts", "observed_rate")),
        list(PartnerEngagement.objects.order_by("pk").values_list("pk", "folio", "partner_status")),
    )


# Permissions ----------------------------------------------------------------------------------


def endpoints(incident):
    """Every view of this module: (name, method, url, data)."""
    note = incident.notes.first()
    row = incident.affected_merchants.get()
    engagement = incident.engagements.get()
    return [
        ("detail", "get", url("incident_detail", incident), {}),
        ("create form", "get", reverse("cases:incident_create"), {}),
        ("create", "post", reverse("cases:incident_create"), {"title": "x", "category": "outage", "severity": "sev4"}),
        ("transition", "post", url("incident_transition", incident), {"to": "triaging"}),
        ("severity", "post", url("incident_severity", incident), {"severity": "sev1", "reason": "worse"}),
        ("owner", "post", url("incident_owner", incident), {"owner": ""}),
        ("details", "post", url("incident_details", incident), {"title": "changed", "category": "outage"}),
        ("note add", "post", url("incident_note_add", incident), {"body": "new note"}),
        ("note edit", "post", url("incident_note_edit", incident, note.pk), {"body": "rewritten"}),
        ("merchants", "get", url("incident_merchants", incident), {}),
        ("merchant add", "post", url("incident_merchant_add", incident), {"merchant": MerchantFactory().pk}),
        ("merchant edit form", "get", url("incident_merchant_edit", incident, row.pk), {}),
        (
            "merchant edit",
            "post",
            url("incident_merchant_edit", incident, row.pk),
            {"attempts": "7", "failed_attempts": "0", "volume_at_risk": "0", "currency": "MXN"},
        ),
        ("merchant remove", "post", url("incident_merchant_remove", incident, row.pk), {}),
        ("partners", "get", url("incident_engagements", incident), {}),
        ("partner add", "post", url("incident_engagement_add", incident), {"partner": PartnerFactory().pk}),
        ("partner edit form", "get", url("incident_engagement_edit", incident, engagement.pk), {}),
        (
            "partner edit",
            "post",
            url("incident_engagement_edit", incident, engagement.pk),
            {"folio": "F-9", "partner_status": "acknowledged"},
        ),
    ]


def test_anonymous_visitors_are_sent_to_log_in_and_nothing_changes(client, incident, analyst):
    note_add(incident=incident, actor=analyst, body="first")
    for name, method, target, data in endpoints(incident):
        before = snapshot()
        response = getattr(client, method)(target, data)
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login")), name
        assert snapshot() == before, name


def test_a_user_without_a_desk_role_gets_403_everywhere_and_nothing_changes(client, incident, analyst, outsider):
    note_add(incident=incident, actor=analyst, body="first")
    login(client, outsider)
    for name, method, target, data in endpoints(incident):
        before = snapshot()
        for headers in ({}, HTMX):
            response = getattr(client, method)(target, data, **headers)
            assert response.status_code == 403, name
        assert snapshot() == before, name


@pytest.mark.parametrize("role", DESK)
def test_every_desk_role_may_use_every_view(client, request, incident, role):
    user = request.getfixturevalue(role)
    note_add(incident=incident, actor=user, body="first")
    login(client, user)
    for name, method, target, data in endpoints(incident):
        response = getattr(client, method)(target, data)
        assert response.status_code in (200, 302), (name, response.status_code)


def test_only_the_author_may_edit_a_note_even_through_the_page(client, incident, analyst, lead):
    note = note_add(incident=incident, actor=analyst, body="Analyst's words")
    login(client, lead)
    page = client.get(url("incident_detail", incident)).content.decode()
    assert url("incident_note_edit", incident, note.pk) not in page
    before = snapshot()
    response = client.post(url("incident_note_edit", incident, note.pk), {"body": "Lead's words"}, **HTMX)
    assert response.status_code == 403
    assert snapshot() == before


def test_an_unknown_reference_is_404(client, analyst):
    login(client, analyst)
    assert client.get(reverse("cases:incident_detail", args=["PH-2026-999999"])).status_code == 404


# The page -------------------------------------------------------------------------------------


def test_the_page_shows_the_header_codes_bins_merchants_partners_and_timeline(client, incident, analyst):
    analyst.first_name, analyst.last_name = "Ana", "López"
    analyst.save()
    Incident.objects.filter(pk=incident.pk).update(
        started_at=datetime(2026, 3, 1, 18, 30, tzinfo=UTC), detected_at=datetime(2026, 3, 1, 19, 5, tzinfo=UTC)
    )
    login(client, analyst)
    html = client.get(url("incident_detail", incident)).content.decode()
    assert incident.reference in html
    assert "Rechazos 05 en Banorte débito" in html
    assert "SEV2 – major" in html and "New" in html
    # Impact window in the viewer's zone (Mexico City, UTC−6) and in UTC, with the zone named.
    assert "America/Mexico_City" in html
    assert "03/01/2026 12:30 p.m." in html and "03/01/2026 6:30 p.m." in html
    # Decline codes with their meaning and category from ResponseCode; an unknown code still shows.
    assert "Do not honor" in html and "Soft decline" in html
    assert "Issuer or switch inoperative" in html and "Issuer unavailable" in html
    assert "zz_unknown" in html and "Not in the response code reference." in html
    assert "411111" in html and "52345678" in html
    assert "Farmacia Lupita" in html and reverse("partners:partner_detail", args=["prosa"]) in html
    assert "Ana López opened the incident as SEV2 – major (Authorization rate regression)." in html
    assert "Ana López added merchant Farmacia Lupita." in html and "Ana López engaged Prosa." in html


def test_the_timeline_reads_as_sentences_with_reasons(client, incident, analyst):
    analyst.first_name, analyst.last_name = "Ana", "López"
    analyst.save()
    incident_transition(incident=incident, actor=analyst, to="investigating")
    login(client, analyst)
    client.post(
        url("incident_transition", incident),
        {"to": "waiting_on_partner", "partner": "prosa", "reason": "Prosa folio 4821"},
    )
    html = client.get(url("incident_detail", incident)).content.decode()
    assert "Ana López moved the incident from New to Investigating." in html
    assert re.search(r"Ana López moved the incident from Investigating to Waiting on partner.*Prosa folio 4821", html)


def test_htmx_gets_the_part_and_a_plain_request_the_whole_page(client, incident, analyst):
    row = incident.affected_merchants.get()
    login(client, analyst)
    part = client.get(url("incident_merchant_edit", incident, row.pk), **HTMX).content.decode()
    assert part.lstrip().startswith('<section id="incident-merchants"')
    assert "<html" not in part and f'id="merchant-form-{row.pk}"' in part
    page = client.get(url("incident_merchant_edit", incident, row.pk)).content.decode()
    assert "<html" in page and f'id="merchant-form-{row.pk}"' in page


@pytest.mark.parametrize(
    ("name", "part", "marker"),
    [
        ("incident_details", "incident-details", 'name="bin_prefixes"'),
        ("incident_merchant_add", "incident-merchants", 'name="merchant"'),
        ("incident_engagement_add", "incident-partners", 'name="partner"'),
    ],
)
def test_edit_forms_are_rendered_only_when_asked_for(client, incident, analyst, name, part, marker):
    login(client, analyst)
    page = client.get(url("incident_detail", incident)).content.decode()
    assert marker not in page and url(name, incident) in page
    fragment = client.get(url(name, incident), **HTMX).content.decode()
    assert fragment.lstrip().startswith(f'<section id="{part}"') and marker in fragment
    assert marker in client.get(url(name, incident)).content.decode()  # without JavaScript: the page, form open


def test_only_the_author_gets_the_note_in_edit_mode(client, incident, analyst, lead):
    note = note_add(incident=incident, actor=analyst, body="Analyst's words")
    login(client, lead)
    response = client.get(url("incident_note_edit", incident, note.pk), **HTMX)
    assert response.status_code == 200 and "<textarea" in response.content.decode()  # only the new-note box
    assert f"id_note{note.pk}_body" not in response.content.decode()
    login(client, analyst)
    assert f"id_note{note.pk}_body" in client.get(url("incident_note_edit", incident, note.pk), **HTMX).content.decode()


def test_a_write_over_htmx_returns_the_part_and_refreshes_the_timeline_out_of_band(client, incident, analyst):
    login(client, analyst)
    response = client.post(
        url("incident_severity", incident), {"severity": "sev1", "reason": "Llamada con Prosa"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="incident-actions"')
    assert 'id="incident-header"' in html and 'id="incident-timeline"' in html and 'hx-swap-oob="true"' in html
    assert "Llamada con Prosa" in html  # the new event, in the refreshed activity feed
    assert "<html" not in html


def test_a_note_over_htmx_returns_the_activity_feed_with_the_note_on_top(client, incident, analyst):
    login(client, analyst)
    response = client.post(url("incident_note_add", incident), {"body": "Llamada con **Prosa**"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="incident-timeline"')
    feed = html[html.index('<ol class="feed-list') :]
    assert feed.index("<strong>Prosa</strong>") < feed.index("opened the incident")
    assert 'id="incident-notes"' in html  # the note box, empty again
    assert "<html" not in html


def test_a_write_without_htmx_redirects_back_to_the_part(client, incident, analyst):
    login(client, analyst)
    response = client.post(url("incident_note_add", incident), {"body": "Plain form post"})
    assert response.status_code == 302
    assert response["Location"] == url("incident_detail", incident) + "#incident-timeline"
    assert incident.notes.get().body == "Plain form post"


def test_a_form_error_without_htmx_shows_the_whole_page_with_the_error(client, incident, analyst):
    row = incident.affected_merchants.get()
    login(client, analyst)
    before = snapshot()
    response = client.post(
        url("incident_merchant_edit", incident, row.pk),
        {"attempts": "1", "failed_attempts": "2", "volume_at_risk": "0", "currency": "MXN"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Failed attempts cannot exceed attempts." in html
    assert f'id="merchant-form-{row.pk}"' in html
    assert snapshot() == before


def test_notes_are_sanitised_on_the_page(client, incident, analyst):
    note_add(incident=incident, actor=analyst, body='<script>alert("x")</script><img src=x onerror="alert(1)"> **ok**')
    login(client, analyst)
    html = client.get(url("incident_detail", incident)).content.decode()
    notes = html[html.index('id="incident-notes"') : html.index('id="incident-actions"')]
    rendered = re.search(r'<div class="note-body markdown">(.*?)</div>', notes, re.S).group(1)
    assert rendered.strip() == "<p> <strong>ok</strong></p>"
    assert "<script" not in notes and "<img" not in notes
    # The edit box shows the author's source text, escaped: inert.
    editing = client.get(url("incident_note_edit", incident, incident.notes.get().pk), **HTMX).content.decode()
    assert "<textarea" in editing and "&lt;script&gt;" in editing
    assert "<script" not in editing and "<img" not in editing


# Status, severity, owner ----------------------------------------------------------------------


def offered(html):
    return re.findall(r'<input type="hidden" name="to" value="([a-z_]+)"', html)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([], ["triaging", "investigating"]),
        (["investigating"], ["waiting_on_partner", "mitigated", "resolved"]),
        (["investigating", "resolved"], ["closed", "investigating"]),
        (["investigating", "resolved", "closed"], ["investigating"]),
    ],
)
def test_only_the_allowed_transitions_are_offered(client, incident, analyst, path, expected):
    for step in path:
        incident = incident_transition(incident=incident, actor=analyst, to=step)
    login(client, analyst)
    html = client.get(url("incident_detail", incident)).content.decode()
    assert offered(html) == expected == list(incident.allowed_transitions())


def test_a_transition_not_allowed_now_is_refused_and_changes_nothing(client, incident, analyst):
    login(client, analyst)
    before = snapshot()
    response = client.post(url("incident_transition", incident), {"to": "closed"}, **HTMX)
    assert response.status_code == 200
    assert "cannot move to that status" in response.content.decode()
    assert snapshot() == before


def test_waiting_on_partner_needs_an_engaged_partner_and_a_reason(client, incident, analyst):
    incident = incident_transition(incident=incident, actor=analyst, to="investigating")
    stranger = PartnerFactory(code="stranger")
    login(client, analyst)
    before = snapshot()
    for data in ({}, {"partner": "prosa"}, {"reason": "folio 4821"}, {"partner": stranger.code, "reason": "x"}):
        response = client.post(url("incident_transition", incident), {"to": "waiting_on_partner", **data}, **HTMX)
        assert response.status_code == 200
        assert "errorlist" in response.content.decode(), data
        assert snapshot() == before, data
    response = client.post(
        url("incident_transition", incident),
        {"to": "waiting_on_partner", "partner": "prosa", "reason": "folio 4821"},
        **HTMX,
    )
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.status == "waiting_on_partner"
    event = incident.events.filter(kind="status_changed").last()
    assert event.actor == analyst
    assert event.data.get("partner") == "Prosa" or event.data["reason"].startswith("Prosa")
    assert "folio 4821" in event.data["reason"]
    html = response.content.decode()
    assert 'id="incident-header"' in html and 'id="incident-timeline"' in html


def test_reopening_needs_a_reason(client, incident, analyst):
    for step in ("investigating", "resolved"):
        incident = incident_transition(incident=incident, actor=analyst, to=step)
    login(client, analyst)
    before = snapshot()
    response = client.post(url("incident_transition", incident), {"to": "investigating", "reason": " "}, **HTMX)
    assert "This field is required." in response.content.decode()
    assert snapshot() == before
    client.post(url("incident_transition", incident), {"to": "investigating", "reason": "Declines are back"})
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at) == ("investigating", None)


def test_severity_change_needs_a_reason(client, incident, analyst):
    login(client, analyst)
    before = snapshot()
    response = client.post(url("incident_severity", incident), {"severity": "sev1", "reason": ""}, **HTMX)
    assert "errorlist" in response.content.decode()
    assert snapshot() == before
    client.post(url("incident_severity", incident), {"severity": "sev1", "reason": "Three issuers down"})
    event = incident.events.get(kind="severity_changed")
    assert event.data == {"from": "sev2", "to": "sev1", "reason": "Three issuers down"}


def test_owner_change_goes_through_the_service(client, incident, analyst, lead):
    login(client, analyst)
    client.post(url("incident_owner", incident), {"owner": lead.pk})
    incident.refresh_from_db()
    assert incident.owner == lead
    assert incident.events.get(kind="owner_changed").data == {"from": "ana", "to": "lucia"}


def test_an_owner_without_a_desk_role_is_refused(client, incident, analyst, outsider):
    login(client, analyst)
    before = snapshot()
    response = client.post(url("incident_owner", incident), {"owner": outsider.pk}, **HTMX)
    assert "errorlist" in response.content.decode()
    assert snapshot() == before


# Details --------------------------------------------------------------------------------------


def details_data(incident, **changes):
    data = {
        "title": incident.title,
        "category": incident.category,
        "summary": incident.summary,
        "root_cause": incident.root_cause,
        "decline_codes": ", ".join(incident.decline_codes),
        "bin_prefixes": ", ".join(incident.bin_prefixes),
        "country": incident.country,
    }
    for name in ("started_at", "detected_at", "mitigated_at"):
        moment = getattr(incident, name)
        data[name] = timezone.localtime(moment, MEXICO_CITY).strftime("%Y-%m-%dT%H:%M") if moment else ""
    return data | changes


def test_details_are_saved_with_only_the_changed_fields_on_the_timeline(client, incident, analyst):
    login(client, analyst)
    response = client.post(
        url("incident_details", incident),
        details_data(incident, root_cause="Certificado vencido", decline_codes="05, 51", started_at="2026-03-01T12:30"),
        **HTMX,
    )
    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.decline_codes == ["05", "51"]
    # Typed in the viewer's zone (Mexico City), stored in UTC.
    assert incident.started_at == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    event = incident.events.get(kind="details_changed")
    assert set(event.data["changes"]) == {"root_cause", "decline_codes", "started_at"}


def test_a_card_number_in_the_details_is_refused_and_not_echoed(client, incident, analyst):
    login(client, analyst)
    before = snapshot()
    response = client.post(
        url("incident_details", incident), details_data(incident, bin_prefixes="411111, 4111 1111 1111 1111"), **HTMX
    )
    html = response.content.decode()
    assert "Card numbers are never stored" in html
    assert "4111111111111111" not in html and "4111 1111 1111 1111" not in html
    assert snapshot() == before


# Merchants and partners -----------------------------------------------------------------------


def test_a_merchant_is_added_with_rates_typed_as_percentages(client, incident, analyst):
    merchant = MerchantFactory(name="Cinépolis")
    login(client, analyst)
    response = client.post(
        url("incident_merchant_add", incident),
        {
            "merchant": merchant.pk,
            "baseline_pct": "92.5",
            "observed_pct": "80",
            "attempts": "1000",
            "failed_attempts": "200",
            "volume_at_risk": "150000.5",
            "currency": "mxn",
            "rate_definition": "all_attempts",
        },
        **HTMX,
    )
    row = incident.affected_merchants.get(merchant=merchant)
    assert (row.baseline_rate, row.observed_rate, row.currency) == (Decimal("0.9250"), Decimal("0.8000"), "MXN")
    assert row.excess_declines == 200 - 75
    html = response.content.decode()
    assert "92.50 %" in html and "12.50 pp" in html and "125" in html


def test_failed_attempts_above_attempts_come_back_as_a_form_error(client, incident, analyst):
    row = incident.affected_merchants.get()
    login(client, analyst)
    before = snapshot()
    response = client.post(
        url("incident_merchant_edit", incident, row.pk),
        {
            "attempts": "10",
            "failed_attempts": "11",
            "volume_at_risk": "0",
            "currency": "MXN",
            "rate_definition": "all_attempts",
        },
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Failed attempts cannot exceed attempts." in html
    assert f'id="merchant-form-{row.pk}"' in html  # the row stays in edit mode
    assert snapshot() == before


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_contradicting_observed_rate_comes_back_as_an_error_on_that_field(client, incident, analyst, language):
    merchant = MerchantFactory(name="Cinépolis")
    login(client, analyst)
    before = snapshot()
    response = client.post(
        url("incident_merchant_add", incident),
        {
            "merchant": merchant.pk,
            "observed_pct": "41.7",
            "attempts": "120000",
            "failed_attempts": "10000",
            "volume_at_risk": "0",
            "currency": "MXN",
            "rate_definition": "all_attempts",
        },
        HTTP_ACCEPT_LANGUAGE=language,
        **HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    message = "contradicts" if language == "en" else "contradice"
    errors = re.findall(r'<ul class="errorlist" id="(id_am_new_\w+)_error"><li>([^<]*)</li>', html)
    assert [(field, message in text) for field, text in errors] == [("id_am_new_observed_pct", True)]
    assert snapshot() == before


@pytest.mark.parametrize("language", ["en", "es"])
def test_each_merchant_row_links_to_its_own_row_and_merchant(client, incident, lead, language):
    """The rows' addresses are made once per page from one reversed address each; every row's
    links must still be exactly what `reverse` gives for that row (and the rate label translated)."""
    for name, manager in (("Zapatería Uno", ""), ("Óptica Dos", "cuentas@optica.example")):
        merchant = MerchantFactory(name=name, account_manager="Ana", account_manager_email=manager)
        AffectedMerchant.objects.create(
            incident=incident, merchant=merchant, attempts=10, failed_attempts=1, rate_definition="issuer_only"
        )
    login(client, lead)
    html = client.get(url("incident_detail", incident), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    rows = list(incident.affected_merchants.select_related("merchant").order_by("pk"))
    assert len(rows) == 3 and len({row.pk for row in rows}) == 3
    for row in rows:
        found = re.search(rf'<tr id="merchant-row-{row.pk}">(.*?)</tr>', html, re.S)
        assert found, row.merchant.name
        cells = found.group(1)
        assert f'href="{reverse("cases:merchant_detail", args=[row.merchant.account_id])}"' in cells
        assert f'hx-get="{url("incident_merchant_edit", incident, row.pk)}"' in cells
        assert f'action="{url("incident_merchant_remove", incident, row.pk)}"' in cells
        account = f'action="{url("incident_account_update", incident, row.pk)}"'
        assert (account in cells) == bool(row.merchant.account_manager_email)
        assert cells.count('name="csrfmiddlewaretoken"') == 1 + bool(row.merchant.account_manager_email)
    issuer_only = {"en": "Approved ÷ attempts reaching the issuer", "es": "Aprobadas ÷ intentos que llegan al emisor"}[
        language
    ]
    assert html.count(f'<div class="muted small">{issuer_only}</div>') == 2


def test_the_page_lists_share_one_instance_of_a_row_joined_again_and_again(incident, analyst, lead):
    """An author of many events is built once per read (not once per event), with every column."""
    from cases.selectors import incident_page_lists

    for n in range(3):
        note_add(incident=incident, actor=analyst if n < 2 else lead, body=f"Nota {n}")
    lists = incident_page_lists(user=analyst, incident=incident, feed_limit=50)
    by_actor = {}
    for event in lists.events:
        by_actor.setdefault(event.actor_id, []).append(event)
    assert set(by_actor) == {analyst.pk, lead.pk}
    with CaptureQueriesContext(connection) as queries:
        for events in by_actor.values():
            assert len({id(event.actor) for event in events}) == 1
        authors = {note.author.pk: note.author for note in lists.notes}
    assert len(queries) == 0
    assert authors[analyst.pk] is by_actor[analyst.pk][0].actor
    assert (authors[lead.pk].username, authors[lead.pk].email) == (lead.username, lead.email)


def test_a_merchant_row_is_edited_and_removed_in_place(client, incident, analyst):
    row = incident.affected_merchants.get()
    login(client, analyst)
    client.post(
        url("incident_merchant_edit", incident, row.pk),
        {
            "baseline_pct": "95",
            "observed_pct": "90",
            "attempts": "100",
            "failed_attempts": "10",
            "volume_at_risk": "0",
            "currency": "USD",
            "rate_definition": "issuer_only",
        },  # fmt: skip
        **HTMX,
    )
    row.refresh_from_db()
    assert (row.observed_rate, row.currency, row.excess_declines) == (Decimal("0.9000"), "USD", 5)
    response = client.post(url("incident_merchant_remove", incident, row.pk), **HTMX)
    assert response.status_code == 200
    assert not incident.affected_merchants.exists()
    assert list(incident.events.filter(kind__startswith="merchant").values_list("kind", flat=True)) == [
        "merchant_added",
        "merchant_updated",
        "merchant_removed",
    ]


def test_a_partner_is_engaged_and_its_folio_recorded(client, incident, analyst):
    visa = PartnerFactory(name="Visa", code="visa")
    login(client, analyst)
    response = client.post(
        url("incident_engagement_add", incident),
        {"partner": visa.pk, "partner_status": "notified", "folio": ""},
        **HTMX,
    )
    html = response.content.decode()
    # The waiting-on-partner choice now lists Visa too: the actions part is refreshed out of band.
    assert 'id="incident-actions"' in html and 'hx-swap-oob="true"' in html
    engagement = incident.engagements.get(partner=visa)
    assert engagement.first_notified_at is not None
    client.post(
        url("incident_engagement_edit", incident, engagement.pk), {"partner_status": "acknowledged", "folio": "V-1"}
    )
    engagement.refresh_from_db()
    assert (engagement.partner_status, engagement.folio) == ("acknowledged", "V-1")


# Open an incident -----------------------------------------------------------------------------


def open_data(**changes):
    return {
        "title": "Timeouts en 3DS de BBVA",
        "category": "latency",
        "severity": "sev2",
        "summary": "ACS lento",
        "started_at": "2026-03-01T12:30",
        "detected_at": "2026-03-01T12:45",
        "card_networks": ["visa", "mastercard"],
        "decline_codes": "05, 91",
        "bin_prefixes": "415231, 54638800",
        "country": "mx",
    } | changes


def test_opening_an_incident_redirects_to_its_page_with_the_author_as_owner(client, analyst):
    merchants = [MerchantFactory(), MerchantFactory()]
    partner = PartnerFactory()
    login(client, analyst)
    response = client.post(
        reverse("cases:incident_create"), open_data(merchants=[m.pk for m in merchants], partners=[partner.pk])
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:incident_detail", args=[incident.reference])
    assert re.fullmatch(r"PH-\d{4}-\d{6}", incident.reference)
    assert (incident.owner, incident.created_by, incident.status) == (analyst, analyst, "new")
    assert incident.started_at == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    assert (incident.card_networks, incident.decline_codes) == (["visa", "mastercard"], ["05", "91"])
    assert (incident.bin_prefixes, incident.country) == (["415231", "54638800"], "MX")
    assert incident.affected_merchants.count() == 2 and incident.engagements.get().partner == partner


def test_opening_over_htmx_answers_with_a_client_redirect(client, analyst, lead):
    login(client, analyst)
    response = client.post(reverse("cases:incident_create"), open_data(owner=lead.pk), **HTMX)
    incident = Incident.objects.get()
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("cases:incident_detail", args=[incident.reference])
    assert incident.owner == lead


def test_a_card_number_is_refused_and_never_echoed_back(client, analyst):
    login(client, analyst)
    for headers in ({}, HTMX):
        response = client.post(
            reverse("cases:incident_create"), open_data(bin_prefixes="415231, 4111-1111-1111-1111"), **headers
        )
        html = response.content.decode()
        assert response.status_code == 200
        assert "Card numbers are never stored" in html
        assert "4111111111111111" not in html and "4111-1111-1111-1111" not in html
        assert 'value="415231"' in html  # the valid prefix is kept
    assert Incident.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_bad_data_comes_back_with_errors_and_writes_nothing(client, analyst):
    login(client, analyst)
    response = client.post(
        reverse("cases:incident_create"),
        open_data(title="", severity="sev9", detected_at="2026-03-01T10:00", bin_prefixes="12345"),
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="incident-open-form"')
    assert "This field is required." in html
    assert "Select a valid choice." in html
    assert "Detection cannot come before the impact started." in html
    assert "12345 is not a BIN prefix" in html
    assert Incident.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_the_open_form_shows_the_viewer_zone(client, analyst):
    login(client, analyst)
    html = client.get(reverse("cases:incident_create")).content.decode()
    assert "In your time zone, America/Mexico_City." in html
    assert 'type="datetime-local"' in html


# Queries --------------------------------------------------------------------------------------


def grow(incident, actor, *, merchants: int, events: int):
    for _ in range(merchants):
        AffectedMerchant.objects.create(
            incident=incident,
            merchant=MerchantFactory(),
            baseline_rate=Decimal("0.95"),
            observed_rate=Decimal("0.80"),
            attempts=1000,
            failed_attempts=200,
        )
    for index in range(3):
        note_add(incident=incident, actor=actor, body=f"Note {index} with **Markdown**")
    kinds = [CaseEvent.Kind.STATUS_CHANGED, CaseEvent.Kind.NOTE_ADDED, CaseEvent.Kind.MERCHANT_UPDATED]
    start = timezone.now() - timedelta(days=2)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            incident=incident,
            actor=actor,
            kind=kinds[index % 3],
            created_at=start + timedelta(minutes=index),
            data={"from": "investigating", "to": "waiting_on_partner", "reason": "x", "merchant": "M", "changes": {}},
        )
        for index in range(events)
    )


def test_the_page_issues_the_same_number_of_queries_whatever_its_size(client, analyst, django_assert_max_num_queries):
    small = incident_open(actor=analyst, title="small", category="outage", severity="sev3", decline_codes=["05"])
    large = incident_open(actor=analyst, title="large", category="outage", severity="sev3", decline_codes=["05", "51"])
    grow(small, analyst, merchants=1, events=5)
    grow(large, analyst, merchants=20, events=200)
    for _ in range(5):
        PartnerEngagement.objects.create(incident=large, partner=PartnerFactory())
    UserFactory(username="extra", role="analyst")
    login(client, analyst)
    client.get(url("incident_detail", small))  # warm caches that are not per page (content types)

    counts = {}
    for incident in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url("incident_detail", incident))
        assert response.status_code == 200
        counts[incident.title] = len(queries)
    assert counts["small"] == counts["large"], counts
    # Session, user, the viewer's profile with groups and permissions, the incident, the page's
    # lists (one query), the SLA clocks, their events with mails, a business calendar's schedule.
    with django_assert_max_num_queries(10):
        client.get(url("incident_detail", large))
    assert large.events.count() >= 200 and large.affected_merchants.count() == 20


# Timeline sentences ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "data", "sentence"),
    [
        (
            "status_changed",
            {"from": "investigating", "to": "waiting_on_partner", "reason": "folio 4821", "partner": "Prosa"},
            "Ana moved the incident from Investigating to Waiting on partner (waiting on Prosa) — reason: folio 4821",
        ),
        (
            "severity_changed",
            {"from": "sev3", "to": "sev1", "reason": ""},
            "Ana changed the severity from SEV3 – moderate to SEV1 – critical.",
        ),
        ("owner_changed", {"from": None, "to": "lucia"}, "Ana gave the incident to lucia."),
        (
            "merchant_updated",
            {"merchant": "Cinépolis", "fields": ["attempts"]},
            "Ana updated the impact on Cinépolis: attempts.",
        ),
        ("merchant_updated", {"merchant": "Cinépolis"}, "Ana updated the impact on Cinépolis."),
        (
            "merchant_updated",
            {"merchant": "Cinépolis", "changes": {"baseline_rate": {"from": "0.9500", "to": "0.9250"}}},
            "Ana updated the impact on Cinépolis: baseline approval rate 95.00 % → 92.50 %.",
        ),
        (
            "partner_updated",
            {"partner": "Visa", "changes": {"partner_status": {"from": "not_notified", "to": "acknowledged"}}},
            "Ana updated Visa: partner status Not notified → Acknowledged.",
        ),
        ("merchant_added", {"merchant": "<b>Evil</b>"}, "Ana added merchant &lt;b&gt;Evil&lt;/b&gt;."),
        ("sla_breached", {}, "SLA breached."),
        ("alert_received", {}, "A monitoring alert was received."),
        (
            "alert_received",
            {
                "merchant": "Cinépolis",
                "outcome": "opened",
                "baseline_rate": "0.9300",
                "observed_rate": "0.7100",
                "drop_pp": "22.00",
                "attempts": 1200,
            },
            "Monitoring alert for Cinépolis: approval rate 71.00 % against 93.00 % (−22.00 pp) on 1,200 attempts; "
            "it opened the incident.",
        ),
        (
            "alert_received",
            {
                "merchant": "Cinépolis",
                "outcome": "updated",
                "baseline_rate": "0.85",
                "observed_rate": "0.8",
                "drop_pp": "5",
                "attempts": 90,
            },
            "Monitoring alert for Cinépolis: approval rate 80.00 % against 85.00 % (−5.00 pp) on 90 attempts; "
            "the impact was updated.",
        ),
    ],
)
def test_timeline_sentences(incident, analyst, kind, data, sentence):
    analyst.first_name, analyst.last_name = "Ana", ""
    event = CaseEvent(incident=incident, actor=analyst, kind=kind, data=data)
    assert str(event_sentence(event)) == sentence


def test_changes_made_by_payhealth_itself_name_payhealth(incident):
    event = CaseEvent(incident=incident, actor=None, kind="partner_engaged", data={"partner": "Prosa"})
    assert str(event_sentence(event)) == "PayHealth engaged Prosa."


def test_in_spanish_dates_and_numbers_follow_mexican_formats(client, incident, analyst):
    login(client, analyst)
    client.post(
        url("incident_details", incident),
        details_data(incident, started_at="2026-03-01T12:30"),
        HTTP_ACCEPT_LANGUAGE="es",
    )
    incident.refresh_from_db()
    assert incident.started_at == datetime(2026, 3, 1, 18, 30, tzinfo=UTC)
    AffectedMerchant.objects.filter(incident=incident).update(
        baseline_rate=Decimal("0.9250"), attempts=12345, volume_at_risk=Decimal("1750000.5")
    )
    html = client.get(url("incident_detail", incident), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in html
    assert "01/03/2026 12:30" in html and "01/03/2026 18:30" in html
    assert "92.50 %" in html and "12,345" in html and "1,750,000.50 MXN" in html
