"""The cost findings over the API: the list's filters, a finding, the decision, the matrix, the
effective-bps series and running the checks now, with 400s naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from costs.models import CostFinding
from tests.costs.findings_support import MAY, make_finding, priced_june  # noqa: F401 - a fixture
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_list_filters_like_the_page_and_a_finding_reads_whole(analyst, acquirer, make_partner):
    other = make_partner()
    june = make_finding(acquirer, amount=Decimal("600000.00"), severity="high")
    make_finding(acquirer, kind="duplicate_fee", period=MAY)
    make_finding(other)

    answer = api(analyst).get(
        "/api/v1/cost-findings/", {"partner": "adquirente-mx", "kind": "rate_deviation", "period_from": "2026-06"}
    )

    assert answer.status_code == 200
    assert [row["id"] for row in answer.data["results"]] == [june.pk]
    row = answer.data["results"][0]
    assert (row["partner"], row["period"], row["amount"], row["state"]) == (
        "adquirente-mx",
        "2026-06",
        "600000.00",
        "open",
    )
    detail = api(analyst).get(f"/api/v1/cost-findings/{june.pk}/")
    assert detail.status_code == 200 and detail.data["cohort"] == {"network": "visa", "funding": "debit"}


def test_bad_filters_are_400s_naming_the_field(analyst):
    answer = api(analyst).get("/api/v1/cost-findings/", {"period_from": "June", "kind": "nope"})
    assert answer.status_code == 400
    assert set(answer.json()["error"]["fields"]) >= {"period_from", "kind"}


def test_decide_confirms_and_refuses_a_dismissal_without_reason(analyst, priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    url = f"/api/v1/cost-findings/{finding.pk}/decide/"

    refused = api(analyst).post(url, {"state": "dismissed"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["fields"]

    answer = api(analyst).post(url, {"state": "confirmed"}, format="json")
    assert answer.status_code == 200 and answer.data["state"] == "confirmed"
    assert answer.data["details"]["decisions"][0]["by"] == analyst.pk


def test_decide_needs_change_costfinding(priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    reader = UserFactory(username="api-reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_costfinding"))

    answer = api(reader).post(f"/api/v1/cost-findings/{finding.pk}/decide/", {"state": "confirmed"}, format="json")

    assert answer.status_code == 403
    assert CostFinding.objects.get(pk=finding.pk).state == "open"


def test_the_matrix_json_holds_the_exact_cell(analyst, priced_june):  # noqa: F811 - the fixture
    answer = api(analyst).get("/api/v1/cost-matrix/", {"from": "2026-06", "to": "2026-06"})

    assert answer.status_code == 200
    assert answer.data["months"] == ["2026-06"]
    (row,) = answer.data["rows"]
    (cell,) = row["cells"]
    assert (row["partner"], row["currency"]) == ("adquirente-mx", "MXN")
    assert (cell["billed_bps"], cell["expected_bps"], cell["delta_bps"]) == ("52.0000", "45.0000", "7.0000")
    assert (cell["at_stake"], cell["findings"], cell["count"]) == ("21000.00", 1, 300)
    assert api(analyst).get("/api/v1/cost-matrix/", {"from": "2026-07", "to": "2026-06"}).status_code == 400


def test_the_series_by_month_and_by_day_with_a_cohort(analyst, priced_june):  # noqa: F811 - the fixture
    months = api(analyst).get(
        "/api/v1/cost-series/", {"partner": "adquirente-mx", "from": "2026-05", "to": "2026-06", "funding": "debit"}
    )
    assert months.status_code == 200
    (series,) = months.data["series"]
    assert [(p["at"], p["billed_bps"], p["expected_bps"]) for p in series["points"]] == [
        ("2026-05-01", None, None),
        ("2026-06-01", "52.0000", "45.0000"),
    ]
    days = api(analyst).get("/api/v1/cost-series/", {"partner": "adquirente-mx", "to": "2026-06", "by": "day"})
    assert len(days.data["series"][0]["points"]) == 30
    credit = api(analyst).get("/api/v1/cost-series/", {"partner": "adquirente-mx", "funding": "credit"})
    assert credit.data["series"] == []
    unknown = api(analyst).get("/api/v1/cost-series/", {"partner": "nobody"})
    assert unknown.status_code == 400 and "partner" in unknown.json()["error"]["fields"]


def test_running_the_checks_answers_counts_by_kind(analyst, priced_june):  # noqa: F811 - the fixture
    CostFinding.objects.all().delete()

    answer = api(analyst).post("/api/v1/cost-checks/", {"partner": "adquirente-mx", "period": "2026-06"}, format="json")

    assert answer.status_code == 200
    assert answer.data == {
        "partner": "adquirente-mx",
        "period": "2026-06",
        "findings": 1,
        "by_kind": {"rate_deviation": 1},
    }
    bad = api(analyst).post("/api/v1/cost-checks/", {"partner": "adquirente-mx", "period": "2026-13"}, format="json")
    assert bad.status_code == 400 and "period" in bad.json()["error"]["fields"]


def test_running_the_checks_needs_run_costs_check(priced_june):  # noqa: F811 - the fixture
    reader = UserFactory(username="api-reader-2")
    reader.user_permissions.add(Permission.objects.get(codename="view_costfinding"))
    answer = api(reader).post("/api/v1/cost-checks/", {"partner": "adquirente-mx", "period": "2026-06"}, format="json")
    assert answer.status_code == 403
