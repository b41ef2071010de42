"""The cost findings' pages: the filtered list and its CSV, a finding's page and the desk's decision,
the partner × month matrix with its drill-down and CSV, the effective-cost charts, in both languages."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from costs.checks import costs_check
from costs.findings import cost_finding_decide
from costs.models import CostFinding
from tests.costs.conftest import JUNE
from tests.costs.findings_support import MAY, make_finding, priced_june  # noqa: F401 - a fixture
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = reverse("costs:finding_list")
MATRIX = reverse("costs:matrix")


def _csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def three(acquirer, make_partner):
    other = make_partner()
    return {
        "a": make_finding(acquirer, amount=Decimal("600000.00"), severity="high", sample_references=["ARN1"]),
        "b": make_finding(acquirer, kind="duplicate_fee", period=MAY, amount=Decimal("100.00"), cohort={}),
        "c": make_finding(other, amount=Decimal("60000.00"), severity="medium", cohort={"network": "mastercard"}),
        "other": other,
    }


def test_filters_narrow_the_list_total_it_and_the_csv_holds_exactly_those_rows(client, analyst, three):
    client.force_login(analyst)
    query = {"kind": "rate_deviation", "period_from": "2026-06", "period_to": "2026-06", "amount_min": "50000"}

    html = client.get(LIST, query).content.decode()
    assert f'id="cost-finding-{three["a"].pk}"' in html and f'id="cost-finding-{three["c"].pk}"' in html
    assert f'id="cost-finding-{three["b"].pk}"' not in html
    assert "660,000.00 MXN" in html  # the filtered set's amount at stake

    rows = _csv(client.get(reverse("costs:finding_list_csv"), query))
    assert sorted(int(row["Id"]) for row in rows) == sorted([three["a"].pk, three["c"].pk])
    first = next(row for row in rows if int(row["Id"]) == three["a"].pk)
    assert first["network"] == "visa" and first["funding"] == "debit" and first["Amount at stake"] == "600000.00"
    assert first["State"] == "Open" and first["Period"] == "2026-06" and first["Sample references"] == "ARN1"

    one_partner = _csv(client.get(reverse("costs:finding_list_csv"), {"partner": three["other"].code}))
    assert [int(row["Id"]) for row in one_partner] == [three["c"].pk]


def test_the_list_sorts_by_amount_either_way(client, analyst, three):
    client.force_login(analyst)
    ascending = [int(row["Id"]) for row in _csv(client.get(reverse("costs:finding_list_csv"), {"sort": "amount"}))]
    descending = [int(row["Id"]) for row in _csv(client.get(reverse("costs:finding_list_csv"), {"sort": "-amount"}))]
    assert ascending == [three["b"].pk, three["c"].pk, three["a"].pk]
    assert descending == list(reversed(ascending))
    page = client.get(LIST, {"sort": "-amount", "kind": "rate_deviation"}).content.decode()
    assert page.index(f'id="cost-finding-{three["a"].pk}"') < page.index(f'id="cost-finding-{three["c"].pk}"')
    assert 'href="?sort=amount&amp;kind=rate_deviation"' in page  # the column's link turns the order around


def test_the_list_takes_a_bounded_number_of_queries(
    client, analyst, acquirer, make_partner, django_assert_max_num_queries
):
    for n in range(30):
        make_finding(acquirer if n % 2 else make_partner(), amount=Decimal(n))
    client.force_login(analyst)
    with django_assert_max_num_queries(10):  # whatever the number of findings and partners
        response = client.get(LIST)
    assert response.status_code == 200 and response.content.decode().count('class="cost-row') == 25


def test_the_finding_page_shows_bps_money_rule_samples_and_a_chart(client, analyst, priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    CostFinding.objects.filter(pk=finding.pk).update(sample_references=["ARN0000001", "ARN0000002"])
    client.force_login(analyst)

    html = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()

    expected_row = html.split('id="cost-expected"')[1].split("</tr>")[0]
    billed_row = html.split('id="cost-billed"')[1].split("</tr>")[0]
    difference_row = html.split('id="cost-difference"')[1].split("</tr>")[0]
    assert "45.00<" in expected_row and "135,000.00" in expected_row
    assert "52.00<" in billed_row and "156,000.00" in billed_row
    assert "7.00<" in difference_row and "21,000.00" in difference_row
    assert "ARN0000001" in html and "ARN0000002" in html
    assert "Rate card version 1, in force from 2026-06-01" in html
    assert "45.0000 bps" in html  # the rule's own explanation
    assert "a difference of 21,000.00 MXN" in html  # the sentence
    # The month chart (one month with billing: a billed and an expected point) and the day chart (30 days).
    assert html.count("<svg") == 2
    assert html.count('class="chart-point chart-billed"') == 1 + 30
    assert html.count('class="chart-point chart-expected"') == 1 + 30


def test_an_analyst_confirms_dismisses_with_a_reason_and_reopens(client, analyst, priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    url = reverse("costs:finding_decide", args=[finding.pk])
    client.force_login(analyst)

    assert client.post(url, {"state": "confirmed"}).status_code == 302
    finding.refresh_from_db()
    assert finding.state == "confirmed"

    refused = client.post(url, {"state": "dismissed", "reason": " "})
    assert refused.status_code == 400 and "Say why the finding is dismissed." in refused.content.decode()
    assert CostFinding.objects.get(pk=finding.pk).state == "confirmed"

    assert client.post(url, {"state": "dismissed", "reason": "Billed under the new contract"}).status_code == 302
    assert client.post(url, {"state": "open"}).status_code == 302
    finding.refresh_from_db()
    assert finding.state == "open"
    decisions = finding.details["decisions"]
    assert [(d["from"], d["to"]) for d in decisions] == [
        ("open", "confirmed"),
        ("confirmed", "dismissed"),
        ("dismissed", "open"),
    ]
    assert decisions[1]["reason"] == "Billed under the new contract" and decisions[1]["by"] == analyst.pk
    page = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()
    assert "Billed under the new contract" in page


def test_a_reason_holding_a_card_number_is_refused(analyst, priced_june):  # noqa: F811 - the fixture
    with pytest.raises(ValidationError) as refused:
        cost_finding_decide(
            finding=priced_june["finding"], state="dismissed", actor=analyst, reason="card 4111 1111 1111 1111"
        )
    assert "reason" in refused.value.error_dict
    assert "4111" not in str(CostFinding.objects.get().details)


def test_deciding_needs_change_costfinding(client, priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    reader = UserFactory(username="reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_costfinding"))
    client.force_login(reader)

    assert client.get(reverse("costs:finding_detail", args=[finding.pk])).status_code == 200
    response = client.post(reverse("costs:finding_decide", args=[finding.pk]), {"state": "confirmed"})

    assert response.status_code == 403
    assert CostFinding.objects.get(pk=finding.pk).state == "open"


def test_a_dismissed_finding_stays_dismissed_after_a_recheck(analyst, priced_june):  # noqa: F811 - the fixture
    finding = priced_june["finding"]
    cost_finding_decide(finding=finding, state="dismissed", actor=analyst, reason="Agreed surcharge")

    again = costs_check(partner=priced_june["partner"], period=JUNE)

    assert again.findings == 0
    assert list(CostFinding.objects.values_list("pk", "state")) == [(finding.pk, "dismissed")]


def test_the_matrix_cell_is_exact_and_drills_down_to_the_month(client, analyst, priced_june):  # noqa: F811 - the fixture
    client.force_login(analyst)

    html = client.get(MATRIX, {"first": "2026-05", "last": "2026-07"}).content.decode()

    cell = html.split('id="cell-adquirente-mx-MXN-2026-06"')[1].split("</td>")[0]
    assert "+7.00" in cell and "21000.00" in cell and "1 finding" in cell
    drill = "/costs/findings/?partner=adquirente-mx&amp;period_from=2026-06&amp;period_to=2026-06"
    assert drill in cell
    empty = html.split('id="cell-adquirente-mx-MXN-2026-05"')[1].split("</td>")[0]
    assert "—" in empty

    month = client.get(drill.replace("&amp;", "&")).content.decode()
    assert f'id="cost-finding-{priced_june["finding"].pk}"' in month
    assert month.count('class="chart-point chart-billed"') == 30  # the partner's days of June


def test_the_matrix_csv_has_a_row_per_partner_and_month(client, analyst, priced_june):  # noqa: F811 - the fixture
    client.force_login(analyst)
    rows = _csv(client.get(reverse("costs:matrix_csv"), {"first": "2026-05", "last": "2026-06"}))
    assert [(row["Month"], row["Difference (bps)"], row["Amount at stake"]) for row in rows] == [
        ("2026-05", "", "0"),
        ("2026-06", "7.00", "21000.00"),
    ]
    june = rows[1]
    assert (june["Billed (bps)"], june["Expected (bps)"], june["Transactions"]) == ("52.00", "45.00", "300")


def test_the_matrix_refuses_a_reversed_range_and_bounds_its_queries(
    client,
    analyst,
    priced_june,  # noqa: F811 - the fixture
    make_partner,
    django_assert_max_num_queries,
):
    for _n in range(5):
        make_finding(make_partner())
    client.force_login(analyst)
    assert client.get(MATRIX, {"first": "2026-07", "last": "2026-06"}).status_code == 400
    with django_assert_max_num_queries(9):  # the pricing, the findings' sums, the partners
        response = client.get(MATRIX, {"first": "2025-07", "last": "2026-06"})
    assert response.content.decode().count('<th scope="row">') == 6


def test_the_pages_speak_spanish(client, analyst, priced_june):  # noqa: F811 - the fixture
    client.force_login(analyst)
    finding = priced_june["finding"]
    listing = client.get(LIST, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in listing and "Hallazgos de costos" in listing
    page = client.get(reverse("costs:finding_detail", args=[finding.pk]), HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Esperado" in page and "Cobrado" in page and "Tarifa versión 1, vigente desde el 2026-06-01" in page
    matrix = client.get(MATRIX, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Matriz socio × mes" in matrix


def test_a_downgrade_finding_shows_its_shares_and_q_value_and_htmx_gets_the_decision_block(client, analyst, acquirer):
    details = {
        "downgraded": 3000,
        "share_pct": "6.000",
        "baseline_share_pct": "2.000",
        "baseline_transactions": 150000,
        "excess": "2000.0",
        "p_value": 1e-12,
        "q_value": 3e-12,
    }
    finding = make_finding(
        acquirer, kind="downgrade_spike", details=details, sample_references=["ARN0000007"], count=50000
    )
    client.force_login(analyst)

    html = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()
    assert "Downgrade share of the previous three months (%)" in html and "2.000" in html
    assert "3e-12" in html and "ARN0000007" in html
    assert "rose to 6.000 % in 2026-06" in html

    fragment = client.post(
        reverse("costs:finding_decide", args=[finding.pk]), {"state": "dismissed", "reason": ""}, HTTP_HX_REQUEST="true"
    )
    assert fragment.status_code == 200  # htmx swaps it in: the block with the error
    assert CostFinding.objects.get(pk=finding.pk).state == "open"
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section class="card" id="cost-decision"') and "Say why" in body


def test_a_finding_opens_its_billing_case_from_its_page(client, analyst, priced_june):  # noqa: F811 - the fixture
    """The page's form posts the finding to the billing-case service; afterwards the page links the case."""
    finding = priced_june["finding"]
    client.force_login(analyst)
    page = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()
    assert f'action="{reverse("costs:billing_case_open")}"' in page
    assert f'name="finding" value="{finding.pk}"' in page

    response = client.post(reverse("costs:billing_case_open"), {"finding": [finding.pk], "dispute_deadline": ""})

    finding.refresh_from_db()
    incident = finding.billing_case.incident
    assert response.status_code == 302 and response["Location"] == reverse(
        "cases:incident_detail", args=[incident.reference]
    )
    assert (incident.category, finding.state, finding.billing_case.amount_disputed) == (
        "cost_rate",
        "confirmed",
        finding.amount,
    )
    page = client.get(reverse("costs:finding_detail", args=[finding.pk])).content.decode()
    assert reverse("cases:incident_detail", args=[incident.reference]) in page
    assert f'name="finding" value="{finding.pk}"' not in page  # no second case for it
