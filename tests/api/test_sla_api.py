"""SLAs over the API: policies (leads change them), an incident's clocks, the at-risk list, and the
leads' reports, whose numbers are exactly the report page's selectors'."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import SlaClock, SlaClockEvent, SlaPolicy
from cases.sla.durations import DURATION_PATTERN
from cases.sla.reports import ReportFilter, sla_attainment, sla_breaches, sla_partner_scorecard, sla_time_to
from tests.api.helpers import token_client
from tests.cases.sla.report_data import build_report_desk
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory

AUTUMN = {"start": "2026-10-01", "end": "2026-11-30"}
AUTUMN_FILTER = ReportFilter(start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 30))


def seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


# --- reports -----------------------------------------------------------------------------------


@pytest.fixture
def report_desk(db):
    return build_report_desk()


def test_attainment_numbers_equal_the_report_pages(report_desk, lead):
    response = token_client(lead).get(reverse("api:sla-report-attainment"), {**AUTUMN, "dimension": "severity"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["filter"] == {"start": "2026-10-01", "end": "2026-11-30", "severity": "", "partner": None, "family": ""}
    rows = [(r["label"], r["metric"], r["met"], r["breached"], r["attainment"]) for r in body["rows"]]
    expected = sla_attainment(user=lead, filters=AUTUMN_FILTER, dimension="severity")
    assert rows == [(r.label, r.metric, r.met, r.breached, str(r.attainment)) for r in expected]
    assert rows[0] == ("SEV1 – critical", "acknowledge", 2, 2, "50.0")


def test_attainment_by_partner_narrowed_to_partner_clocks(report_desk, lead):
    params = {**AUTUMN, "dimension": "partner", "family": "partner"}
    body = token_client(lead).get(reverse("api:sla-report-attainment"), params).json()

    filters = ReportFilter(start=dt.date(2026, 10, 1), end=dt.date(2026, 11, 30), family="partner")
    expected = sla_attainment(user=lead, filters=filters, dimension="partner")
    assert [(r["key"], r["metric"], r["met"], r["breached"]) for r in body["rows"]] == [
        (r.key, r.metric, r.met, r.breached) for r in expected
    ]
    assert {r["label"] for r in body["rows"]} == {"Prosa", "Visa MX"}


def test_time_to_numbers_equal_the_report_pages(report_desk, lead):
    body = token_client(lead).get(reverse("api:sla-report-time-to"), AUTUMN).json()

    expected = sla_time_to(user=lead, filters=AUTUMN_FILTER)
    assert [
        (
            r["metric"],
            r["severity"],
            r["clocks"],
            r["wall_p50_seconds"],
            r["business_p50_seconds"],
            r["business_p90_seconds"],
        )
        for r in body["rows"]
    ] == [
        (r.metric, r.severity, r.clocks, seconds(r.wall_p50), seconds(r.business_p50), seconds(r.business_p90))
        for r in expected
    ]
    overall_ack = body["rows"][0]
    # our acknowledge clocks with an outcome: A1 10m, A2 40m, A3 3h, A4 6h → median 1h 50m business
    assert (overall_ack["metric"], overall_ack["severity"], overall_ack["clocks"]) == ("acknowledge", "", 4)
    assert overall_ack["business_p50_seconds"] == 110 * 60


def test_breaches_and_scorecard_equal_the_report_pages(report_desk, lead):
    client = token_client(lead)

    breaches = client.get(reverse("api:sla-report-breaches"), AUTUMN).json()
    scorecard = client.get(reverse("api:sla-report-scorecard"), AUTUMN).json()

    page = sla_breaches(user=lead, filters=AUTUMN_FILTER)
    assert breaches["count"] == page.page.paginator.count == len(breaches["rows"])
    assert [(r["clock_id"], r["reason"], r["target_seconds"]) for r in breaches["rows"]] == [
        (r.clock_id, r.reason, seconds(r.target)) for r in page.rows
    ]
    cards = sla_partner_scorecard(user=lead, filters=AUTUMN_FILTER)
    assert [
        (r["partner"], r["engagements"], r["notices"], r["follow_ups"], r["met"], r["breached"], r["attainment"])
        for r in scorecard["rows"]
    ] == [
        (
            r.partner,
            r.engagements,
            r.notices,
            r.follow_ups,
            r.met,
            r.breached,
            str(r.attainment) if r.attainment is not None else None,
        )
        for r in cards
    ]
    prosa = next(r for r in scorecard["rows"] if r["partner"] == "Prosa")
    assert (prosa["notices"], prosa["follow_ups"]) == (4, 2)


def test_reports_are_for_leads_and_refuse_bad_filters(report_desk, analyst, partner_manager, lead):
    url = reverse("api:sla-report-attainment")

    assert token_client(analyst).get(url, AUTUMN).status_code == 403
    assert token_client(partner_manager).get(reverse("api:sla-report-scorecard"), AUTUMN).status_code == 403
    backwards = token_client(lead).get(url, {"start": "2026-11-30", "end": "2026-10-01"})
    unknown = token_client(lead).get(url, {**AUTUMN, "dimension": "weather"})

    assert backwards.status_code == 400
    assert backwards.json()["error"]["fields"] == {"start": ["The start date is after the end date."]}
    assert list(unknown.json()["error"]["fields"]) == ["dimension"]


# --- clocks ------------------------------------------------------------------------------------


def test_an_incidents_clocks_with_time_left_and_history(analyst):
    incident = IncidentFactory(severity="sev1", status="investigating")
    now = timezone.now()
    running = SlaClockFactory(incident=incident, metric="acknowledge", started_at=now - timedelta(minutes=10))
    SlaClockEvent.objects.create(clock=running, kind=SlaClockEvent.Kind.START, at=running.started_at)
    partner = PartnerFactory(code="visa", name="Visa")
    paused = SlaClockFactory(
        incident=incident,
        engagement=PartnerEngagementFactory(incident=incident, partner=partner),
        metric="resolve",
        target=timedelta(hours=4),
        warn_after=timedelta(hours=3),
        state="paused",
        consumed=timedelta(hours=1),
        pause_reason="Waiting for the partner's logs",
        due_at=None,
        warn_due_at=None,
    )

    response = token_client(analyst).get(reverse("api:incident-sla", args=[incident.reference]))

    assert response.status_code == 200, response.json()
    ours, theirs = response.json()
    assert (ours["id"], ours["family"], ours["metric"], ours["state"], ours["level"]) == (
        running.pk,
        "ours",
        "acknowledge",
        "running",
        "ok",
    )
    assert ours["target_seconds"] == 15 * 60
    assert 5 * 60 - 5 <= ours["time_left_seconds"] <= 5 * 60
    assert [event["kind"] for event in ours["events"]] == ["start"]
    assert (theirs["id"], theirs["partner"]["code"], theirs["state"], theirs["level"]) == (
        paused.pk,
        "visa",
        "paused",
        "paused",
    )
    assert (theirs["time_left_seconds"], theirs["consumed_seconds"]) == (3 * 3600, 3600)
    assert theirs["pause_reason"] == "Waiting for the partner's logs"
    assert token_client(analyst).get(reverse("api:incident-sla", args=["PH-1999-000001"])).status_code == 404


def test_the_at_risk_list_puts_overdue_clocks_first_and_filters(analyst, outsider):
    now = timezone.now()
    sev1 = IncidentFactory(severity="sev1", status="investigating", owner=analyst)
    sev2 = IncidentFactory(severity="sev2", status="investigating")
    closed = IncidentFactory(severity="sev1", status="closed")
    soon = SlaClockFactory(incident=sev2, started_at=now - timedelta(minutes=20))  # 30 min target: 10 left
    overdue = SlaClockFactory(incident=sev1, started_at=now - timedelta(minutes=20))  # 15 min target: overdue
    SlaClockFactory(incident=closed, started_at=now - timedelta(hours=2))
    client = token_client(analyst)

    everything = client.get(reverse("api:sla-at-risk")).json()
    mine = client.get(reverse("api:sla-at-risk"), {"mine": "true"}).json()
    sev2_only = client.get(reverse("api:sla-at-risk"), {"severity": ["sev2"]}).json()

    assert [row["id"] for row in everything["results"]] == [overdue.pk, soon.pk]
    assert (everything["count"], everything["count_capped"], everything["page"]) == (2, False, 1)
    first = everything["results"][0]
    assert (first["incident"], first["severity"], first["level"]) == (sev1.reference, "sev1", "overdue")
    assert first["owner"]["username"] == analyst.username
    assert first["time_left_seconds"] < 0
    assert [row["id"] for row in mine["results"]] == [overdue.pk]
    assert [row["id"] for row in sev2_only["results"]] == [soon.pk]
    assert client.get(reverse("api:sla-at-risk"), {"severity": "sev9"}).status_code == 400
    assert token_client(outsider).get(reverse("api:sla-at-risk")).status_code == 403


# --- policies ----------------------------------------------------------------------------------


def test_every_desk_role_reads_policies(analyst):
    response = token_client(analyst).get(reverse("api:sla-policy-list"), {"severity": "sev1", "active": "true"})

    assert response.status_code == 200
    (policy,) = response.json()["results"]
    assert (policy["name"], policy["calendar"], policy["acknowledge_target"], policy["resolve_target"]) == (
        "SEV1 default",
        "24x7",
        "15m",
        "4h",
    )
    assert (policy["partner"], policy["partner_kind"], policy["warn_at"]) == (None, "", "0.75")


def test_a_lead_adds_changes_and_deactivates_a_partner_policy(lead):
    PartnerFactory(code="prosa", name="Prosa", kind="switch")
    client = token_client(lead)

    created = client.post(
        reverse("api:sla-policy-list"),
        {
            "name": "Prosa SEV3",
            "severity": "sev3",
            "partner": "prosa",
            "acknowledge_target": "02:00:00",
            "resolve_target": "PT45H",
            "calendar": "mx-banking",
            "warn_at": "0.80",
        },
    )
    assert created.status_code == 201, created.json()
    policy_id = created.json()["id"]
    assert (created.json()["partner"]["code"], created.json()["resolve_target"]) == ("prosa", "45h")

    changed = client.patch(reverse("api:sla-policy-detail", args=[policy_id]), {"acknowledge_target": "01:00:00"})
    assert changed.status_code == 200
    assert SlaPolicy.objects.get(pk=policy_id).acknowledge_target == timedelta(hours=1)

    deactivated = client.post(reverse("api:sla-policy-deactivate", args=[policy_id]))
    assert (deactivated.status_code, deactivated.json()["active"]) == (200, False)


def test_policy_rules_come_from_the_service(lead, partner_manager):
    default = SlaPolicy.objects.get(severity="sev2", partner=None, partner_kind="", category="", active=True)
    client = token_client(lead)

    no_target = client.post(
        reverse("api:sla-policy-list"),
        {"name": "Switches SEV2", "severity": "sev2", "partner_kind": "switch", "calendar": "24x7"},
    )
    keep_default = client.post(reverse("api:sla-policy-deactivate", args=[default.pk]))
    not_a_lead = token_client(partner_manager).patch(
        reverse("api:sla-policy-detail", args=[default.pk]), {"resolve_target": "00:01:00"}
    )

    assert no_target.status_code == 400
    assert set(no_target.json()["error"]["fields"]) == {"acknowledge_target", "resolve_target"}
    assert keep_default.status_code == 400
    assert keep_default.json()["error"]["message"] == (
        "The default policy of a severity cannot be deactivated; change its targets instead."
    )
    assert not_a_lead.status_code == 403
    default.refresh_from_db()
    assert (default.active, default.resolve_target) == (True, timedelta(hours=8))
    assert not SlaPolicy.objects.filter(name="Switches SEV2").exists()
    assert SlaClock.objects.count() == 0


# --- targets as the policy form writes them --------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("30m", timedelta(minutes=30), "30m"),
        ("4h", timedelta(hours=4), "4h"),
        ("1h 30m", timedelta(minutes=90), "1h 30m"),
        ("2d", timedelta(days=2), "48h"),
        ("01:30:00", timedelta(minutes=90), "1h 30m"),
        ("1 04:00:00", timedelta(hours=28), "28h"),
        ("PT45H", timedelta(hours=45), "45h"),
    ],
)
def test_targets_are_typed_as_in_the_policy_form_and_shown_as_it_shows_them(lead, typed, stored, shown):
    client = token_client(lead)
    created = client.post(
        reverse("api:sla-policy-list"),
        {
            "name": "Switches SEV3",
            "severity": "sev3",
            "partner_kind": "switch",
            "calendar": "24x7",
            "acknowledge_target": typed,
            "resolve_target": "8h",
        },
    )
    assert created.status_code == 201, created.json()
    assert created.json()["acknowledge_target"] == shown
    assert SlaPolicy.objects.get(pk=created.json()["id"]).acknowledge_target == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("90", "Write a duration with units, like 30m, 4h, 1h 30m or 2d"),
        ("00:00:30", "Give whole minutes."),
        ("99999999999d", "Give a duration of at most 1500 days."),
        ("1501d", "Give a duration of at most 1500 days."),
        ("-01:00:00", "Give a duration of at most 1500 days."),
    ],
)
def test_a_target_the_form_refuses_is_a_field_error(lead, typed, message):
    response = token_client(lead).post(
        reverse("api:sla-policy-list"),
        {"name": "x", "severity": "sev3", "partner_kind": "switch", "calendar": "24x7", "acknowledge_target": typed},
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["acknowledge_target"][0].startswith(message)


@pytest.mark.parametrize("typed", ["2d", "1 04:00:00", "P1D"])
def test_days_are_refused_on_a_business_hours_calendar_as_on_the_form(lead, typed):
    policy = SlaPolicy.objects.get(severity="sev3", partner=None, partner_kind="", category="", active=True)
    assert not policy.calendar.is_24x7
    response = token_client(lead).patch(reverse("api:sla-policy-detail", args=[policy.pk]), {"resolve_target": typed})
    assert response.status_code == 400
    assert "a day is ambiguous" in response.json()["error"]["fields"]["resolve_target"][0]


def test_the_schema_documents_the_target_format():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    target = schema["SlaPolicyWriteRequest"]["properties"]["acknowledge_target"]
    assert target["pattern"] == DURATION_PATTERN
    assert "1h 30m" in target["description"]
    assert schema["SlaPolicy"]["properties"]["acknowledge_target"]["example"] == "1h 30m"
