"""Decline codes: the shipped reference (meanings in both languages, Visa categories, Mastercard
advice codes, terminal codes) and each incident's counts before and during, from alert intake,
the incident page and the API, shown with meaning and share, and sent in partner notices."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from alerts.services import alert_ingest
from cases.correspondence.compose import notice_compose
from cases.models import CaseEvent, IncidentDeclineCode, ResponseCode
from cases.reference_data import response_code_rows
from cases.selectors import decline_share, incident_decline_lines
from cases.services import decline_count_remove, decline_counts_record, incident_open, incident_update_details
from tests.alerts.conftest import alert_payload, segment_world  # noqa: F401 - fixture
from tests.factories import PartnerContactFactory, PartnerEngagementFactory, PartnerFactory

pytestmark = pytest.mark.django_db


def code(scheme: str, value: str) -> ResponseCode:
    return ResponseCode.objects.get(scheme=scheme, code=value)


# --- the reference -----------------------------------------------------------------------------


def test_every_reference_row_has_a_spanish_meaning_and_the_table_matches_the_csv():
    rows = response_code_rows()

    assert ResponseCode.objects.count() == len(rows) > 150
    assert [row["code"] for row in rows if not row["meaning_es"]] == []
    assert not ResponseCode.objects.filter(meaning_es="").exists()


def test_04_is_a_hard_decline_and_62_may_be_retried_later():
    pick_up = code("iso8583", "04")
    restricted = code("iso8583", "62")

    assert (pick_up.category, pick_up.retryable, pick_up.visa_category) == ("hard", False, 1)
    assert (restricted.retryable, restricted.visa_category) == (True, 2)
    assert restricted.category != "hard"


@pytest.mark.parametrize(
    ("value", "category", "retryable", "visa"),
    [
        ("05", "soft", True, 4),
        ("14", "data_error", False, 1),
        ("51", "soft", True, 2),
        ("54", "hard", False, 3),
        ("91", "issuer_unavailable", True, 2),
        ("N0", "issuer_unavailable", True, 4),
        ("N3", "hard", True, 2),
        ("N4", "soft", True, 2),
        ("Q1", "data_error", False, 4),
        ("80", "technical", False, None),
        ("83", "fraud", True, 2),
        ("R1", "hard", False, 1),
    ],
)
def test_iso_codes_carry_their_category_retry_flag_and_visa_category(value, category, retryable, visa):
    row = code("iso8583", value)

    assert (row.category, row.retryable, row.visa_category) == (category, retryable, visa)


def test_mastercards_own_79_82_83_defer_the_retry_to_the_advice_code_and_visa_5c_9g_may_be_retried():
    for value, reason in (("79", "life-cycle"), ("82", "policy"), ("83", "fraud or security")):
        row = code("iso8583", value)
        assert f"Mastercard: {reason} decline (Mastercard use only" in row.meaning
        assert "merchant advice code says whether a retry is allowed" in row.meaning
        assert "uso exclusivo de Mastercard" in row.meaning_es
    assert "Cannot verify PIN (Mastercard)" not in code("iso8583", "83").meaning
    for value in ("5C", "9G"):
        row = code("iso8583", value)
        assert (row.retryable, row.visa_category) == (True, 2) and row.meaning_es


def test_mastercard_advice_codes_say_whether_a_retry_is_allowed():
    advice = {row.code: row.retryable for row in ResponseCode.objects.filter(scheme="mastercard_mac")}

    assert sorted(advice) == ["01", "02", "03", "04", "21", "24", "25", "26", "27", "28", "29", "30", "40", "41"]
    assert [value for value, retry in sorted(advice.items()) if not retry] == ["03", "21", "40", "41"]


def test_terminal_codes_tell_an_unreachable_host_from_a_card_decline():
    unreachable = code("emv", "Z3")

    assert (unreachable.category, unreachable.retryable) == ("issuer_unavailable", True)
    assert "switch" in unreachable.meaning and "switch" in unreachable.meaning_es
    assert code("emv", "Z1").category == "hard"
    assert {code("emv", "Y1").category, code("emv", "Y3").category} == {"approved"}


def test_a_meaning_reads_in_the_active_language():
    row = code("iso8583", "91")

    with translation.override("es"):
        assert row.localized_meaning == "Emisor o switch fuera de operación"
    with translation.override("en"):
        assert row.localized_meaning == "Issuer or switch inoperative"


def test_the_api_lists_spanish_meanings_and_visa_categories(analyst):
    api = APIClient()
    api.force_authenticate(analyst)

    response = api.get("/api/v1/response-codes/", {"code": "62"})

    assert response.status_code == 200
    [row] = [row for row in response.json()["results"] if row["scheme"] == "iso8583"]
    assert row["meaning_es"].startswith("Tarjeta restringida")
    assert (row["visa_category"], row["retryable"]) == (2, True)


# --- counts ------------------------------------------------------------------------------------


@pytest.fixture
def incident(analyst):
    return incident_open(
        actor=analyst, title="Switch caído", category="auth_rate", severity="sev2", decline_codes=["91", "05"]
    )


def counted(incident, analyst):
    decline_counts_record(
        incident=incident,
        actor=analyst,
        counts=[
            {"code": "91", "count_before": 10, "count_during": 300},
            {"code": "05", "count_before": 30, "count_during": 100},
        ],
    )
    incident.refresh_from_db()
    return incident


def test_shares_are_exact_parts_of_each_period(incident, analyst):
    lines = {line.code: line for line in incident_decline_lines(incident=counted(incident, analyst))}

    assert (lines["91"].share_before, lines["91"].share_during) == (Decimal("0.250"), Decimal("0.750"))
    assert (lines["05"].share_before, lines["05"].share_during) == (Decimal("0.750"), Decimal("0.250"))
    assert decline_share(1, 3) == Decimal("0.333") and decline_share(2, 3) == Decimal("0.667")
    assert decline_share(None, 3) is None and decline_share(0, 0) is None


def test_a_counted_code_joins_the_codes_seen_and_leaves_with_its_counts(incident, analyst):
    decline_counts_record(incident=incident, actor=analyst, counts=[{"code": "Z3", "count_during": 7}])
    incident.refresh_from_db()
    assert incident.decline_codes == ["91", "05", "Z3"]

    decline_count_remove(incident=incident, actor=analyst, code="05")
    incident.refresh_from_db()
    assert incident.decline_codes == ["91", "Z3"]
    assert sorted(IncidentDeclineCode.objects.filter(incident=incident).values_list("code", flat=True)) == ["91", "Z3"]
    kinds = list(incident.events.filter(kind=CaseEvent.Kind.DECLINE_COUNTS_CHANGED).values_list("data", flat=True))
    assert [list(data["changes"]) for data in kinds] == [["Z3"], ["05"]]

    incident_update_details(incident=incident, actor=analyst, decline_codes=["Z3", "14"])
    assert sorted(IncidentDeclineCode.objects.filter(incident=incident).values_list("code", flat=True)) == ["14", "Z3"]


def test_the_same_counts_again_change_nothing(incident, analyst):
    counted(incident, analyst)
    events = incident.events.count()

    counted(incident, analyst)

    assert incident.events.count() == events
    assert IncidentDeclineCode.objects.get(incident=incident, code="91").count_during == 300


def test_alert_intake_stores_counts_and_a_resend_never_doubles_them(segment_world, analyst):  # noqa: F811
    codes = [{"code": "91", "count": 120, "count_before": 4}, {"code": "05", "count": 40}]
    payload = alert_payload(decline_codes=codes)

    first = alert_ingest(actor=analyst, payload=payload, idempotency_key="alert-1")
    replay = alert_ingest(actor=analyst, payload=payload, idempotency_key="alert-1")
    again = alert_ingest(actor=analyst, payload=payload)  # no key: processed again, same measurement

    assert replay.replayed and again.incident.pk == first.incident.pk
    rows = {row.code: row for row in IncidentDeclineCode.objects.filter(incident=first.incident)}
    assert {name: (row.count_before, row.count_during) for name, row in rows.items()} == {
        "91": (4, 120),
        "05": (None, 40),
    }
    assert {row.source for row in rows.values()} == {"alert"}
    assert rows["91"].window_end - rows["91"].window_start == timedelta(minutes=15)
    first.incident.refresh_from_db()
    assert first.incident.decline_codes == ["91", "05"]


def test_a_later_alert_replaces_the_counts_and_keeps_the_count_before(segment_world, analyst):  # noqa: F811
    first = alert_ingest(
        actor=analyst, payload=alert_payload(decline_codes=[{"code": "91", "count": 120, "count_before": 4}])
    )
    alert_ingest(actor=analyst, payload=alert_payload(decline_codes=[{"code": "91", "count": 200}]))

    row = IncidentDeclineCode.objects.get(incident=first.incident, code="91")
    assert (row.count_before, row.count_during) == (4, 200)


# --- the incident page -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "meaning", "category"),
    [("en", "Issuer or switch inoperative", "Issuer unavailable"), ("es", "Emisor o switch fuera de operación", None)],
)
def test_the_page_shows_each_code_with_its_meaning_and_shares(client, incident, analyst, language, meaning, category):
    counted(incident, analyst)
    client.force_login(analyst)

    html = client.get(reverse("cases:incident_detail", args=[incident.reference]), HTTP_ACCEPT_LANGUAGE=language)
    html = html.content.decode()

    row = html[html.index('data-code="91"') :]
    row = row[: row.index("</tr>")]
    assert meaning in row
    assert "10 <span" in row and "(25.0 %)" in row  # before: 10 of 40
    assert "300 <span" in row and "(75.0 %)" in row  # during: 300 of 400
    assert "Visa" in row
    if category:
        assert category in row
    else:
        assert "Issuer unavailable" not in row


def test_an_analyst_sets_counts_on_the_page_and_bad_input_comes_back(client, incident, analyst):
    client.force_login(analyst)
    url = reverse("cases:incident_decline_count", args=[incident.reference])

    bad = client.post(url, {"code": "91", "count_before": "-1", "count_during": "x"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and 'id="id_declinecount_count_during"' in bad.content.decode()
    assert not IncidentDeclineCode.objects.filter(incident=incident, count_during__gt=0).exists()

    ok = client.post(url, {"code": "Z3", "count_before": "", "count_during": "25"}, HTTP_HX_REQUEST="true")
    assert ok.status_code == 200
    row = IncidentDeclineCode.objects.get(incident=incident, code="Z3")
    assert (row.count_before, row.count_during, row.source, row.updated_by) == (None, 25, "manual", analyst)
    incident.refresh_from_db()
    assert "Z3" in incident.decline_codes
    assert incident.events.filter(kind=CaseEvent.Kind.DECLINE_COUNTS_CHANGED, actor=analyst).exists()

    client.post(reverse("cases:incident_decline_count_remove", args=[incident.reference]), {"code": "Z3"})
    incident.refresh_from_db()
    assert "Z3" not in incident.decline_codes


def test_the_api_sets_lists_and_removes_counts(incident, analyst):
    api = APIClient()
    api.force_authenticate(analyst)
    base = f"/api/v1/incidents/{incident.reference}/decline-codes/"

    assert api.post(base, {"code": "91", "count_during": -3}, format="json").status_code == 400
    created = api.post(base, {"code": "91", "count_before": 10, "count_during": 300}, format="json")
    api.post(base, {"code": "05", "count_before": 30, "count_during": 100}, format="json")
    listed = {row["code"]: row for row in api.get(base).json()}

    assert created.status_code == 200
    assert (listed["91"]["share_before"], listed["91"]["share_during"]) == (0.25, 0.75)
    assert api.delete(f"{base}{listed['05']['id']}/").status_code == 204
    incident.refresh_from_db()
    assert incident.decline_codes == ["91"]


# --- notices -----------------------------------------------------------------------------------


def test_a_spanish_notice_gives_the_spanish_meaning_and_the_share(incident, analyst):
    counted(incident, analyst)
    bank = PartnerFactory(name="Banco del Norte", language="es")
    PartnerContactFactory(partner=bank, language="")
    PartnerEngagementFactory(incident=incident, partner=bank)

    [draft] = notice_compose(incident=incident, actor=analyst, kind="breakage", partners=[bank]).drafts

    assert draft.language == "es"
    assert "Código 91: Emisor o switch fuera de operación" in draft.body_text
    assert "75.0 % de los rechazos durante el incidente, 25.0 % antes" in draft.body_text
    assert "Issuer or switch inoperative" not in draft.body_text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "4111 1111 1111 1111", "count_during": 1}, "code"),
        ({"code": "x" * 65, "count_during": 1}, "code"),
        ({"code": "91", "count_during": 10**13}, "count_during"),
        (
            {
                "code": "91",
                "count_during": 1,
                "window_start": "2026-12-06T10:00:00Z",
                "window_end": "2026-12-06T09:00:00Z",
            },
            "window_end",
        ),
    ],
)
def test_bad_counts_are_a_400_naming_the_field_and_write_nothing(incident, analyst, body, field):
    api = APIClient()
    api.force_authenticate(analyst)
    events = incident.events.count()

    response = api.post(f"/api/v1/incidents/{incident.reference}/decline-codes/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert "4111" not in response.content.decode()
    assert not IncidentDeclineCode.objects.filter(incident=incident).exclude(code__in=["91", "05"]).exists()
    assert incident.events.count() == events


def test_codes_without_figures_show_no_counts_rather_than_zero(incident):
    lines = incident_decline_lines(incident=incident)

    assert [(line.code, line.count_before, line.count_during, line.share_during) for line in lines] == [
        ("91", None, None, None),
        ("05", None, None, None),
    ]
    assert [line.meanings[0].category for line in lines] == ["issuer_unavailable", "soft"]
