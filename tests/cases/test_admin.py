"""The admin writes what hangs off an incident through the incident page's services."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from cases.models import AffectedMerchant, Incident, InvestigationNote, PartnerEngagement
from cases.search import search
from cases.services import engagement_add, incident_open, merchant_impact_add, note_add
from tests.factories import MerchantFactory, PartnerFactory, UserFactory
from tests.payhealth.test_admin import admin_url, form_data

pytestmark = pytest.mark.django_db

# `admin_user` and `admin_client` are pytest-django's: a superuser, and a client logged in as them.


@pytest.fixture
def incident(admin_user):
    return incident_open(
        actor=admin_user, title="Caída de aprobación BBVA débito", category="auth_rate", severity="sev2"
    )


def later_kinds(incident) -> list[str]:
    return list(incident.events.exclude(kind="opened").order_by("id").values_list("kind", flat=True))


@pytest.fixture
def impact(incident, admin_user):
    merchant = MerchantFactory(name="Tiendas Aurora")
    return merchant_impact_add(
        incident=incident, actor=admin_user, merchant=merchant, baseline_rate="0.9", attempts=1000, failed_attempts=300
    )


def test_an_impact_changed_inline_is_an_update_with_old_and_new_values(admin_client, incident, impact):
    url = admin_url(Incident, "change", incident.pk)
    page = admin_client.get(url)
    data = form_data(page, **{"affected_merchants-0-failed_attempts": "250"})

    response = admin_client.post(url, data)

    assert response.status_code == 302
    impact.refresh_from_db()
    assert impact.excess_declines == 150
    assert incident.events.get(kind="merchant_updated").data == {
        "merchant": "Tiendas Aurora",
        "account_id": impact.merchant.account_id,
        "changes": {"failed_attempts": {"from": 300, "to": 250}},
    }
    # A saved impact keeps its merchant: take it off and add the other one instead.
    assert "affected_merchants-0-merchant" not in form_data(page)


def test_an_impact_deleted_inline_is_a_removal_and_leaves_search(admin_client, incident, impact):
    url = admin_url(Incident, "change", incident.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), **{"affected_merchants-0-DELETE": "on"}))

    assert response.status_code == 302
    assert not AffectedMerchant.objects.exists()
    assert later_kinds(incident) == ["merchant_added", "merchant_removed"]
    assert list(search(Incident.objects.all(), "Aurora")) == []


def test_deleting_impacts_from_their_list_removes_each_through_the_service(admin_client, incident, impact):
    response = admin_client.post(
        admin_url(AffectedMerchant, "changelist"),
        {"action": "delete_selected", "_selected_action": [impact.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not AffectedMerchant.objects.exists()
    assert incident.events.get(kind="merchant_removed").data["merchant"] == "Tiendas Aurora"


def test_an_engagement_added_with_a_corrected_time_keeps_that_time(admin_client, admin_user, incident):
    partner = PartnerFactory(name="Prosa")
    notified = (timezone.now() - timedelta(hours=2)).replace(second=0, microsecond=0)
    desk_time = notified.astimezone(ZoneInfo(settings.PAYHEALTH_TIME_ZONE))  # what the admin shows and reads

    response = admin_client.post(
        admin_url(PartnerEngagement, "add"),
        {
            "incident": incident.pk,
            "partner": partner.pk,
            "partner_status": "notified",
            "folio": " F-1 ",
            "escalation_level": "2",
            "first_notified_at_0": desk_time.strftime("%Y-%m-%d"),
            "first_notified_at_1": desk_time.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 302
    engagement = PartnerEngagement.objects.get()
    assert (engagement.folio, engagement.escalation_level, engagement.first_notified_at) == ("F-1", 2, notified)
    assert later_kinds(incident) == ["partner_engaged", "partner_updated"]
    assert list(search(Incident.objects.all(), "Prosa")) == [incident]


def test_an_engagement_changed_on_its_page_is_an_update(admin_client, admin_user, incident):
    engagement = engagement_add(incident=incident, actor=admin_user, partner=PartnerFactory())
    url = admin_url(PartnerEngagement, "change", engagement.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), partner_status="acknowledged"))

    assert response.status_code == 302
    engagement.refresh_from_db()
    assert engagement.acknowledged_at is not None  # stamped by the service
    changes = incident.events.get(kind="partner_updated").data["changes"]
    assert sorted(changes) == ["acknowledged_at", "partner_status"]


def test_a_note_added_inline_is_written_by_the_superuser_and_searchable(admin_client, admin_user, incident):
    url = admin_url(Incident, "change", incident.pk)
    data = form_data(admin_client.get(url), **{"notes-TOTAL_FORMS": "1", "notes-0-body": "Rechazos 05 en BIN 415231"})

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert InvestigationNote.objects.get().author == admin_user
    assert later_kinds(incident) == ["note_added"]
    assert list(search(Incident.objects.all(), "rechazos")) == [incident]


def test_the_author_edits_a_note_on_its_page_and_the_old_text_is_kept(admin_client, admin_user, incident):
    note = note_add(incident=incident, actor=admin_user, body="Primera versión")
    url = admin_url(InvestigationNote, "change", note.pk)

    response = admin_client.post(url, form_data(admin_client.get(url), body="Segunda versión"))

    assert response.status_code == 302
    note.refresh_from_db()
    assert (note.body, note.edited_at is not None) == ("Segunda versión", True)
    assert incident.events.get(kind="note_edited").data["previous"] == "Primera versión"


@pytest.mark.parametrize("page", ["inline", "own page"])
def test_a_note_by_someone_else_cannot_be_rewritten(admin_client, incident, page):
    note = note_add(incident=incident, actor=UserFactory(role="analyst"), body="Palabras de Ana")
    if page == "inline":
        url = admin_url(Incident, "change", incident.pk)
        changes = {"notes-0-body": "Otras palabras"}
    else:
        url = admin_url(InvestigationNote, "change", note.pk)
        changes = {"body": "Otras palabras"}

    response = admin_client.post(url, form_data(admin_client.get(url), **changes))

    assert response.status_code == 302  # the body is disabled: the posted text is ignored
    note.refresh_from_db()
    assert (note.body, note.edited_at) == ("Palabras de Ana", None)
    assert later_kinds(incident) == ["note_added"]
