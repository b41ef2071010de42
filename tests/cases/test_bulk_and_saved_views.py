"""Bulk actions on queue rows and per-user saved views: services, views and permissions."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from cases.models import CaseEvent, Incident, SavedView
from cases.services import incidents_bulk_apply, saved_view_create, saved_view_delete
from tests.factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English; a request in another language must not leak into the next test."""
    with translation.override("en"):
        yield


BULK_URL = "/incidents/bulk/"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def mixed(db):
    """Three incidents a move to "investigating" treats differently (closed needs a reason)."""
    return [
        IncidentFactory(status="new", severity="sev3"),
        IncidentFactory(status="closed", severity="sev3"),
        IncidentFactory(status="triaging", severity="sev2"),
    ]


def statuses(incidents) -> list[str]:
    return list(
        Incident.objects.filter(pk__in=[i.pk for i in incidents]).order_by("pk").values_list("status", flat=True)
    )


# --- Bulk: the service ------------------------------------------------------------------------


def test_bulk_transition_applies_each_row_on_its_own(analyst, mixed):
    new, closed, triaging = mixed
    results = incidents_bulk_apply(actor=analyst, incidents=mixed, action="status", to="investigating")
    assert [(r.reference, r.ok) for r in results] == [
        (new.reference, True),
        (closed.reference, False),
        (triaging.reference, True),
    ]
    assert results[0].message == "moved to Investigating"
    assert results[1].message == "A reason is required for this transition."
    assert statuses(mixed) == ["investigating", "closed", "investigating"]
    changed = CaseEvent.objects.filter(kind=CaseEvent.Kind.STATUS_CHANGED)
    assert sorted(changed.values_list("incident__reference", "actor__username")) == [
        (new.reference, "ana"),
        (triaging.reference, "ana"),
    ]


def test_bulk_refusal_names_the_lifecycle_rule(analyst, mixed):
    results = incidents_bulk_apply(actor=analyst, incidents=mixed, action="status", to="mitigated")
    assert [r.ok for r in results] == [False, False, True]
    assert results[1].message == "cannot move from Closed to Mitigated."
    assert statuses(mixed) == ["new", "closed", "mitigated"]


def test_bulk_assign_and_unassign(analyst, lead, mixed):
    mixed[0].owner = lead
    mixed[0].save()
    results = incidents_bulk_apply(actor=analyst, incidents=mixed, action="assign", owner=lead)
    assert [r.message for r in results][0].startswith("already assigned to")
    assert all(r.ok for r in results)
    assert set(Incident.objects.values_list("owner", flat=True)) == {lead.pk}
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.OWNER_CHANGED).count() == 2
    results = incidents_bulk_apply(actor=analyst, incidents=Incident.objects.all(), action="assign", owner=None)
    assert [r.message for r in results] == ["unassigned"] * 3
    assert set(Incident.objects.values_list("owner", flat=True)) == {None}


def test_bulk_assign_to_someone_without_a_role_refuses_every_row(analyst, outsider, mixed):
    results = incidents_bulk_apply(actor=analyst, incidents=mixed, action="assign", owner=outsider)
    assert [r.ok for r in results] == [False, False, False]
    assert "cannot own incidents" in results[0].message
    assert not CaseEvent.objects.exists()


def test_bulk_severity_needs_a_reason_and_records_it(analyst, mixed):
    refused = incidents_bulk_apply(actor=analyst, incidents=mixed, action="severity", severity="sev1", reason=" ")
    assert {r.message for r in refused} == {"Say why the severity changes."}
    results = incidents_bulk_apply(
        actor=analyst, incidents=mixed, action="severity", severity="sev2", reason="Issuer fully down"
    )
    assert [r.message for r in results] == [
        "severity changed to SEV2 – major",
        "severity changed to SEV2 – major",
        "already SEV2 – major",
    ]
    events = CaseEvent.objects.filter(kind=CaseEvent.Kind.SEVERITY_CHANGED)
    assert [e.data["reason"] for e in events] == ["Issuer fully down", "Issuer fully down"]


def test_bulk_refuses_an_actor_without_change_permission(outsider, mixed):
    with pytest.raises(PermissionDenied):
        incidents_bulk_apply(actor=outsider, incidents=mixed, action="status", to="investigating")
    assert statuses(mixed) == ["new", "closed", "triaging"]


def test_bulk_refuses_an_unknown_action(analyst, mixed):
    with pytest.raises(ValueError):
        incidents_bulk_apply(actor=analyst, incidents=mixed, action="delete")


# --- Bulk: the view ---------------------------------------------------------------------------


def test_bulk_view_shows_per_row_results_in_the_results_fragment(client, analyst, mixed):
    client.force_login(analyst)
    response = client.post(
        BULK_URL,
        {
            "incident": [i.pk for i in mixed],
            "action": "status",
            "to_status": "investigating",
            "return_query": "status=all&sort=reference",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "Result of the bulk action" in html
    assert f"{mixed[0].reference}</a>: moved to Investigating" in html
    assert f"{mixed[1].reference}</a>: A reason is required for this transition." in html
    assert statuses(mixed) == ["investigating", "closed", "investigating"]
    # The results are re-listed with the filters the user had.
    assert re.findall(r'<tr id="incident-\d+">.*?>(PH-\d{4}-\d{6})</a>', html, re.S) == [i.reference for i in mixed]


def test_bulk_reopen_with_a_reason_succeeds(client, analyst, mixed):
    client.force_login(analyst)
    client.post(
        BULK_URL,
        {"incident": [mixed[1].pk], "action": "status", "to_status": "investigating", "reason": "Issuer saw it again"},
        headers=HTMX,
    )
    assert statuses([mixed[1]]) == ["investigating"]
    assert CaseEvent.objects.get(kind="status_changed").data["reason"] == "Issuer saw it again"


def test_bulk_view_without_javascript_redirects_with_messages(client, analyst, mixed):
    client.force_login(analyst)
    response = client.post(
        BULK_URL,
        {"incident": [mixed[0].pk], "action": "status", "to_status": "triaging", "return_query": "severity=sev3"},
        follow=True,
    )
    assert response.redirect_chain == [("/incidents/?severity=sev3", 302)]
    assert f"{mixed[0].reference}: moved to Triaging" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"action": "status", "to_status": "investigating"}, "Select at least one incident."),
        ({"action": "assign"}, "Choose who to assign the incidents to."),
        ({"action": "status"}, "Choose the status to move the incidents to."),
        ({"action": "severity", "to_severity": "sev1"}, "Say why the severity changes."),
        ({"action": "explode"}, "Select a valid choice."),
    ],
)
def test_bulk_form_errors_change_nothing(client, analyst, mixed, data, error):
    client.force_login(analyst)
    if "Select at least one" not in error:
        data = {**data, "incident": [i.pk for i in mixed]}
    response = client.post(BULK_URL, data, headers=HTMX)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert statuses(mixed) == ["new", "closed", "triaging"]
    assert Incident.objects.filter(severity="sev1").count() == 0
    assert not CaseEvent.objects.exists()


def test_bulk_view_assigns_an_owner(client, analyst, lead, mixed):
    client.force_login(analyst)
    client.post(BULK_URL, {"incident": [mixed[0].pk], "action": "assign", "to_owner": lead.pk}, headers=HTMX)
    assert Incident.objects.get(pk=mixed[0].pk).owner == lead
    client.post(BULK_URL, {"incident": [mixed[0].pk], "action": "assign", "to_owner": "none"}, headers=HTMX)
    assert Incident.objects.get(pk=mixed[0].pk).owner is None


def test_bulk_by_a_viewer_without_change_permission_is_refused_and_changes_nothing(client, mixed):
    viewer = UserFactory(username="vera")
    viewer.user_permissions.add(Permission.objects.get(codename="view_incident", content_type__app_label="cases"))
    client.force_login(viewer)
    response = client.post(BULK_URL, {"incident": [i.pk for i in mixed], "action": "status", "to_status": "triaging"})
    assert response.status_code == 403
    assert statuses(mixed) == ["new", "closed", "triaging"]
    assert not CaseEvent.objects.exists()


def test_bulk_by_anonymous_goes_to_login_and_changes_nothing(client, mixed):
    response = client.post(BULK_URL, {"incident": [mixed[0].pk], "action": "status", "to_status": "triaging"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert statuses(mixed) == ["new", "closed", "triaging"]


def test_bulk_view_accepts_post_only(client, analyst):
    client.force_login(analyst)
    assert client.get(BULK_URL).status_code == 405


# --- Saved views: the services ----------------------------------------------------------------


def test_saved_view_keeps_only_queue_parameters(analyst):
    view = saved_view_create(owner=analyst, name=" Mis SEV1 ", query="?severity=sev1&page=4&junk=1&owner=me&sort=")
    assert (view.name, view.query) == ("Mis SEV1", "severity=sev1&owner=me")


def test_saved_view_names_are_unique_per_owner(analyst, lead):
    saved_view_create(owner=analyst, name="Prosa", query="partner=prosa")
    with pytest.raises(ValidationError) as error:
        saved_view_create(owner=analyst, name="Prosa", query="partner=prosa&severity=sev1")
    assert error.value.message_dict == {"name": ["You already have a saved view with that name."]}
    saved_view_create(owner=lead, name="Prosa", query="partner=prosa")  # another user's namespace
    assert SavedView.objects.filter(name="Prosa").count() == 2


def test_saved_view_needs_a_name(analyst):
    with pytest.raises(ValidationError):
        saved_view_create(owner=analyst, name="  ", query="")
    assert not SavedView.objects.exists()


def test_only_the_owner_deletes_a_saved_view(analyst, lead):
    view = saved_view_create(owner=analyst, name="Mine", query="owner=me")
    with pytest.raises(PermissionDenied):
        saved_view_delete(view=view, actor=lead)
    assert SavedView.objects.filter(pk=view.pk).exists()
    saved_view_delete(view=view, actor=analyst)
    assert not SavedView.objects.exists()


# --- Saved views: the views -------------------------------------------------------------------


def test_save_current_filters_and_find_them_listed(client, analyst):
    client.force_login(analyst)
    response = client.post(
        reverse("cases:savedview_create"),
        {"name": "Open SEV1/2", "query": "severity=sev1&severity=sev2&page=3"},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="saved-views"' in html and "<html" not in html
    assert '<a href="/incidents/?severity=sev1&amp;severity=sev2" aria-current="true">Open SEV1/2</a>' in html
    page = client.get("/incidents/?severity=sev1&severity=sev2").content.decode()
    assert "Open SEV1/2" in page and 'class="current"' in page


def test_saving_without_javascript_redirects_to_the_saved_view(client, analyst):
    client.force_login(analyst)
    response = client.post(reverse("cases:savedview_create"), {"name": "Mine", "query": "owner=me"})
    assert response.status_code == 302 and response["Location"] == "/incidents/?owner=me"


def test_duplicate_name_is_a_form_error(client, analyst):
    saved_view_create(owner=analyst, name="Prosa", query="partner=prosa")
    client.force_login(analyst)
    fragment = client.post(
        reverse("cases:savedview_create"), {"name": "Prosa", "query": "severity=sev1"}, headers=HTMX
    ).content.decode()
    assert "You already have a saved view with that name." in fragment
    page = client.post(reverse("cases:savedview_create"), {"name": "Prosa", "query": "severity=sev1"})
    assert page.status_code == 200
    assert "You already have a saved view with that name." in page.content.decode()
    assert SavedView.objects.get().query == "partner=prosa"


def test_another_users_saved_view_is_neither_listed_nor_deletable(client, analyst, lead):
    theirs = saved_view_create(owner=lead, name="Lucía's escalations", query="severity=sev1")
    client.force_login(analyst)
    assert "Lucía" not in client.get("/incidents/").content.decode()
    response = client.post(reverse("cases:savedview_delete", args=[theirs.pk]))
    assert response.status_code == 404
    assert SavedView.objects.filter(pk=theirs.pk).exists()


def test_delete_own_saved_view(client, analyst):
    view = saved_view_create(owner=analyst, name="Mine", query="owner=me")
    client.force_login(analyst)
    fragment = client.post(reverse("cases:savedview_delete", args=[view.pk]), headers=HTMX).content.decode()
    assert "No saved views yet." in fragment
    assert not SavedView.objects.exists()


def test_saved_views_need_a_desk_role(client, outsider):
    client.force_login(outsider)
    assert client.post(reverse("cases:savedview_create"), {"name": "x", "query": ""}).status_code == 403
    assert not SavedView.objects.exists()


# --- Card numbers: searched for, never kept or echoed ------------------------------------------

CARD = "4111 1111 1111 1111"


@pytest.mark.parametrize("shape", ["4111111111111111", CARD, "4111-1111-1111-1111"])
def test_a_search_for_a_card_number_is_refused_and_never_echoed(client, analyst, shape):
    IncidentFactory(title="Visa declines")
    client.force_login(analyst)

    for headers in ({}, HTMX):
        response = client.get("/incidents/", {"q": shape, "severity": "sev3"}, headers=headers)

        html = response.content.decode()
        assert response.status_code == 200
        assert "Card numbers are never stored" in html
        assert shape not in html and "4111111111111111" not in html
        assert 'value="411111******1111"' in html or headers  # the search box, full page only
        assert "Visa declines" not in html  # nothing is searched for
    assert response["HX-Push-Url"] == "/incidents/?q=411111%2A%2A%2A%2A%2A%2A1111&severity=sev3"


def test_a_saved_view_never_keeps_a_card_number_whatever_its_encoding(client, analyst):
    for query in ("q=4111+1111+1111+1111", "q=4111%201111%201111%201111", "q=4111-1111-1111-1111"):
        with pytest.raises(ValidationError) as error:
            saved_view_create(owner=analyst, name="Cards", query=query)
        assert error.value.message_dict == {
            "query": ["Card numbers are never stored: keep the first 6–8 digits and the last 4 at most."]
        }
    client.force_login(analyst)

    response = client.post("/incidents/views/", {"name": "Cards", "query": "q=4111+1111+1111+1111"}, headers=HTMX)

    html = response.content.decode()
    assert "Card numbers are never stored" in html
    assert "4111+1111" not in html and "4111111111111111" not in html
    assert not SavedView.objects.exists()


def test_bulk_answers_never_carry_a_card_number_back_to_the_queue(client, analyst, mixed):
    client.force_login(analyst)

    response = client.post(
        BULK_URL,
        {"incident": [mixed[0].pk], "action": "status", "to_status": "triaging", "return_query": f"q={CARD}"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/incidents/?q=411111%2A%2A%2A%2A%2A%2A1111"
