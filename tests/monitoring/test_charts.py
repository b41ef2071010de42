"""The payment-data charts: the expected band (scipy, from the same-slot history), the segment
page, the incident and merchant panels; SVG with title, description and a data table; bounded
queries; permissions enforced on the server; hostile parameters never a 5xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from cases.models import Incident
from monitoring import generator
from monitoring.charts.series import series_with_band
from monitoring.models import Finding, FindingKind, FindingState
from tests.factories import AffectedMerchantFactory, IncidentFactory
from tests.monitoring.chart_data import load_chart_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def charted(db):
    return load_chart_merchant()


def finding_on(segment, window, *, incident=None) -> Finding:
    return Finding.objects.create(
        kind=FindingKind.APPROVAL_DROP,
        segment=segment,
        state=FindingState.ALERTED,
        window_start=window[0],
        window_end=window[1],
        baseline_rate="0.880000",
        observed_rate="0.700000",
        attempts=10000,
        approvals=7000,
        excess_declines=1800,
        p_value=1e-9,
        q_value=1e-8,
        incident=incident,
    )


def assert_accessible_chart(html: str, chart_id: str) -> None:
    svg = re.search(rf'<svg[^>]*id="{chart_id}"[^>]*>.*?</svg>', html, re.S)
    assert svg, f"no chart {chart_id}"
    assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in svg.group(0)
    assert f'<title id="{chart_id}-title">' in svg.group(0)
    assert f'<desc id="{chart_id}-desc">' in svg.group(0)


def test_the_band_holds_ordinary_buckets_and_the_outage_falls_below_it(db):
    # A fixed day with the outage at 10:00-12:00 in Mexico City: every 15-minute bucket then holds
    # enough attempts for a bucket-by-bucket claim. At night a bucket holds about twenty attempts,
    # the band is wide, and a bucket of the outage can honestly sit inside it.
    charted = load_chart_merchant(now=datetime(2026, 11, 18, 2, 0, tzinfo=UTC))
    outage = charted["outage"]
    start, end = outage[0] - timedelta(hours=6), outage[1] + timedelta(hours=6)
    points, rows = series_with_band(segment=charted["segment"], start=start, end=end, step=timedelta(minutes=15))
    assert len(points) == len(rows) == 14 * 4
    inside = [p for p in points if outage[0] <= p.at < outage[1]]
    outside = [p for p in points if not outage[0] <= p.at < outage[1] and p.low is not None]
    assert inside and all(p.rate < p.low for p in inside)
    held = sum(p.low <= p.rate <= p.high for p in outside)
    assert held >= 0.9 * len(outside), (held, len(outside))
    assert all(0 <= p.low < p.high <= 1 for p in outside)
    # The baseline is the pooled same-slot history, close to the generated merchant's rate at that
    # local time (lower at night, when the generator's stricter fraud rules decline more).
    for row in rows:
        low = 0.8 - generator.approval_shift(row["start"])
        assert low < row["baseline"] < 0.95, row


def test_the_segment_page_draws_the_series_and_its_slices_in_bounded_queries(
    client, analyst, charted, django_assert_max_num_queries
):
    client.force_login(analyst)
    url = reverse("monitoring:segment_detail", args=[charted["segment"].pk])
    with django_assert_max_num_queries(16):
        response = client.get(url, {"window": "24h", "by": "route"})
    assert response.status_code == 200
    html = response.content.decode()
    assert_accessible_chart(html, "chart-segment")
    assert "<details>" in html and "<summary>" in html
    children = html[html.index('id="segment-children"') :]
    assert "PROSA" in children and "E-GLOBAL" in children
    # Prosa, hit by the outage, explains the excess declines: it comes first.
    assert children.index("PROSA") < children.index("E-GLOBAL")
    assert children.count('class="sparkline"') == 2


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Approval rate and expected band"), ("es", "Tasa de aprobación y banda esperada")]
)
def test_the_segment_page_in_both_languages(client, analyst, charted, language, heading):
    client.force_login(analyst)
    url = reverse("monitoring:segment_detail", args=[charted["segment"].pk])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert heading in response.content.decode()


@pytest.mark.parametrize(
    "query", [{"window": "<script>"}, {"by": "'; drop table x"}, {"window": "7d", "by": "bin_prefix"}]
)
def test_hostile_parameters_fall_back_to_the_defaults(client, analyst, charted, query):
    client.force_login(analyst)
    response = client.get(reverse("monitoring:segment_detail", args=[charted["segment"].pk]), query)
    assert response.status_code == 200
    assert "<script>" not in response.content.decode().split("</header>")[0].split("<select")[0]


def test_an_unknown_segment_is_a_404(client, analyst):
    client.force_login(analyst)
    assert client.get("/monitoring/segments/999999999/").status_code == 404


def test_the_incident_panel_shades_the_window_and_compares_the_decline_codes(
    client, analyst, charted, django_assert_max_num_queries
):
    outage = charted["outage"]
    incident = IncidentFactory(started_at=outage[0], detected_at=outage[0], resolved_at=outage[1])
    AffectedMerchantFactory(incident=incident, merchant=charted["merchant"])
    client.force_login(analyst)
    page = client.get(reverse("cases:incident_detail", args=[incident.reference])).content.decode()
    panel_url = reverse("monitoring:incident_charts", args=[incident.reference])
    assert f'hx-get="{panel_url}"' in page
    with django_assert_max_num_queries(20):
        response = client.get(panel_url)
    assert response.status_code == 200
    html = response.content.decode()
    merchant_id = charted["merchant"].pk
    assert_accessible_chart(html, f"chart-incident-{merchant_id}")
    assert_accessible_chart(html, f"chart-codes-{merchant_id}")
    assert 'class="chart-shade"' in html and 'class="chart-band"' in html
    # The code mix: 91 (the outage's soft decline) takes a much larger share during than before.
    table = html[html.index("The decline-code mix") :]
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th>(.*?)</tr>", table)
    heads = re.findall(r'<th class="dir-num">([^<]+)</th>', table)
    column = heads.index("91") - 1  # after the declines column
    shares = {label: re.findall(r'<td class="dir-num">([^<]+)</td>', cells) for label, cells in rows}
    before = float(shares["Baseline"][column + 1].rstrip(" %"))
    during = float(shares["During"][column + 1].rstrip(" %"))
    assert during > 3 * before


def test_the_incident_panel_takes_the_window_of_its_findings(client, analyst, charted):
    outage = charted["outage"]
    incident = IncidentFactory()
    finding_on(charted["segment"], outage, incident=incident)
    client.force_login(analyst)
    response = client.get(reverse("monitoring:incident_charts", args=[incident.reference]))
    assert response.status_code == 200
    assert f'data-merchant="{charted["merchant"].account_id}"' in response.content.decode()


def test_an_incident_without_payment_data_says_so(client, analyst):
    incident = IncidentFactory()
    client.force_login(analyst)
    response = client.get(reverse("monitoring:incident_charts", args=[incident.reference]))
    assert response.status_code == 200
    assert "No payment data for this incident" in response.content.decode()


def test_the_merchant_chart_marks_findings_over_30_days(client, analyst, charted, django_assert_max_num_queries):
    finding_on(charted["segment"], charted["outage"])
    client.force_login(analyst)
    merchant = charted["merchant"]
    page = client.get(reverse("cases:merchant_detail", args=[merchant.account_id])).content.decode()
    chart_url = reverse("monitoring:merchant_chart", args=[merchant.account_id])
    assert f'hx-get="{chart_url}"' in page
    with django_assert_max_num_queries(10):
        response = client.get(chart_url)
    html = response.content.decode()
    assert_accessible_chart(html, "chart-merchant-30d")
    assert html.count('class="chart-marker"') == 1
    assert reverse("monitoring:segment_detail", args=[charted["segment"].pk]) in html
    assert len(re.findall(r"<tr><td>\d{4}-\d\d-\d\d</td>", html)) in (30, 31)


def test_pages_and_panels_are_refused_without_a_role(client, outsider, charted):
    incident = IncidentFactory()
    urls = [
        reverse("monitoring:segment_detail", args=[charted["segment"].pk]),
        reverse("monitoring:incident_charts", args=[incident.reference]),
        reverse("monitoring:merchant_chart", args=[charted["merchant"].account_id]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: the login page
    client.force_login(outsider)
    for url in urls:
        assert client.get(url).status_code == 403
    assert Incident.objects.count() == 1


def test_the_large_sample_band_agrees_with_the_exact_beta_binomial():
    import numpy as np
    from scipy.stats import betabinom

    from monitoring.charts.series import band

    n = np.array([400.0, 1500.0, 6000.0])
    p = np.array([0.9, 0.85, 0.88])
    rho = 0.001
    low, high = band(attempts=n, rate=p, rho=rho)
    scale = 1 / rho - 1
    exact_low = betabinom.ppf(0.005, n, p * scale, (1 - p) * scale) / n
    exact_high = betabinom.ppf(0.995, n, p * scale, (1 - p) * scale) / n
    assert np.all(np.abs(low - exact_low) < 0.006) and np.all(np.abs(high - exact_high) < 0.006)


def test_the_time_axis_speaks_the_viewers_language(client, analyst, charted):
    client.force_login(analyst)
    url = reverse("monitoring:merchant_chart", args=[charted["merchant"].account_id])
    months = {}
    for language in ("en", "es"):
        with translation.override(language):
            months[language] = {date_format(datetime(2026, month, 1), "M") for month in range(1, 13)}
    assert "Dic" in months["es"] and "Dec" not in months["es"]
    for language in ("en", "es"):
        svg = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode().split("</svg>")[0]
        labels = re.findall(r'fill="#57606a">(\d\d \w+)</text>', svg)
        assert labels and all(label.split()[1] in months[language] for label in labels), labels
