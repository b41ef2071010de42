"""Billing cases: opening one from findings, credit notes, amendments, their timeline, the partner's
SLA clocks on its own calendar, the recovered-amount report, the scorecard's billing accuracy, and
the pages (incident panel in both languages, the open endpoint, the report and its CSV)."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation

from cases.models import CaseEvent, Incident, PartnerEngagement, SlaClock
from cases.models.incident import Category, Severity
from cases.services import engagement_update
from cases.sla.reports.filters import ReportFilter
from cases.sla.reports.selectors import sla_partner_scorecard
from costs.billing import billing_case_amend, billing_case_open, credit_note_record
from costs.billing_report import billing_accuracy, recovery_report
from costs.models import BillingCase, CostFinding, CostThresholds, FeeImport, InvoiceLine
from partners.models import BusinessCalendar, Holiday, WorkingHours
from tests.cases.sla.data import freeze, mx
from tests.costs.conftest import JUNE, load

pytestmark = pytest.mark.django_db
State = SlaClock.State


def finding(partner, amount, *, period=JUNE, currency="MXN", state="open", kind="rate_deviation", **extra):
    n = CostFinding.objects.count()
    return CostFinding.objects.create(
        kind=kind,
        partner=partner,
        period=period,
        key=f"{kind}:{partner.pk}:{period:%Y-%m}:{n}",
        cohort={"network": "visa", "funding": "debit"},
        fee_type="interchange",
        currency=currency,
        count=50000,
        volume=Decimal("25000000.00"),
        expected_bps=Decimal("45.0000"),
        billed_bps=Decimal("52.0000"),
        expected_amount=Decimal("112500.00"),
        billed_amount=Decimal("130000.00"),
        amount=Decimal(amount),
        severity="medium",
        state=state,
        **extra,
    )


@pytest.fixture
def reader(db):
    """Sees the desk's incidents, findings and billing cases, writes nothing."""
    from django.contrib.auth.models import Permission

    from accounts.roles import _READ_ALL
    from tests.factories import UserFactory

    user = UserFactory(username="rita")
    for code in _READ_ALL:
        app_label, codename = code.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def events(incident, kind):
    return list(CaseEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


# --- opening a case ---------------------------------------------------------------------------------


def test_opening_a_case_disputes_the_findings_on_a_cost_rate_incident(acquirer, analyst):
    first, second = finding(acquirer, "30000.25"), finding(acquirer, "25000.50")

    case = billing_case_open(findings=[first, second.pk], actor=analyst)

    assert case.amount_disputed == Decimal("55000.75")
    assert case.period == JUNE and case.currency == "MXN" and case.partner == acquirer
    assert case.dispute_deadline == date(2026, 8, 29)  # 30 June + 60 days
    incident = case.incident
    assert incident.category == Category.COST_RATE
    assert incident.severity == Severity.SEV3  # 55,000.75 ≥ 50,000: medium
    assert "Adquirente MX" in incident.title and "55,000.75" in incident.title
    english, spanish = incident.summary.split("---")
    with translation.override("en"):
        assert first.explanation() in english and second.explanation() in english
    with translation.override("es"):
        assert first.explanation() in spanish and "Cuota de intercambio" in spanish
    assert PartnerEngagement.objects.filter(incident=incident, partner=acquirer).exists()
    for row in (first, second):
        row.refresh_from_db()
        assert (row.billing_case_id, row.state) == (case.pk, CostFinding.State.CONFIRMED)
    [opened] = events(incident, CaseEvent.Kind.BILLING_CASE_OPENED)
    assert opened.actor == analyst
    assert opened.data["amount"] == "55000.75" and opened.data["findings"] == sorted([first.pk, second.pk])
    assert opened.data["deadline"] == "2026-08-29"


@pytest.mark.parametrize(
    ("total", "severity"),
    [("500000.00", Severity.SEV2), ("49999.99", Severity.SEV4), ("50000.00", Severity.SEV3)],
)
def test_the_incident_severity_follows_the_amount_in_dispute(acquirer, analyst, total, severity):
    case = billing_case_open(findings=[finding(acquirer, total)], actor=analyst)

    assert case.incident.severity == severity


def test_the_partners_dispute_window_gives_the_default_deadline(acquirer, analyst):
    CostThresholds.objects.create(partner=acquirer, dispute_window_days=30)

    case = billing_case_open(findings=[finding(acquirer, "1000.00")], actor=analyst)

    assert case.dispute_deadline == date(2026, 7, 30)


def test_a_case_is_refused_whole_for_findings_it_cannot_dispute(acquirer, make_partner, analyst):
    other = make_partner()
    dismissed = finding(acquirer, "100.00", state="dismissed")
    usd = finding(acquirer, "100.00", currency="USD")
    july = finding(acquirer, "100.00", period=date(2026, 7, 1))
    mine = finding(acquirer, "100.00")
    under = finding(acquirer, "-100.00")
    cases = {
        "one partner": [mine, finding(other, "100.00")],
        "one currency": [mine, usd],
        "one month": [mine, july],
        "open or confirmed": [dismissed],
        "more than expected": [under],
        "do not exist": [mine.pk, 987654321],
        "at least one": [],
        "finding's id": ["abc"],
    }
    for words, chosen in cases.items():
        with pytest.raises(ValidationError) as refused:
            billing_case_open(findings=chosen, actor=analyst)
        assert words in " ".join(refused.value.messages)
    billing_case_open(findings=[mine], actor=analyst)
    with pytest.raises(ValidationError, match="already on a billing case"):
        billing_case_open(findings=[mine], actor=analyst)
    assert Incident.objects.count() == 1 and BillingCase.objects.count() == 1


def test_only_users_allowed_open_cases_and_record_credit_notes(acquirer, analyst, reader):
    with pytest.raises(PermissionDenied):
        billing_case_open(findings=[finding(acquirer, "100.00")], actor=reader)
    case = billing_case_open(findings=[finding(acquirer, "100.00")], actor=analyst)
    with pytest.raises(PermissionDenied):
        credit_note_record(billing_case=case, reference="NC-1", amount="1", issued_on=date(2026, 7, 1), actor=reader)


# --- credit notes and amendments -------------------------------------------------------------------


@pytest.fixture
def case(acquirer, analyst):
    return billing_case_open(findings=[finding(acquirer, "17500.00"), finding(acquirer, "2500.00")], actor=analyst)


def test_credit_notes_settle_the_case_when_they_reach_the_amount_in_dispute(case, analyst):
    credit_note_record(
        billing_case=case, reference="NC-1", amount="12000.40", issued_on=date(2026, 8, 3), actor=analyst
    )
    case.refresh_from_db()
    assert case.settled_at is None
    assert set(case.findings.values_list("state", flat=True)) == {"confirmed"}

    credit_note_record(
        billing_case=case, reference="NC-2", amount="7999.60", issued_on=date(2026, 8, 10), actor=analyst
    )

    case.refresh_from_db()
    assert case.settled_at is not None
    assert set(case.findings.values_list("state", flat=True)) == {"resolved"}
    engagement = PartnerEngagement.objects.get(incident=case.incident, partner=case.partner)
    assert engagement.partner_status == PartnerEngagement.PartnerStatus.RESOLVED
    first, second = events(case.incident, CaseEvent.Kind.CREDIT_NOTE_RECORDED)
    assert (first.data["credited"], first.data["settled"]) == ("12000.40", False)
    assert (second.data["credited"], second.data["disputed"], second.data["settled"]) == ("20000.00", "20000.00", True)
    assert first.actor == analyst and second.actor == analyst
    [resolved] = events(case.incident, CaseEvent.Kind.PARTNER_UPDATED)
    assert resolved.data["changes"]["partner_status"]["to"] == "resolved"


def test_a_final_credit_note_settles_the_case_below_the_amount(case, analyst):
    credit_note_record(
        billing_case=case, reference="NC-9", amount="5000", issued_on=date(2026, 8, 3), actor=analyst, final=True
    )

    case.refresh_from_db()
    assert case.settled_at is not None
    assert case.credit_notes.get().final


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"reference": "nc-1"}, "reference", "already recorded"),
        ({"amount": "0"}, "amount", "greater than zero"),
        ({"amount": "-5"}, "amount", "greater than zero"),
        ({"amount": "1.005"}, "amount", "two decimals"),
        ({"amount": "NaN"}, "amount", "such as"),
        ({"amount": "1e30"}, "amount", "too large"),
        ({"reference": "  "}, "reference", "number"),
        ({"issued_on": date(2099, 1, 1)}, "issued_on", "future"),
    ],
)
def test_a_bad_credit_note_is_refused_naming_its_field(case, analyst, fields, field, words):
    credit_note_record(billing_case=case, reference="NC-1", amount="10", issued_on=date(2026, 8, 3), actor=analyst)
    values = {"reference": "NC-2", "amount": "10", "issued_on": date(2026, 8, 3)} | fields

    with pytest.raises(ValidationError) as refused:
        credit_note_record(billing_case=case, actor=analyst, **values)

    assert words in " ".join(refused.value.message_dict[field])
    assert case.credit_notes.count() == 1


def test_amending_the_amount_and_deadline_is_on_the_timeline(case, analyst):
    billing_case_amend(billing_case=case, amount_disputed="15000.00", dispute_deadline=date(2026, 9, 15), actor=analyst)

    case.refresh_from_db()
    assert (case.amount_disputed, case.dispute_deadline) == (Decimal("15000.00"), date(2026, 9, 15))
    [amended] = events(case.incident, CaseEvent.Kind.BILLING_CASE_AMENDED)
    assert amended.actor == analyst
    assert amended.data["changes"] == {
        "amount_disputed": {"from": "20000.00", "to": "15000.00"},
        "dispute_deadline": {"from": "2026-08-29", "to": "2026-09-15"},
    }
    with pytest.raises(ValidationError):
        billing_case_amend(billing_case=case, amount_disputed="-1", actor=analyst)
    billing_case_amend(billing_case=case, amount_disputed="15000", actor=analyst)  # no change: no row
    assert len(events(case.incident, CaseEvent.Kind.BILLING_CASE_AMENDED)) == 1


# --- SLA: the partner's clocks on its own calendar ---------------------------------------------------


@pytest.fixture
def partner_hours(acquirer):
    """The acquirer keeps 08:00–17:00 Mexico City hours (9 h a day) and the 16 November holiday."""
    calendar = BusinessCalendar.objects.create(
        code="adquirente-hours", name="Adquirente", timezone="America/Mexico_City"
    )
    for weekday in range(5):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, opens=time(8), closes=time(17))
    Holiday.objects.create(calendar=calendar, date=date(2026, 11, 16), name_en="Revolution Day", name_es="Revolución")
    acquirer.calendar = calendar
    acquirer.save()
    return calendar


def test_the_partner_acknowledges_within_5_business_days_of_its_calendar_and_the_final_credit_stops_resolve(
    monkeypatch, acquirer, partner_hours, analyst
):
    now = freeze(monkeypatch, mx(2026, 11, 12, 10, 0))  # Thursday 12 November 2026, 10:00
    case = billing_case_open(findings=[finding(acquirer, "80000.00", period=date(2026, 10, 1))], actor=analyst)
    assert case.incident.severity == Severity.SEV3
    engagement = PartnerEngagement.objects.get(incident=case.incident)

    engagement_update(engagement=engagement, actor=analyst, partner_status="notified")  # the dispute was sent

    clocks = {c.metric: c for c in SlaClock.objects.filter(engagement=engagement)}
    acknowledge, resolve = clocks["acknowledge"], clocks["resolve"]
    assert acknowledge.policy.category == "cost_rate" and acknowledge.calendar == partner_hours
    # 45 business hours on 08:00–17:00: Thu 7 h, Fri 9 h (16), weekend, Mon 16 Nov holiday, Tue 9 (25),
    # Wed 9 (34), Thu 9 (43), Fri 20 Nov 08:00 + 2 h = 10:00.
    assert acknowledge.due_at == mx(2026, 11, 20, 10, 0)
    assert acknowledge.target.total_seconds() == 45 * 3600

    now.set(mx(2026, 11, 24, 12, 0))
    credit_note_record(
        billing_case=case, reference="NC-77", amount="80000.00", issued_on=date(2026, 11, 23), actor=analyst
    )

    resolve.refresh_from_db()
    acknowledge.refresh_from_db()
    assert resolve.state == State.MET and resolve.stopped_at == mx(2026, 11, 24, 12, 0)
    assert acknowledge.state == State.BREACHED  # it came after the 20th, 10:00: acknowledged by the credit


def test_the_category_policy_wins_over_the_partners_own_policy(acquirer, analyst):
    from cases.models import SlaPolicy

    own = SlaPolicy.objects.get(severity="sev3", partner_kind="", partner=None, category="")
    own.pk, own.partner, own.name = None, acquirer, "Adquirente SEV3"
    own.save()
    case = billing_case_open(findings=[finding(acquirer, "60000.00")], actor=analyst)

    engagement_update(
        engagement=PartnerEngagement.objects.get(incident=case.incident), actor=analyst, partner_status="notified"
    )

    policies = {(c.family, c.policy.name) for c in SlaClock.objects.filter(incident=case.incident)}
    assert policies == {("ours", "SEV3 billing case"), ("partner", "SEV3 billing case")}


def test_an_incident_of_another_category_keeps_the_generic_policy(acquirer, analyst):
    from cases.services import incident_open

    incident = incident_open(actor=analyst, title="Outage", category="outage", severity="sev3", partners=[acquirer])

    assert {c.policy.category for c in SlaClock.objects.filter(incident=incident)} == {""}


# --- report and scorecard --------------------------------------------------------------------------


def test_the_recovery_report_adds_overbilled_recovered_and_open_balance_by_partner_and_month(
    acquirer, make_partner, analyst
):
    other = make_partner()
    june = billing_case_open(findings=[finding(acquirer, "1000.10"), finding(acquirer, "2000.20")], actor=analyst)
    billing_case_open(findings=[finding(acquirer, "400.00")], actor=analyst)  # a second June case
    july = billing_case_open(findings=[finding(acquirer, "900.00", period=date(2026, 7, 1))], actor=analyst)
    billing_case_open(findings=[finding(other, "50.00")], actor=analyst)
    finding(acquirer, "777.00")  # not disputed: not in the report
    credit_note_record(billing_case=june, reference="A", amount="1000.05", issued_on=date(2026, 8, 1), actor=analyst)
    credit_note_record(
        billing_case=july, reference="B", amount="100.00", issued_on=date(2026, 8, 1), actor=analyst, final=True
    )
    billing_case_amend(billing_case=june, amount_disputed="3100.30", actor=analyst)

    rows = recovery_report(start=date(2026, 6, 1), end=date(2026, 7, 31), partner=acquirer)

    assert [(r.period, r.cases, r.findings, r.overbilled, r.disputed, r.recovered, r.open_balance) for r in rows] == [
        (date(2026, 7, 1), 1, 1, Decimal("900.00"), Decimal("900.00"), Decimal("100.00"), Decimal("0.00")),
        (date(2026, 6, 1), 2, 3, Decimal("3400.30"), Decimal("3500.30"), Decimal("1000.05"), Decimal("2500.25")),
    ]
    assert len(recovery_report(start=date(2026, 6, 1), end=date(2026, 6, 1))) == 2  # both partners
    assert recovery_report(start=date(2026, 8, 1), end=date(2026, 12, 1)) == []


def test_billing_accuracy_is_one_minus_overbilled_over_billed_fees(acquirer, analyst):
    load(
        acquirer,
        [
            {
                "reference": "A1",
                "date": "2026-06-03",
                "amount": "10000",
                "interchange_fee": "60.00",
                "scheme_fee": "4.00",
            },
            {"reference": "A2", "date": "2026-06-20", "amount": "10000", "interchange_fee": "36.00"},
            {"reference": "A3", "date": "2026-07-02", "amount": "10000", "interchange_fee": "999.00"},  # July
        ],
    )
    imported = FeeImport.objects.create(partner=acquirer, sha256="f" * 64, shape="invoice", rows=1)
    InvoiceLine.objects.create(
        fee_import=imported, partner=acquirer, row=1, period_start=JUNE, period_end=date(2026, 6, 30),
        fee_code="MK", fee_type="markup", count=10, volume=Decimal("1000"), amount=Decimal("100.00"),
    )  # fmt: skip
    billing_case_open(findings=[finding(acquirer, "20.00")], actor=analyst)
    finding(acquirer, "50.00")  # not disputed: not overbilling yet

    [accuracy] = billing_accuracy(start=date(2026, 6, 1), end=date(2026, 6, 30), partner_ids=[acquirer.pk])[acquirer.pk]

    assert (accuracy.billed, accuracy.overbilled) == (Decimal("200.0000"), Decimal("20.00"))  # 64 + 36 + 100
    assert accuracy.accuracy == Decimal("90.00")
    # A range starting mid-June counts whole months from July.
    [july] = billing_accuracy(start=date(2026, 6, 2), end=date(2026, 7, 31), partner_ids=[acquirer.pk])[acquirer.pk]
    assert (july.billed, july.overbilled, july.accuracy) == (Decimal("999.0000"), Decimal("0"), Decimal("100.00"))


def test_the_partner_scorecard_shows_billing_accuracy(monkeypatch, acquirer, analyst, lead):
    freeze(monkeypatch, mx(2026, 7, 6, 10, 0))
    load(acquirer, [{"reference": "A1", "date": "2026-06-03", "amount": "10000", "interchange_fee": "400.00"}])
    case = billing_case_open(findings=[finding(acquirer, "30.00")], actor=analyst)
    engagement_update(
        engagement=PartnerEngagement.objects.get(incident=case.incident), actor=analyst, partner_status="notified"
    )

    [row] = sla_partner_scorecard(user=lead, filters=ReportFilter(start=date(2026, 6, 1), end=date(2026, 7, 31)))

    assert row.extra == {"billing_accuracy": "92.50 % (MXN 30.00 overbilled of 400.00 billed)"}


# --- pages -----------------------------------------------------------------------------------------


def test_the_open_endpoint_opens_the_case_and_goes_to_the_incident(client, acquirer, analyst):
    chosen = [finding(acquirer, "100.00"), finding(acquirer, "200.00")]
    client.force_login(analyst)

    response = client.post(
        reverse("costs:billing_case_open"), {"finding": [f.pk for f in chosen], "dispute_deadline": "2026-09-30"}
    )

    case = BillingCase.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "cases:incident_detail", args=[case.incident.reference]
    )
    assert (case.amount_disputed, case.dispute_deadline) == (Decimal("300.00"), date(2026, 9, 30))


@pytest.mark.parametrize(
    "data",
    [
        {"finding": ["abc"]},
        {"finding": ["99999999999999999999999"]},
        {"finding": ["-3"]},
        {},
        {"finding": ["1"], "dispute_deadline": "31/31/2026"},
        {"finding": ["1"], "dispute_deadline": "2020-01-01"},
        {"finding": ["4111111111111111"]},
    ],
)
def test_the_open_endpoint_answers_bad_input_with_a_message_never_a_5xx(client, acquirer, analyst, data):
    mine = finding(acquirer, "100.00")
    data = {
        k: [str(mine.pk) if v == "1" else v for v in values] if k == "finding" else values for k, values in data.items()
    }
    client.force_login(analyst)

    response = client.post(reverse("costs:billing_case_open"), data, follow=True)

    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert not BillingCase.objects.exists()


def test_pages_refuse_users_without_the_permission(client, acquirer, analyst, reader, outsider):
    mine = finding(acquirer, "100.00")
    case = billing_case_open(findings=[finding(acquirer, "50.00")], actor=analyst)
    client.force_login(reader)
    assert client.post(reverse("costs:billing_case_open"), {"finding": [mine.pk]}).status_code == 403
    credit = reverse("costs:credit_note_record", args=[case.pk])
    assert client.post(credit, {"reference": "X", "amount": "1", "issued_on": "2026-08-01"}).status_code == 403
    amend = reverse("costs:billing_case_amend", args=[case.pk])
    assert client.post(amend, {"amount_disputed": "1"}).status_code == 403
    client.force_login(outsider)
    for url in (
        reverse("costs:recovery_report"),
        reverse("costs:recovery_report_csv"),
        reverse("costs:incident_billing_panel", args=[case.incident.reference]),
    ):
        assert client.get(url).status_code == 403
    case.refresh_from_db()
    assert not case.credit_notes.exists() and BillingCase.objects.count() == 1
    assert case.amount_disputed == Decimal("50.00")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["Billing case", "Amount in dispute", "MXN 17,500.00", "Record credit note", "billed Interchange"]),
        ("es", ["Caso de facturación", "Monto en disputa", "MXN 17,500.00", "Registrar nota de crédito", "cobró"]),
    ],
)
def test_the_incident_panel_reads_in_the_users_language(client, case, analyst, language, words):
    analyst.language = language
    analyst.save()
    client.force_login(analyst)
    page = client.get(reverse("cases:incident_detail", args=[case.incident.reference]), HTTP_ACCEPT_LANGUAGE=language)
    assert reverse("costs:incident_billing_panel", args=[case.incident.reference]) in page.content.decode()

    panel = client.get(
        reverse("costs:incident_billing_panel", args=[case.incident.reference]), HTTP_ACCEPT_LANGUAGE=language
    )

    text = panel.content.decode()
    for word in words:
        assert word in text, word


def test_the_credit_note_form_records_through_htmx_and_refuses_a_duplicate_in_place(client, case, analyst):
    client.force_login(analyst)
    url = reverse("costs:credit_note_record", args=[case.pk])
    data = {"reference": "NC-1", "amount": "500.25", "issued_on": "2026-08-03"}

    ok = client.post(url, data, HTTP_HX_REQUEST="true")
    again = client.post(url, data, HTTP_HX_REQUEST="true")
    hostile = client.post(url, data | {"reference": "4111 1111 1111 1111", "amount": "abc"}, HTTP_HX_REQUEST="true")

    assert ok.status_code == 200 and "NC-1" in ok.content.decode() and "500.25" in ok.content.decode()
    assert again.status_code == 200 and "already recorded" in again.content.decode()
    assert hostile.status_code == 200 and "4111 1111 1111 1111" not in hostile.content.decode()
    assert case.credit_notes.get().amount == Decimal("500.25")


def test_the_recovery_page_and_its_csv_show_the_same_rows(client, case, analyst):
    credit_note_record(billing_case=case, reference="NC-1", amount="500.25", issued_on=date(2026, 8, 3), actor=analyst)
    client.force_login(analyst)
    query = {"start": "2026-06", "end": "2026-06", "partner": case.partner.pk}

    page = client.get(reverse("costs:recovery_report"), query)
    csv = b"".join(client.get(reverse("costs:recovery_report_csv"), query).streaming_content).decode()
    bad = client.get(reverse("costs:recovery_report"), {"start": "2026-13", "end": "x"})

    assert page.status_code == 200 and "19,499.75" in page.content.decode()
    assert csv.splitlines()[1] == "Adquirente MX,2026-06,MXN,1,2,20000.00,20000.00,500.25,19499.75"
    assert bad.status_code == 400


def test_the_panel_reads_a_bounded_number_of_queries(client, acquirer, analyst):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = billing_case_open(findings=[finding(acquirer, "10.00")], actor=analyst)
    big = billing_case_open(findings=[finding(acquirer, f"{n}.00") for n in range(1, 7)], actor=analyst)
    for n in range(3):
        credit_note_record(billing_case=big, reference=f"NC-{n}", amount="1", issued_on=date(2026, 8, 1), actor=analyst)
    client.force_login(analyst)
    counts = []
    for case in (small, big):
        url = reverse("costs:incident_billing_panel", args=[case.incident.reference])
        client.get(url)  # warm up (session)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1] and counts[0] <= 10, counts


def test_a_plain_credit_note_post_goes_back_to_the_incident_with_a_message(client, case, analyst):
    client.force_login(analyst)
    url = reverse("costs:credit_note_record", args=[case.pk])

    done = client.post(url, {"reference": "NC-5", "amount": "20000.00", "issued_on": "2026-08-03"}, follow=True)
    refused = client.post(url, {"reference": "NC-6", "amount": "-1", "issued_on": "2026-08-03"}, follow=True)

    assert [m.level_tag for m in done.context["messages"]] == ["success"]
    assert [m.level_tag for m in refused.context["messages"]] == ["error"]
    assert done.redirect_chain[-1][0] == reverse("cases:incident_detail", args=[case.incident.reference])
    case.refresh_from_db()
    assert case.settled_at is not None and case.credit_notes.count() == 1


def test_the_panel_corrects_the_amount_and_deadline_in_place(client, case, analyst):
    client.force_login(analyst)
    url = reverse("costs:billing_case_amend", args=[case.pk])

    ok = client.post(url, {"amount_disputed": "18000.50", "dispute_deadline": "2026-09-30"}, HTTP_HX_REQUEST="true")
    refused = client.post(url, {"amount_disputed": "-3", "dispute_deadline": "2020-01-01"}, HTTP_HX_REQUEST="true")

    assert ok.status_code == 200 and "18,000.50" in ok.content.decode()
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    case.refresh_from_db()
    assert (case.amount_disputed, case.dispute_deadline) == (Decimal("18000.50"), date(2026, 9, 30))
    [amended] = events(case.incident, CaseEvent.Kind.BILLING_CASE_AMENDED)
    assert amended.actor == analyst
