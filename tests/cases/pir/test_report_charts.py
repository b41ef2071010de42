"""With payment data for the incident's merchant, the report draws the incident page's
approval-rate chart (registered by the monitoring app); without it, it draws none."""

from __future__ import annotations

from django.urls import reverse

from cases.pir.report import incident_report
from tests.factories import AffectedMerchantFactory, IncidentFactory
from tests.monitoring.chart_data import load_chart_merchant


def test_the_report_draws_the_approval_rate_chart_when_there_is_payment_data(db, analyst, client):
    charted = load_chart_merchant()
    outage = charted["outage"]
    incident = IncidentFactory(started_at=outage[0], detected_at=outage[0], resolved_at=outage[1])
    AffectedMerchantFactory(incident=incident, merchant=charted["merchant"])
    report = incident_report(incident=incident, language="es")
    (chart,) = report.charts
    assert chart.title == charted["merchant"].name
    assert f'id="chart-incident-{charted["merchant"].pk}"' in chart.svg and "<svg" in chart.svg
    client.force_login(analyst)
    html = client.get(reverse("cases:incident_report", args=[incident.reference]), {"lang": "es"}).content.decode()
    assert f'id="chart-incident-{charted["merchant"].pk}"' in html


def test_no_payment_data_no_chart(report_desk):
    assert incident_report(incident=report_desk.desk.incident, language="en").charts == []
