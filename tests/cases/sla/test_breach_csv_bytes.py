"""The breach CSV to the byte: a varied desk exported in both languages and several zones must give
exactly the files in golden/ (written by the export as it was before it was made faster).

The desk covers what the export formats: instants on both sides of daylight-saving changes (the
skipped hour, and the repeated one, which only the offset tells apart), microseconds (cut, not
rounded), offsets of half and three-quarter hours; durations whose hours sit on a rounding tie,
tiny, negative and huge durations; every label; breach facts that are complete, partial, empty,
null, not an object or missing, with names and reasons a spreadsheet would run as formulas, quotes,
commas, line breaks and accents; a clock breached twice (its latest breach counts); owners with
and without names; running clocks (overdue until "now", frozen here).

To rewrite a golden file after an intended change of the output: GOLDEN_WRITE=1 pytest this file.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.db.models import JSONField, Value
from django.urls import reverse
from django.utils import timezone

from accounts.models import Profile
from cases.models import SlaClock, SlaClockEvent
from cases.numbering import format_reference
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory, UserFactory

pytestmark = pytest.mark.django_db

GOLDEN = Path(__file__).parent / "golden"
BREACHES_CSV = reverse("cases:sla_report_csv", args=["breaches"])
RANGE = {"start": "2026-03-01", "end": "2026-11-30"}
NOW = dt.datetime(2026, 12, 1, 12, 34, 56, 789012, tzinfo=dt.UTC)
UTC = dt.UTC
ONE_HOUR = dt.timedelta(hours=1)
TWO_HOURS = dt.timedelta(hours=2)


def utc(month, day, hour=0, minute=0, second=0, microsecond=0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


def event(clock, at, data, *, cycle=1, kind=SlaClockEvent.Kind.BREACH):
    made = SlaClockEvent.objects.create(clock=clock, kind=kind, at=at, cycle=cycle, data=data or {})
    if data is None:  # JSON null, not the default empty object
        SlaClockEvent.objects.filter(pk=made.pk).update(data=Value(None, JSONField()))
    return made


def breached(
    *,
    title="Approval rate drop",
    severity="sev2",
    owner=None,
    partner=None,
    metric="acknowledge",
    state="breached",
    started=None,
    breached_at=None,
    stopped=None,
    target=ONE_HOUR,
    consumed=TWO_HOURS,
):
    incident = IncidentFactory(
        reference=format_reference(2026, SlaClock.objects.count() + 1), title=title, severity=severity, owner=owner
    )
    engagement = PartnerEngagementFactory(incident=incident, partner=partner) if partner else None
    started = started or (breached_at or stopped) - target
    return SlaClockFactory(
        incident=incident,
        engagement=engagement,
        metric=metric,
        state=state,
        started_at=started,
        consumed_at=stopped or started,
        stopped_at=stopped,
        breached_at=breached_at,
        target=target,
        warn_after=target,
        consumed=consumed,
        due_at=None,
        warn_due_at=None,
    )


def build_varied_desk() -> None:
    ana = UserFactory(username="ana.alvarez", first_name="Ana", last_name="Álvarez")
    eve = UserFactory(username="eve", first_name="=Eve", last_name="")
    solo = UserFactory(username="-solo", first_name="", last_name="")
    last = UserFactory(username="last.only", first_name="", last_name="Núñez")
    prosa = PartnerFactory(code="prosa-bytes", name="Prosa")
    plus = PartnerFactory(code="plus-bytes", name='+Pagos, S.A. "Norte"')

    # Instants around daylight-saving changes (UTC given; the golden files show them in each zone).
    c = breached(title="US spring, last second before", owner=ana, breached_at=utc(3, 8, 6, 59, 59, 999999),
                 stopped=utc(3, 8, 8), target=seconds(450), consumed=seconds(1350))  # fmt: skip
    event(c, c.breached_at, {"status": "investigating", "waiting_on": [], "pause_reason": ""})
    c = breached(title="US spring, first second after", owner=ana, breached_at=utc(3, 8, 7),
                 stopped=utc(3, 8, 7, 0, 18), target=seconds(1350), consumed=seconds(1350 + 18))  # fmt: skip
    event(c, c.breached_at, {"status": "new", "waiting_on": ["Prosa"], "pause_reason": ""})
    c = breached(title="EU spring, before", severity="sev1", owner=eve, partner=prosa,
                 breached_at=utc(3, 29, 0, 59, 59), stopped=utc(3, 29, 1, 0, 53), target=seconds(54))  # fmt: skip
    event(c, c.breached_at, {"status": "waiting_on_partner", "waiting_on": ["Prosa", "=Visa"],
                             "pause_reason": 'Logs "soon", maybe\nnext week'})  # fmt: skip
    c = breached(title="EU spring, after", severity="sev3", metric="resolve", owner=solo,
                 breached_at=utc(3, 29, 1), stopped=utc(3, 29, 1), target=seconds(0.000001),
                 consumed=seconds(0))  # fmt: skip
    event(c, c.breached_at, {"status": "mitigated", "waiting_on": None, "pause_reason": None})
    c = breached(title="EU autumn, first 02:30", severity="sev4", metric="first_notice", owner=last,
                 breached_at=utc(10, 25, 0, 30), stopped=utc(10, 25, 0, 29, 59), target=seconds(18))  # fmt: skip
    event(c, c.breached_at, {"status": "", "waiting_on": ["Banorte – Señal ✓"], "pause_reason": "=1+2"})
    c = breached(title="EU autumn, second 02:30", metric="update", owner=ana, partner=plus,
                 breached_at=utc(10, 25, 1, 30), stopped=utc(10, 25, 1, 29, 42), started=utc(10, 24),
                 target=seconds(3600 * 10000))  # fmt: skip
    event(c, c.breached_at, {"status": "escalated", "waiting_on": [1, 2], "pause_reason": "-"})
    c = breached(title="US autumn, first 01:30", owner=ana, breached_at=utc(11, 1, 5, 30),
                 stopped=utc(11, 1, 6, 30), target=dt.timedelta(days=2, microseconds=3))  # fmt: skip
    event(c, c.breached_at, {})
    c = breached(title="US autumn, second 01:30", owner=ana, breached_at=utc(11, 1, 6, 30),
                 state="running", started=utc(11, 1, 5), target=seconds(5400))  # fmt: skip
    event(c, c.breached_at, None)

    # Text a spreadsheet would run, quotes, commas, line breaks, accents; facts not an object.
    c = breached(title='=HYPERLINK("http://evil.test")', owner=eve, breached_at=utc(6, 1, 12), stopped=utc(6, 1, 13))
    event(c, c.breached_at, ["not", "an", "object"])
    c = breached(title="+52 55 1234", owner=ana, partner=plus, breached_at=utc(6, 2, 12), stopped=utc(6, 2, 14))
    event(c, c.breached_at, "just text")
    c = breached(title="-minus", severity="sev1", owner=ana, breached_at=utc(6, 3, 12), stopped=utc(6, 3, 12, 0, 1))
    event(c, c.breached_at, {"status": "closed", "waiting_on": ["@Acme", "\tTabs"], "pause_reason": "\rcr"})
    c = breached(title="@at", severity="sev4", metric="resolve", breached_at=utc(6, 4, 12), stopped=utc(6, 4, 15))
    event(c, c.breached_at, {"status": "resolved", "extra": {"deep": [1]}, "pause_reason": "Ñandú, “quoted”"})
    c = breached(title="\tTab title", owner=last, breached_at=utc(6, 5, 12), stopped=utc(6, 5, 12))
    event(c, c.breached_at, {"status": "triaging", "waiting_on": [], "pause_reason": "a;b"})
    c = breached(title="\rCR title", owner=solo, breached_at=utc(6, 6, 12), stopped=utc(6, 6, 12, 30))
    c = breached(title='Comma, "quote"\nand a line', owner=ana, breached_at=utc(6, 7, 12), stopped=utc(6, 7, 13))
    event(c, c.breached_at - seconds(60), {"status": "new"})  # an older breach (cycle 1) ...
    event(c, c.breached_at, {"status": "investigating"}, cycle=2)  # ... and the latest
    event(c, c.breached_at + seconds(60), {"status": "closed"}, kind=SlaClockEvent.Kind.WARN)  # not a breach

    # Found breached at stop (no breached_at: the stop is the breach instant), and no instant at all.
    c = breached(title="Found at stop", owner=ana, stopped=utc(7, 1, 9, 15, 30, 500000), consumed=seconds(3600 * 5))
    c = breached(title="No instant", owner=ana, started=utc(7, 2, 9))
    # Labels: every state with a breach, negative and tiny overdue.
    c = breached(title="Paused after breach", severity="sev3", owner=ana, partner=prosa, metric="resolve",
                 state="paused", breached_at=utc(8, 1, 10), started=utc(8, 1, 8))  # fmt: skip
    event(c, c.breached_at, {"status": "waiting_on_partner", "waiting_on": ["Prosa"]})
    c = breached(title="Met after a breach", owner=ana, state="met", breached_at=utc(8, 2, 10),
                 stopped=utc(8, 2, 10, 0, 1))  # fmt: skip
    c = breached(title="Cancelled after a breach", owner=ana, state="cancelled", breached_at=utc(8, 3, 10),
                 stopped=utc(8, 3, 9, 59, 42), consumed=seconds(3600 - 1))  # fmt: skip
    c = breached(title=" leading space ", severity="sev2", owner=ana, breached_at=utc(12, 31, 23, 59, 59, 999999),
                 started=utc(11, 29, 23), state="running")  # fmt: skip
    assert SlaClock.objects.count() == 21


CASES = [
    ("en", "America/New_York"),
    ("es", "Europe/Madrid"),
    ("en", "Asia/Kathmandu"),
    ("es", "America/St_Johns"),
    ("es", "UTC"),
]


@pytest.mark.parametrize(("language", "zone"), CASES)
def test_breach_csv_bytes_are_pinned(client, lead, monkeypatch, language, zone):
    """Given the varied desk, the export is byte for byte the golden file of its language and zone."""
    build_varied_desk()
    Profile.objects.update_or_create(user=lead, defaults={"timezone": zone})
    client.force_login(lead)
    monkeypatch.setattr(timezone, "now", lambda: NOW)

    response = client.get(BREACHES_CSV, RANGE, headers={"Accept-Language": language})
    content = b"".join(response.streaming_content)

    golden = GOLDEN / f"breaches-{language}-{zone.replace('/', '_')}.csv"
    if os.environ.get("GOLDEN_WRITE"):
        golden.write_bytes(content)
    assert content == golden.read_bytes()
