"""The demo's first minutes: `seed_demo` ends with the detector's first run over the history
(the Prosa outage two days back opens one incident with Prosa engaged, resolved by the desk
after the detector proposed it), and the live replay's Prosa outage, from the anchor on, opens an
incident of its own with its first two buckets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from cases.models import CaseEvent, Incident
from demo import metrics
from monitoring.detection.runner import detection_run
from monitoring.generator import RouteOutage
from monitoring.models import DetectorRun

pytestmark = pytest.mark.django_db


def _prosa_incidents() -> list[Incident]:
    return list(Incident.objects.filter(findings__isnull=False, engagements__partner__code="prosa").distinct())


def test_seed_demo_detects_the_history_and_the_live_outage_opens_its_own_incident(monkeypatch, settings):
    # One demo merchant with its four largest slices (two issuers on two switches), its volume
    # large enough for an outage to show at any hour the test runs; the first run reads the last
    # three days (the Prosa outage is two days back), not seven, to keep the test short.
    monkeypatch.setattr(metrics, "DEMO_METRICS_MERCHANTS", (("Aerolíneas Quetzal", 20_000),))
    monkeypatch.setattr(metrics, "SLICES_PER_MERCHANT", 4)
    settings.PAYHEALTH_METRICS_LATE_DAYS = 3
    call_command("seed_demo", "--no-costs", verbosity=0)
    anchor = metrics.demo_anchor()
    history, live = [r for r in metrics.demo_regressions(anchor) if isinstance(r, RouteOutage)]
    assert (live.start, live.end) == (anchor, anchor + metrics.LIVE_OUTAGE)

    # The detector's first run, at the end of the seed: the history's outage, resolved by the desk.
    assert DetectorRun.objects.count() == 1
    (incident,) = _prosa_incidents()
    assert list(incident.engagements.values_list("partner__code", flat=True)) == ["prosa"]
    findings = list(incident.findings.all())
    assert findings and all(f.window_start < history.end and f.window_end > history.start for f in findings)
    assert {f.state for f in findings} == {"recovered"}
    assert incident.status == "resolved"
    kinds = list(incident.events.order_by("pk").values_list("kind", flat=True))
    assert kinds.index(CaseEvent.Kind.RESOLUTION_PROPOSED) < kinds.index(CaseEvent.Kind.STATUS_CHANGED)
    resolved = incident.events.filter(kind=CaseEvent.Kind.STATUS_CHANGED).latest("pk")
    assert resolved.actor.username == metrics.DEMO_RESOLVER and resolved.data["to"] == "resolved"
    call_command("seed_demo", "--no-costs", verbosity=0)  # again: the detector is not run twice
    assert DetectorRun.objects.count() == 1

    # Beat's replay half an hour later: the two live buckets of the outage, then a run.
    now = anchor + timedelta(minutes=31)
    assert metrics.replay_demo_metrics(now=now) > 0
    run = detection_run(now=now, settle_seconds=0)

    assert run.findings_opened > 0
    (new,) = [item for item in _prosa_incidents() if item.pk != incident.pk]
    assert new.status == "new"
    assert list(new.engagements.values_list("partner__code", flat=True)) == ["prosa"]
    # A bucket test's window starts at the outage's first bucket; a small slice tested an hour at a
    # time (at night, whatever volume the merchant has) opens the hour ending with a live bucket.
    for finding in new.findings.all():
        first = anchor - timedelta(minutes=45) if finding.test == "hour" else anchor
        assert first <= finding.window_start <= anchor + timedelta(minutes=15), finding.__dict__
        assert finding.window_end > anchor
    assert new.findings.filter(state="alerted").exists()
