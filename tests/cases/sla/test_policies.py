"""SLA policies: the lead-only service, the duration parser, the pages, and the calendar pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from cases.models import SlaPolicy
from cases.sla.durations import format_duration_text, parse_duration_text
from cases.sla.policies import sla_policy_deactivate, sla_policy_save
from partners.models import BusinessCalendar
from tests.factories import PartnerFactory

H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture
def always(db):
    return BusinessCalendar.objects.get(code="24x7")


@pytest.fixture
def mx(db):
    return BusinessCalendar.objects.get(code="mx-banking")


def default_policy(severity: str) -> SlaPolicy:
    return SlaPolicy.objects.get(severity=severity, partner=None, partner_kind="", category="", active=True)


def issuer_fields(calendar) -> dict:
    return {
        "name": "SEV2 issuers",
        "severity": "sev2",
        "partner_kind": "issuer",
        "acknowledge_target": 45 * M,
        "resolve_target": 12 * H,
        "calendar": calendar,
    }


# --- service ---------------------------------------------------------------------------------


def test_a_lead_adds_a_partner_kind_policy(lead, always):
    policy = sla_policy_save(actor=lead, **issuer_fields(always))

    policy.refresh_from_db()
    assert (policy.severity, policy.partner_kind, policy.partner_id) == ("sev2", "issuer", None)
    assert policy.acknowledge_target == 45 * M
    assert policy.first_notice_target is None
    assert policy.warn_at == Decimal("0.75")
    assert policy.active is True


@pytest.mark.parametrize("who", ["analyst", "partner_manager", "outsider"])
def test_only_leads_may_add_or_change_policies_and_a_refusal_writes_nothing(request, who, always):
    actor = request.getfixturevalue(who)
    sev1 = default_policy("sev1")
    before = list(SlaPolicy.objects.order_by("pk").values_list("pk", "acknowledge_target", "active"))

    with pytest.raises(PermissionDenied):
        sla_policy_save(actor=actor, **issuer_fields(always))
    with pytest.raises(PermissionDenied):
        sla_policy_save(actor=actor, policy=sev1, acknowledge_target=5 * M)
    with pytest.raises(PermissionDenied):
        sla_policy_deactivate(actor=actor, policy=sev1)

    assert list(SlaPolicy.objects.order_by("pk").values_list("pk", "acknowledge_target", "active")) == before


def test_a_policy_is_for_a_partner_kind_or_a_partner_not_both(lead, always):
    partner = PartnerFactory(kind="issuer")

    with pytest.raises(ValidationError) as caught:
        sla_policy_save(actor=lead, partner=partner, **issuer_fields(always))

    assert caught.value.message_dict == {
        "partner_kind": ["Choose a partner kind or a single partner, not both: a partner already has a kind."]
    }
    assert not SlaPolicy.objects.filter(partner=partner).exists()


def test_one_active_policy_per_severity_and_scope(lead, always):
    sla_policy_save(actor=lead, **issuer_fields(always))

    with pytest.raises(ValidationError) as caught:
        sla_policy_save(actor=lead, **{**issuer_fields(always), "name": "Another"})

    assert caught.value.message_dict == {
        "__all__": ["An active policy for SEV2 – major and the partner kind Issuer already exists."]
    }
    assert SlaPolicy.objects.filter(severity="sev2", partner_kind="issuer").count() == 1


def test_a_second_default_policy_is_refused_with_a_clear_message(lead, always):
    with pytest.raises(ValidationError) as caught:
        sla_policy_save(
            actor=lead, name="Dup", severity="sev1", acknowledge_target=M, resolve_target=H, calendar=always
        )

    assert caught.value.message_dict == {"__all__": ["An active default policy for SEV1 – critical already exists."]}


def test_targets_are_checked_with_field_messages(lead, always):
    fields = {**issuer_fields(always), "acknowledge_target": None, "resolve_target": -H, "name": "  "}

    with pytest.raises(ValidationError) as caught:
        sla_policy_save(actor=lead, **fields)

    errors = caught.value.message_dict
    assert errors["acknowledge_target"] == ["Give a target: acknowledgement and resolution are always timed."]
    assert errors["resolve_target"] == ["A target must be longer than zero."]
    assert errors["name"] == ["This field cannot be blank."]


def test_a_lead_edits_the_targets_of_a_default_policy(lead, mx):
    sev3 = default_policy("sev3")

    saved = sla_policy_save(actor=lead, policy=sev3, acknowledge_target=3 * H, warn_at=Decimal("0.80"))

    sev3.refresh_from_db()
    assert saved.pk == sev3.pk
    assert (sev3.acknowledge_target, sev3.warn_at, sev3.resolve_target) == (3 * H, Decimal("0.80"), 45 * H)


def test_the_default_policy_keeps_its_scope_and_stays_active(lead):
    sev1 = default_policy("sev1")
    message = (
        "This is the default policy of its severity, which every incident's own clocks use: "
        "change its targets or calendar, not its scope, and keep it active."
    )

    with pytest.raises(ValidationError) as caught:
        sla_policy_save(actor=lead, policy=sev1, partner_kind="switch")
    assert caught.value.message_dict == {"__all__": [message]}
    with pytest.raises(ValidationError) as caught:
        sla_policy_deactivate(actor=lead, policy=sev1)
    assert caught.value.messages == [
        "The default policy of a severity cannot be deactivated; change its targets instead."
    ]
    sev1.refresh_from_db()
    assert (sev1.partner_kind, sev1.active) == ("", True)


def test_deactivating_frees_the_scope(lead, always):
    first = sla_policy_save(actor=lead, **issuer_fields(always))

    sla_policy_deactivate(actor=lead, policy=first)
    second = sla_policy_save(actor=lead, **{**issuer_fields(always), "name": "SEV2 issuers v2"})

    first.refresh_from_db()
    assert first.active is False
    assert second.active is True
    with pytest.raises(ValidationError):  # reactivating the old one would make two
        sla_policy_save(actor=lead, policy=first, active=True)


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", 30 * M),
        ("1h 30m", 90 * M),
        ("2d", 48 * H),
        ("45 min", 45 * M),
        ("1d4h", 28 * H),
        ("", None),
        ("01:30:00", 90 * M),
        ("1 04:00:00", 28 * H),
        ("PT45H", 45 * H),
    ],
)
def test_durations_are_parsed(text, expected):
    assert parse_duration_text(text) == expected


@pytest.mark.parametrize("text", ["90", "1.5h", "an hour", "3w", "h"])
def test_durations_without_units_are_refused_with_an_example(text):
    with pytest.raises(ValidationError) as caught:
        parse_duration_text(text)
    assert "like 30m, 4h, 1h 30m or 2d" in caught.value.messages[0]


def test_durations_are_written_back_the_way_they_are_typed():
    assert format_duration_text(90 * M) == "1h 30m"
    assert format_duration_text(48 * H) == "2d"
    assert format_duration_text(180 * H, days=False) == "180h"
    assert format_duration_text(None) == ""


# --- pages -----------------------------------------------------------------------------------


def form_data(policy: SlaPolicy, **changes) -> dict:
    data = {
        "name": policy.name,
        "severity": policy.severity,
        "partner_kind": policy.partner_kind,
        "partner": policy.partner_id or "",
        "calendar": policy.calendar_id,
        "acknowledge_target": format_duration_text(policy.acknowledge_target, days=False),
        "first_notice_target": format_duration_text(policy.first_notice_target, days=False),
        "update_every": format_duration_text(policy.update_every, days=False),
        "resolve_target": format_duration_text(policy.resolve_target, days=False),
        "warn_percent": "75",
        "retarget_on_severity_change": "on",
    }
    data.update(changes)
    return data


def test_every_role_sees_the_policies_with_their_targets(client, analyst):
    client.force_login(analyst)

    response = client.get(reverse("cases:sla_policy_list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "SEV1 default" in html and "SEV4 default" in html
    assert '<td class="mono">15m</td>' in html  # SEV1 acknowledge, 24x7
    assert '<td class="mono">180h</td>' in html  # SEV4 resolve: 20 business days of 9 h
    assert "Changes apply to clocks started afterwards" in html
    assert reverse("cases:sla_policy_create") not in html  # an analyst cannot add
    assert reverse("cases:sla_policy_edit", args=[default_policy("sev1").pk]) not in html


def test_a_lead_edits_a_policy_through_the_form(client, lead):
    sev1 = default_policy("sev1")
    client.force_login(lead)
    url = reverse("cases:sla_policy_edit", args=[sev1.pk])

    page = client.get(url).content.decode()
    response = client.post(url, form_data(sev1, acknowledge_target="20m", warn_percent="80"))

    assert 'value="15m"' in page
    assert "apply to clocks started afterwards" in page
    assert "24x7" in page  # the calendar is shown
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:sla_policy_list")
    sev1.refresh_from_db()
    assert (sev1.acknowledge_target, sev1.warn_at) == (20 * M, Decimal("0.80"))


def test_days_are_refused_on_a_business_hours_calendar(client, lead):
    sev3 = default_policy("sev3")
    client.force_login(lead)

    response = client.post(reverse("cases:sla_policy_edit", args=[sev3.pk]), form_data(sev3, resolve_target="5d"))

    assert response.status_code == 200
    assert "counts business hours, so a day is ambiguous" in response.content.decode()
    sev3.refresh_from_db()
    assert sev3.resolve_target == 45 * H


def test_the_form_shows_service_errors_on_their_fields(client, lead, always):
    client.force_login(lead)
    partner = PartnerFactory(kind="issuer")
    data = {
        **form_data(default_policy("sev2")),
        "name": "Both",
        "partner_kind": "issuer",
        "partner": partner.pk,
    }

    response = client.post(reverse("cases:sla_policy_create"), data)

    assert response.status_code == 200
    assert "Choose a partner kind or a single partner, not both" in response.content.decode()
    assert not SlaPolicy.objects.filter(name="Both").exists()


def test_a_lead_adds_a_policy_through_the_form(client, lead, always):
    client.force_login(lead)
    data = {**form_data(default_policy("sev1")), "name": "SEV1 networks", "partner_kind": "card_network"}
    data["resolve_target"] = "1d 2h"

    response = client.post(reverse("cases:sla_policy_create"), data)

    assert response.status_code == 302
    created = SlaPolicy.objects.get(name="SEV1 networks")
    assert (created.partner_kind, created.resolve_target, created.calendar) == ("card_network", 26 * H, always)


def test_an_analyst_cannot_open_or_post_the_editor(client, analyst):
    sev1 = default_policy("sev1")
    client.force_login(analyst)
    url = reverse("cases:sla_policy_edit", args=[sev1.pk])

    assert client.get(url).status_code == 403
    assert client.post(url, form_data(sev1, acknowledge_target="1m")).status_code == 403
    assert client.get(reverse("cases:sla_policy_create")).status_code == 403
    sev1.refresh_from_db()
    assert sev1.acknowledge_target == 15 * M


def test_a_lead_deactivates_a_partner_kind_policy(client, lead, always):
    policy = sla_policy_save(actor=lead, **issuer_fields(always))
    client.force_login(lead)

    response = client.post(reverse("cases:sla_policy_deactivate", args=[policy.pk]))

    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.active is False


# --- calendar pages --------------------------------------------------------------------------


def test_the_calendar_page_shows_when_the_clock_runs(client, analyst, mx):
    client.force_login(analyst)

    response = client.get(reverse("partners:calendar_detail", args=["mx-banking"]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "America/Mexico_City" in html
    assert html.count('<tr class="opening">') == 5
    assert "09:00–18:00" in html
    assert "SEV3 default" in html  # the policies using it


def test_the_24x7_calendar_says_it_is_always_open(client, analyst):
    client.force_login(analyst)

    html = client.get(reverse("partners:calendar_detail", args=["24x7"])).content.decode()

    assert "Always open: every minute of every day counts" in html
    assert '<tr class="opening">' not in html


def test_the_calendar_list_links_every_calendar(client, partner_manager):
    client.force_login(partner_manager)

    html = client.get(reverse("partners:calendar_list")).content.decode()

    for code in ("24x7", "mx-banking", "us-eastern-business"):
        assert reverse("partners:calendar_detail", args=[code]) in html
