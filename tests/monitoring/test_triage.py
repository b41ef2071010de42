"""The triage services: suppress, false positive, suppression windows, detector settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases.models import CaseEvent
from cases.timeline import read
from cases.timeline.sentences import sentence
from monitoring import findings as finding_flow
from monitoring.detection.config import detector_config
from monitoring.models import FindingState, MonitorSettings, Suppression
from monitoring.triage import (
    finding_mark_false_positive,
    finding_suppress,
    monitor_settings_delete,
    monitor_settings_update,
    suppression_create,
    suppression_delete,
)
from tests.factories import IncidentFactory, MerchantFactory
from tests.monitoring.findings_support import make_finding, merchant_segment

pytestmark = pytest.mark.django_db


def now():
    return datetime.now(UTC)


def test_suppress_records_window_decision_and_timeline(analyst):
    incident = IncidentFactory()
    finding = make_finding(incident=incident)
    until = now() + timedelta(hours=6)

    suppression = finding_suppress(finding=finding, actor=analyst, until=until, reason="Prosa maintenance")

    finding.refresh_from_db()
    assert finding.state == FindingState.SUPPRESSED
    assert finding.decided_by == analyst and finding.decided_at is not None
    assert finding.decision_note == "Prosa maintenance"
    assert (suppression.segment, suppression.start, suppression.end) == (finding.segment, finding.window_start, until)
    assert suppression.finding == finding and suppression.created_by == analyst
    event = CaseEvent.objects.get(incident=incident, kind=CaseEvent.Kind.FINDING_DECIDED)
    assert event.actor == analyst
    payload = read(event)
    assert (payload.finding, payload.decision, payload.note) == (finding.pk, "suppressed", "Prosa maintenance")
    assert "suppressed the detector finding on" in sentence(event)


def test_suppress_without_incident_writes_no_timeline(analyst):
    finding = make_finding()
    finding_suppress(finding=finding, actor=analyst, until=now() + timedelta(hours=1), reason="test")
    assert not CaseEvent.objects.filter(kind=CaseEvent.Kind.FINDING_DECIDED).exists()


@pytest.mark.parametrize(
    ("until", "field"),
    [
        (timedelta(days=31), "until"),
        (timedelta(hours=-2), "until"),
    ],
)
def test_suppress_bounds_the_window(analyst, until, field):
    finding = make_finding()
    with pytest.raises(ValidationError) as error:
        finding_suppress(finding=finding, actor=analyst, until=now() + until, reason="x")
    assert field in error.value.message_dict
    finding.refresh_from_db()
    assert finding.state == FindingState.ALERTED
    assert not Suppression.objects.exists()


def test_suppress_needs_a_reason_and_an_undecided_finding(analyst):
    finding = make_finding()
    with pytest.raises(ValidationError) as error:
        finding_suppress(finding=finding, actor=analyst, until=now() + timedelta(hours=1), reason="  ")
    assert "reason" in error.value.message_dict
    finding_mark_false_positive(finding=finding, actor=analyst, note="the test merchant")
    with pytest.raises(ValidationError) as error:
        finding_suppress(finding=finding, actor=analyst, until=now() + timedelta(hours=1), reason="again")
    assert "state" in error.value.message_dict


def test_false_positive(analyst):
    incident = IncidentFactory()
    finding = make_finding(incident=incident, state=FindingState.WATCH)
    finding_mark_false_positive(finding=finding, actor=analyst, note="a merchant's own test traffic")
    finding.refresh_from_db()
    assert finding.state == FindingState.FALSE_POSITIVE
    assert finding.decided_by == analyst
    payload = read(CaseEvent.objects.get(incident=incident, kind=CaseEvent.Kind.FINDING_DECIDED))
    assert (payload.decision, payload.until) == ("false_positive", None)


def test_triage_denied_outside_the_desk(outsider, lead):
    finding = make_finding()
    with pytest.raises(PermissionDenied):
        finding_suppress(finding=finding, actor=outsider, until=now() + timedelta(hours=1), reason="x")
    with pytest.raises(PermissionDenied):
        finding_mark_false_positive(finding=finding, actor=outsider, note="x")
    with pytest.raises(PermissionDenied):
        suppression_create(
            segment=finding.segment, start=now(), end=now() + timedelta(hours=1), reason="x", actor=outsider
        )
    with pytest.raises(PermissionDenied):
        monitor_settings_update(actor=outsider, watch_q=Decimal("0.02"))


def test_planned_suppression_create_and_delete(analyst, lead):
    segment = merchant_segment(MerchantFactory())
    start = now() + timedelta(days=1)
    suppression = suppression_create(
        segment=segment, start=start, end=start + timedelta(hours=4), reason="Planned switch upgrade", actor=analyst
    )
    assert suppression.created_by == analyst
    with pytest.raises(ValidationError) as error:
        suppression_create(segment=segment, start=start, end=start, reason="x", actor=analyst)
    assert "end" in error.value.message_dict
    with pytest.raises(PermissionDenied):  # analysts add windows; leads remove them
        suppression_delete(suppression=suppression, actor=analyst)
    suppression_delete(suppression=suppression, actor=lead)
    assert not Suppression.objects.exists()


def test_settings_global_and_merchant_inherit(lead):
    merchant = MerchantFactory()
    monitor_settings_update(actor=lead, watch_q=Decimal("0.02"), min_drop_pp="3.5")
    row = monitor_settings_update(merchant=merchant, actor=lead, min_bucket_attempts=50, enabled=False)
    assert row.updated_by == lead
    config = detector_config(merchant.pk)
    assert (config.watch_q, config.min_drop_pp, config.min_bucket_attempts, config.enabled) == (
        Decimal("0.02"),
        Decimal("3.5"),
        50,
        False,
    )
    monitor_settings_update(merchant=merchant, actor=lead, min_bucket_attempts=None)  # inherit again
    assert detector_config(merchant.pk).min_bucket_attempts == 100
    monitor_settings_delete(merchant=merchant, actor=lead)
    assert not MonitorSettings.objects.filter(merchant=merchant).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"watch_q": 0}, "watch_q"),
        ({"watch_q": 1}, "watch_q"),
        ({"alert_q": "0.5"}, "alert_q"),  # above the default watch q 0.01
        ({"min_bucket_attempts": 0}, "min_bucket_attempts"),
        ({"min_bucket_attempts": -5}, "min_bucket_attempts"),
        ({"min_bucket_attempts": 1.5}, "min_bucket_attempts"),
        ({"min_drop_pp": "NaN"}, "min_drop_pp"),
        ({"min_drop_pp": "1.234"}, "min_drop_pp"),
        ({"enabled": "maybe"}, "enabled"),
        ({"colour": 3}, "colour"),
    ],
)
def test_settings_refuse_out_of_range(lead, changes, field):
    with pytest.raises(ValidationError) as error:
        monitor_settings_update(actor=lead, **changes)
    assert field in error.value.message_dict
    assert not MonitorSettings.objects.exclude(watch_q=None).exists()


def test_global_change_checked_against_merchant_overrides(lead):
    merchant = MerchantFactory()
    monitor_settings_update(merchant=merchant, actor=lead, alert_q=Decimal("0.005"))
    with pytest.raises(ValidationError) as error:  # the merchant's alert q would exceed its watch q
        monitor_settings_update(actor=lead, watch_q=Decimal("0.002"), alert_q=Decimal("0.001"))
    assert "alert_q" in error.value.message_dict
    assert detector_config(None).watch_q == Decimal("0.01")


def test_settings_are_for_leads(analyst, partner_manager):
    for person in (analyst, partner_manager):
        with pytest.raises(PermissionDenied):
            monitor_settings_update(actor=person, watch_q=Decimal("0.02"))


def test_open_incident_and_attach_call_the_incident_flow(analyst):
    finding = make_finding()
    incident = IncidentFactory()
    opened = finding_flow.finding_open_incident(finding=finding, actor=analyst)
    attached = finding_flow.finding_attach(finding=make_finding(), incident=incident, actor=analyst)
    assert opened.findings.filter(pk=finding.pk).exists()
    assert attached == incident and incident.findings.count() == 1
