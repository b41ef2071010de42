"""Partners, contacts, business calendars and notice templates over the API: the same services and
permissions as the pages, with field messages for bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from tests.api.helpers import token_client
from tests.cases.correspondence.data import notice_desk
from tests.factories import PartnerContactFactory, PartnerFactory


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


NEW_PARTNER = {
    "code": "banorte",
    "name": "Banorte",
    "kind": "issuer",
    "country": "MX",
    "timezone": "America/Mexico_City",
    "language": "es",
    "calendar": "mx-banking",
}


# --- partners ----------------------------------------------------------------------------------


def test_partner_list_filters_by_kind_country_language_active_and_search(analyst):
    PartnerFactory(code="bbva-mx", name="BBVA México", kind="issuer", country="MX", language="es")
    PartnerFactory(code="visa", name="Visa", kind="card_network", country="GLOBAL", language="en")
    PartnerFactory(code="prosa", name="Prosa", kind="switch", country="MX", language="es", active=False)
    PartnerContactFactory(partner=Partner.objects.get(code="visa"), name="Issuer Support", email="ops@visa.test")
    client = token_client(analyst)

    def codes(**params):
        response = client.get(reverse("api:partner-list"), params)
        assert response.status_code == 200, response.json()
        return [row["code"] for row in response.json()["results"]]

    assert codes() == ["bbva-mx", "prosa", "visa"]
    assert codes(kind="switch") == ["prosa"]
    assert codes(country="mx") == ["bbva-mx", "prosa"]
    assert codes(language="en") == ["visa"]
    assert codes(active="false") == ["prosa"]
    assert codes(q="ops@visa") == ["visa"]
    assert codes(q="bbva", active="true") == ["bbva-mx"]
    assert client.get(reverse("api:partner-list"), {"kind": "bank"}).status_code == 400


def test_partner_detail_is_found_by_code_with_contacts_and_counts(analyst):
    desk = notice_desk()
    response = token_client(analyst).get(reverse("api:partner-detail", args=["bbva-mx"]))

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["language"], body["open_incidents"]) == ("BBVA México", "es", 1)
    contacts = {contact["email"]: contact for contact in body["contacts"]}
    assert contacts["intl@bbva.test"]["effective_language"] == "en"
    assert contacts["operacion@bbva.test"]["effective_language"] == "es"
    assert contacts["gerencia@bbva.test"]["escalation_level"] == 2
    assert desk.bbva.pk == body["id"]
    assert token_client(analyst).get(reverse("api:partner-detail", args=["nobody"])).status_code == 404


def test_a_partner_manager_creates_and_changes_a_partner(partner_manager):
    client = token_client(partner_manager)

    created = client.post(reverse("api:partner-list"), NEW_PARTNER)

    assert created.status_code == 201, created.json()
    assert created.json()["calendar"] == "mx-banking"
    partner = Partner.objects.get(code="banorte")
    assert (partner.name, partner.language, partner.calendar.code) == ("Banorte", "es", "mx-banking")

    changed = client.patch(reverse("api:partner-detail", args=["banorte"]), {"name": "Banorte SA", "active": False})

    assert changed.status_code == 200
    partner.refresh_from_db()
    assert (partner.name, partner.active, partner.kind) == ("Banorte SA", False, "issuer")


def test_a_partner_with_an_unknown_time_zone_is_refused_with_a_field_message(partner_manager):
    response = token_client(partner_manager).post(
        reverse("api:partner-list"), {**NEW_PARTNER, "timezone": "Mars/Olympus"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"timezone": ["Mars/Olympus is not a known time zone."]}
    assert not Partner.objects.filter(code="banorte").exists()


def test_a_duplicate_code_and_an_unknown_calendar_are_field_errors(partner_manager):
    PartnerFactory(code="banorte")
    client = token_client(partner_manager)

    duplicate = client.post(reverse("api:partner-list"), NEW_PARTNER)
    no_calendar = client.post(reverse("api:partner-list"), {**NEW_PARTNER, "code": "other", "calendar": "mars"})

    assert duplicate.status_code == 400
    assert list(duplicate.json()["error"]["fields"]) == ["code"]
    assert no_calendar.status_code == 400
    assert list(no_calendar.json()["error"]["fields"]) == ["calendar"]


def test_an_analyst_cannot_create_or_change_partners(analyst):
    partner = PartnerFactory(code="visa", name="Visa")
    client = token_client(analyst)

    assert client.post(reverse("api:partner-list"), NEW_PARTNER).status_code == 403
    assert client.patch(reverse("api:partner-detail", args=["visa"]), {"name": "Hacked"}).status_code == 403
    partner.refresh_from_db()
    assert partner.name == "Visa"
    assert not Partner.objects.filter(code="banorte").exists()


def test_the_code_of_a_partner_cannot_change(partner_manager):
    PartnerFactory(code="visa")

    response = token_client(partner_manager).patch(reverse("api:partner-detail", args=["visa"]), {"code": "visa2"})

    # the update serializer has no code field: the change is ignored, the code stays
    assert response.status_code == 200
    assert response.json()["code"] == "visa"


# --- contacts ----------------------------------------------------------------------------------


def test_contacts_are_listed_per_partner_added_changed_and_removed(partner_manager):
    visa = PartnerFactory(code="visa", language="en")
    PartnerContactFactory(partner=PartnerFactory(code="other"), email="x@other.test")
    client = token_client(partner_manager)

    created = client.post(
        reverse("api:partner-contact-list"),
        {"partner": "visa", "name": "Visa Escalations", "email": "esc@visa.test", "role": "escalation"},
    )
    assert created.status_code == 201, created.json()
    contact_id = created.json()["id"]
    assert created.json()["effective_language"] == "en"
    listed = client.get(reverse("api:partner-contact-list"), {"partner": "visa"}).json()["results"]
    assert [row["email"] for row in listed] == ["esc@visa.test"]

    changed = client.patch(reverse("api:partner-contact-detail", args=[contact_id]), {"escalation_level": 2})
    assert changed.status_code == 200
    assert PartnerContact.objects.get(pk=contact_id).escalation_level == 2

    duplicate = client.post(
        reverse("api:partner-contact-list"), {"partner": "visa", "name": "Again", "email": "esc@visa.test"}
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["error"]["fields"] == {
        "non_field_errors": ["This partner already has a contact with that email."]
    }

    assert client.delete(reverse("api:partner-contact-detail", args=[contact_id])).status_code == 204
    assert not visa.contacts.exists()


def test_an_analyst_reads_contacts_but_cannot_remove_one(analyst):
    contact = PartnerContactFactory(email="ops@visa.test")
    client = token_client(analyst)

    assert client.get(reverse("api:partner-contact-detail", args=[contact.pk])).json()["email"] == "ops@visa.test"
    assert client.delete(reverse("api:partner-contact-detail", args=[contact.pk])).status_code == 403
    assert PartnerContact.objects.filter(pk=contact.pk).exists()


# --- calendars ---------------------------------------------------------------------------------


def test_a_calendar_shows_its_working_hours_and_holidays(analyst):
    response = token_client(analyst).get(reverse("api:calendar-detail", args=["mx-banking"]))

    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "America/Mexico_City"
    assert body["is_24x7"] is False
    assert body["working_hours"][0] == {"weekday": 0, "opens": "09:00:00", "closes": "18:00:00"}
    assert len(body["working_hours"]) == 5
    assert {
        "date": "2026-03-16",
        "name_en": "Benito Juárez",
        "name_es": "Natalicio de Benito Juárez (3er lunes de marzo)",
    } in body["holidays"]


def test_business_time_between_two_instants_skips_nights_and_holidays(analyst):
    # Friday 13 March 2026 17:00 CST to Tuesday 17 March 10:00 CST; Monday 16 is a bank holiday.
    url = reverse("api:calendar-business-time", args=["mx-banking"])
    response = token_client(analyst).get(
        url, {"start": "2026-03-13T17:00:00-06:00", "end": "2026-03-17T10:00:00-06:00"}
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["calendar"], body["business_seconds"], body["wall_seconds"]) == (
        "mx-banking",
        2 * 3600,
        (3 * 24 + 17) * 3600,
    )
    assert instant(body["start"]) == datetime(2026, 3, 13, 23, 0, tzinfo=UTC)
    assert instant(body["end"]) == datetime(2026, 3, 17, 16, 0, tzinfo=UTC)


def test_business_time_adds_a_duration_to_an_instant(analyst):
    url = reverse("api:calendar-business-time", args=["mx-banking"])
    client = token_client(analyst)

    business = client.get(url, {"start": "2026-03-13T17:00:00-06:00", "duration": "PT4H"})
    always = client.get(
        reverse("api:calendar-business-time", args=["24x7"]),
        {"start": "2026-03-13T17:00:00-06:00", "duration": "14400"},
    )

    assert business.status_code == 200, business.json()
    assert instant(business.json()["end"]) == datetime(2026, 3, 17, 18, 0, tzinfo=UTC)  # 1 h Friday, 3 h Tuesday
    assert business.json()["business_seconds"] == 4 * 3600
    assert instant(always.json()["end"]) == datetime(2026, 3, 14, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-13T17:00:00Z"}, "non_field_errors"),
        ({"start": "2026-03-13T17:00:00Z", "end": "2026-03-14T00:00:00Z", "duration": "60"}, "non_field_errors"),
        ({"start": "yesterday", "end": "2026-03-14T00:00:00Z"}, "start"),
        ({"start": "2026-03-13T17:00:00Z", "duration": "-60"}, "duration"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2026-03-14T00:00:00Z"}, "end"),
    ],
)
def test_business_time_questions_without_an_answer_are_400(analyst, params, field):
    response = token_client(analyst).get(reverse("api:calendar-business-time", args=["mx-banking"]), params)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


# --- notice templates --------------------------------------------------------------------------


def test_templates_are_listed_by_kind_language_and_active(analyst):
    load_notice_templates(NoticeTemplate)

    response = token_client(analyst).get(
        reverse("api:notice-template-list"),
        {"kind": "breakage", "language": "es", "active": "true"},
    )

    assert response.status_code == 200
    rows = response.json()["results"]
    assert {r["partner_kind"] for r in rows} == {
        "",
        "switch",
        "issuer",
        "acquirer",
        "card_network",
        "processor",
        "three_ds",
    }
    (row,) = [r for r in rows if r["partner_kind"] == ""]
    assert (row["kind"], row["language"], row["version"], row["active"]) == ("breakage", "es", 1, True)
    assert row["id"] == NoticeTemplate.objects.get(kind="breakage", language="es", partner_kind="", active=True).pk
    assert row["body"].startswith("Estimado equipo de {{ partner.name }}")


def test_saving_a_template_makes_a_new_active_version(partner_manager):
    load_notice_templates(NoticeTemplate)
    client = token_client(partner_manager)
    text = {
        "kind": "update",
        "language": "es",
        "subject": "Actualización {{ reference }}",
        "body": "Estado: {{ status }}\n",
    }

    first = client.post(reverse("api:notice-template-list"), text)
    again = client.post(reverse("api:notice-template-list"), text)

    assert first.status_code == 201, first.json()
    assert (first.json()["version"], first.json()["author"]) == (2, partner_manager.username)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    active = NoticeTemplate.objects.get(kind="update", language="es", partner_kind="", active=True)
    assert (active.version, active.subject) == (2, "Actualización {{ reference }}")


def test_a_template_naming_an_unknown_variable_is_refused_with_the_line(partner_manager):
    load_notice_templates(NoticeTemplate)

    response = token_client(partner_manager).post(
        reverse("api:notice-template-list"),
        {"kind": "update", "language": "en", "subject": "Update", "body": "Hello\n{{ settings.SECRET_KEY }}\n"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"body": ["Line 2: unknown variable “settings”."]}
    assert NoticeTemplate.objects.filter(kind="update", language="en", partner_kind="").count() == 1


def test_an_analyst_reads_templates_but_cannot_save_or_preview(analyst):
    load_notice_templates(NoticeTemplate)
    client = token_client(analyst)
    text = {"kind": "update", "language": "en", "subject": "S", "body": "B\n"}

    assert client.post(reverse("api:notice-template-list"), text).status_code == 403
    assert client.post(reverse("api:notice-template-preview"), {**text}).status_code == 403
    assert NoticeTemplate.objects.filter(kind="update", language="en", partner_kind="").count() == 1


def test_the_preview_renders_spanish_values_for_an_engaged_partner(partner_manager):
    desk = notice_desk()
    body = "Estado: {{ status }}\nZona: {{ partner.zone }}\nInicio: {{ window.start.local }}\n"

    response = token_client(partner_manager).post(
        reverse("api:notice-template-preview"),
        {
            "language": "es",
            "subject": "Aviso {{ severity }} para {{ partner.name }}",
            "body": body,
            "incident": desk.incident.reference,
            "partner": "bbva-mx",
        },
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "subject": f"[{desk.incident.reference}] Aviso SEV3 para BBVA México",
        "body": "Estado: En investigación\nZona: hora del centro de México\nInicio: 2026-03-06 09:00 CST\n",
    }


def test_the_preview_without_an_incident_uses_sample_data_and_reports_problems(partner_manager):
    client = token_client(partner_manager)

    sample = client.post(
        reverse("api:notice-template-preview"), {"language": "en", "subject": "{{ title }}", "body": "{{ folio }}\n"}
    )
    broken = client.post(
        reverse("api:notice-template-preview"), {"language": "en", "subject": "S", "body": "{% load static %}\n"}
    )
    not_engaged = client.post(
        reverse("api:notice-template-preview"),
        {"language": "en", "subject": "S", "body": "B\n", "incident": "PH-2026-999999", "partner": "visa"},
    )

    assert sample.json() == {"subject": "[PH-2026-000123] Debit approvals down", "body": "INC-4471\n"}
    assert broken.status_code == 400
    assert list(broken.json()["error"]["fields"]) == ["body"]
    assert not_engaged.status_code == 400
    assert not_engaged.json()["error"]["fields"] == {"partner": ["That partner is not engaged on that incident."]}
