"""The detector's pages: the findings queue and its htmx actions, a finding's page, the Monitors
page with the settings and the suppression windows, in English and Spanish, per role."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from monitoring.detection.config import detector_config
from monitoring.models import DetectorRun, FindingKind, FindingState, MonitorSettings, Suppression
from monitoring.triage import monitor_settings_update
from tests.factories import IncidentFactory, MerchantFactory
from tests.monitoring.findings_support import make_finding, make_monitor, merchant_segment, slice_segment

pytestmark = pytest.mark.django_db

QUEUE = reverse("monitoring:finding_list")
MONITORS = reverse("monitoring:monitor_list")


def local_input(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def findings(db):
    tienda = MerchantFactory(account_id="acct_TIENDA", name="Tienda Uno")
    cine = MerchantFactory(account_id="acct_CINE", name="Cine Dos")
    return {
        "alert": make_finding(slice_segment(tienda)),
        "spike": make_finding(
            slice_segment(cine, bin_prefix="415232"), kind=FindingKind.DECLINE_CODE_SPIKE, decline_code="91"
        ),
        "watch": make_finding(slice_segment(cine), state=FindingState.WATCH),
        "recovered": make_finding(merchant_segment(tienda), state=FindingState.RECOVERED),
    }


def test_queue_tabs_rows_and_filters(client, analyst, findings):
    client.force_login(analyst)
    for n in range(10):
        make_finding(slice_segment(MerchantFactory(), bin_prefix=f"41700{n}"), incident=IncidentFactory())
    with CaptureQueriesContext(connection) as queries:
        html = client.get(QUEUE).content.decode()
    assert len(queries) <= 16, len(queries)
    assert "Detector findings" in html
    assert f'id="finding-{findings["alert"].pk}"' in html and f'id="finding-{findings["watch"].pk}"' not in html
    assert "93.00 % → 71.00 %" in html and "22.00 pp" in html
    watch = client.get(QUEUE, {"tab": "watch"}).content.decode()
    assert f'id="finding-{findings["watch"].pk}"' in watch and f'id="finding-{findings["alert"].pk}"' not in watch
    recent = client.get(QUEUE, {"tab": "recent"}).content.decode()
    assert f'id="finding-{findings["recovered"].pk}"' in recent
    spikes = client.get(QUEUE, {"kind": "decline_code_spike"}).content.decode()
    assert f'id="finding-{findings["spike"].pk}"' in spikes and f'id="finding-{findings["alert"].pk}"' not in spikes
    cine = client.get(QUEUE, {"merchant": "acct_CINE"}).content.decode()
    assert f'id="finding-{findings["spike"].pk}"' in cine and f'id="finding-{findings["alert"].pk}"' not in cine
    hostile = client.get(QUEUE, {"merchant": "x\x00y", "kind": "<script>", "page": "9" * 30, "tab": "nope"})
    assert hostile.status_code in (200, 400)


def test_queue_in_spanish(client, analyst, findings):
    client.force_login(analyst)
    html = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert '<html lang="es">' in html
    assert "Hallazgos del detector" in html
    assert "Silenciar" in html and "Falso positivo" in html and "Abrir un incidente" in html
    assert "Caída de la tasa de aprobación" in html
    monitors = client.get(MONITORS, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Configuración del detector" in monitors and "Ventanas de silenciamiento" in monitors
    assert "Volumen insuficiente" in monitors
    detail = client.get(
        reverse("monitoring:finding_detail", args=[findings["alert"].pk]), HTTP_ACCEPT_LANGUAGE="es"
    ).content.decode()
    assert (
        "Qué explica los rechazos en exceso" in detail and "Emisor" in detail and "Un incidente aún abierto" in detail
    )


def test_suppress_from_the_queue_with_htmx(client, analyst, findings):
    client.force_login(analyst)
    finding = findings["alert"]
    url = reverse("monitoring:finding_suppress", args=[finding.pk])
    until = timezone.now() + timedelta(hours=4)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": f"finding-{finding.pk}"}

    refused = client.post(url, {"until": local_input(until), "reason": "", "on": "queue"}, **headers)
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    too_far = client.post(
        url, {"until": local_input(timezone.now() + timedelta(days=40)), "reason": "x", "on": "queue"}, **headers
    )
    assert "At most 30 days from now." in too_far.content.decode()
    finding.refresh_from_db()
    assert finding.state == FindingState.ALERTED

    answer = client.post(url, {"until": local_input(until), "reason": "Prosa maintenance", "on": "queue"}, **headers)
    row = answer.content.decode()
    assert row.lstrip().startswith(f'<tr id="finding-{finding.pk}"') and "Suppressed by" in row
    finding.refresh_from_db()
    assert finding.state == FindingState.SUPPRESSED and finding.decided_by == analyst
    assert Suppression.objects.get(finding=finding).reason == "Prosa maintenance"


def test_false_positive_without_htmx_and_bad_input(client, analyst, findings):
    client.force_login(analyst)
    url = reverse("monitoring:finding_false_positive", args=[findings["watch"].pk])
    bad = client.post(url, {"note": "", "on": "detail"})
    assert bad.status_code == 400 and "This field is required." in bad.content.decode()
    done = client.post(url, {"note": "merchant test traffic", "on": "detail"})
    assert done.status_code == 302 and done["Location"] == reverse(
        "monitoring:finding_detail", args=[findings["watch"].pk]
    )
    findings["watch"].refresh_from_db()
    assert findings["watch"].state == FindingState.FALSE_POSITIVE


def test_finding_page_has_figures_and_attribution(client, partner_manager, findings):
    client.force_login(partner_manager)
    html = client.get(reverse("monitoring:finding_detail", args=[findings["alert"].pk])).content.decode()
    assert "BBVA México" in html and "83.0 %" in html and "91" in html
    assert "Tienda Uno" in html and "Excess declines" in html
    assert client.get(reverse("monitoring:finding_detail", args=[987654])).status_code == 404


def test_attach_and_open_call_the_incident_flow(client, analyst, findings):
    client.force_login(analyst)
    incident = IncidentFactory()
    headers = {"HTTP_HX_REQUEST": "true"}
    attach = client.post(
        reverse("monitoring:finding_attach", args=[findings["alert"].pk]),
        {"incident": incident.reference, "on": "queue"},
        **headers,
    )
    opened = client.post(
        reverse("monitoring:finding_open_incident", args=[findings["watch"].pk]), {"on": "queue"}, **headers
    )
    assert attach.status_code == 200 and opened.status_code == 200
    assert incident.reference in attach.content.decode()


def test_outsider_cannot_triage(client, outsider, findings):
    client.force_login(outsider)
    assert client.get(QUEUE).status_code == 403
    url = reverse("monitoring:finding_false_positive", args=[findings["watch"].pk])
    assert client.post(url, {"note": "x"}).status_code == 403
    findings["watch"].refresh_from_db()
    assert findings["watch"].state == FindingState.WATCH


def test_monitors_page_counts_filters_and_last_run(client, analyst, findings):
    make_monitor(findings["alert"].segment, "alert")
    make_monitor(findings["watch"].segment, "watch")
    make_monitor(findings["spike"].segment, "ok")
    make_monitor(findings["recovered"].segment, "low_volume")
    DetectorRun.objects.create(started_at=timezone.now(), segments=4, buckets=16, tests=20, rejected=2)
    client.force_login(analyst)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(MONITORS).content.decode()
    assert len(queries) <= 20, len(queries)
    assert "Too little volume" in html and "20 tests, 2 rejected" in html
    assert "Save the global settings" not in html  # read-only for analysts
    assert "disabled" in html
    alerts = client.get(MONITORS, {"state": "alert"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    body = alerts.content.decode()
    assert body.lstrip().startswith('<section id="results"')
    assert f"#{findings['alert'].segment_id}<" in body and f"#{findings['watch'].segment_id}<" not in body


def test_lead_edits_global_and_merchant_settings(client, lead):
    merchant = MerchantFactory(account_id="acct_LEAD", name="Lead Store")
    client.force_login(lead)
    answer = client.post(reverse("monitoring:monitor_settings_global"), {"global-watch_q": "0.02"})
    assert answer.status_code == 302
    assert detector_config(None).watch_q == Decimal("0.02")

    url = reverse("monitoring:monitor_settings_merchant", args=[merchant.account_id])
    page = client.get(url).content.decode()
    assert 'placeholder="0.02"' in page  # the inherited global value
    bad = client.post(url, {"alert_q": "0.5"})
    assert bad.status_code == 400 and "at most the q-value for a watch" in bad.content.decode()
    saved = client.post(url, {"min_bucket_attempts": "40", "enabled": "false"})
    assert saved.status_code == 302
    row = MonitorSettings.objects.get(merchant=merchant)
    assert (row.min_bucket_attempts, row.enabled, row.watch_q, row.updated_by) == (40, False, None, lead)
    assert client.post(reverse("monitoring:monitor_settings_remove", args=[merchant.account_id])).status_code == 302
    assert not MonitorSettings.objects.filter(merchant=merchant).exists()


def test_settings_refused_for_analysts(client, analyst):
    merchant = MerchantFactory(account_id="acct_ANA")
    client.force_login(analyst)
    url = reverse("monitoring:monitor_settings_merchant", args=[merchant.account_id])
    assert client.get(url).status_code == 200
    assert client.post(url, {"min_bucket_attempts": "40"}).status_code == 403
    assert client.post(reverse("monitoring:monitor_settings_global"), {"global-watch_q": "0.02"}).status_code == 403
    assert not MonitorSettings.objects.exists()


def test_planned_suppression_window_from_the_monitors_page(client, analyst, lead):
    merchant = MerchantFactory(account_id="acct_WIN", name="Window Store")
    merchant_segment(merchant)
    client.force_login(analyst)
    start = timezone.now() + timedelta(days=1)
    data = {"merchant": "acct_WIN", "start": local_input(start), "end": local_input(start + timedelta(hours=2))}
    assert client.post(reverse("monitoring:suppression_add"), data | {"reason": ""}).status_code == 400
    far = data | {"end": "9999-12-31T23:59", "reason": "x"}
    assert client.post(reverse("monitoring:suppression_add"), far).status_code == 400
    assert client.post(reverse("monitoring:suppression_add"), data | {"reason": "Switch upgrade"}).status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.created_by == analyst and suppression.segment.parent_id is None
    remove = reverse("monitoring:suppression_remove", args=[suppression.pk])
    assert client.post(remove).status_code == 403
    client.force_login(lead)
    assert client.post(remove).status_code == 302
    assert not Suppression.objects.exists()


def test_inherit_placeholder_shows_the_built_in_default(client, lead):
    monitor_settings_update(actor=lead, min_drop_pp=Decimal("3.00"))
    client.force_login(lead)
    html = client.get(MONITORS).content.decode()
    assert 'placeholder="2"' in html and 'value="3.00"' in html
