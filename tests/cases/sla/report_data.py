"""A hand-computed SLA desk for the report tests: 4 incidents, 18 clocks, October–November 2026.

All times are Mexico City (UTC−6 all year). Business times are written, not computed: the
reports read `consumed`, they never recompute it. ✓ = met, ✗ = breached, – = no outcome.

Incidents: I1 sev1 Ana (Prosa), I2 sev1 Bruno (Visa MX), I3 sev3 Ana (Prosa + Visa MX),
I4 sev3 Bruno (no partner).

  name  inc  partner  metric        started      state      stopped      consumed target breached_at
  A1    I1   -        acknowledge   10-05 10:00  met        10-05 10:10  10m      15m    -            ✓
  F1    I1   -        first_notice  10-05 10:00  met        10-05 10:20  20m      30m    -            ✓
  U1    I1   -        update        10-05 10:20  breached   10-05 13:00  2h40m    30m    10-05 10:50  ✗ (a)
  R1    I1   -        resolve       10-05 10:00  met        10-05 13:00  3h       4h     -            ✓
  A2    I2   -        acknowledge   10-20 08:00  breached   10-20 08:40  40m      15m    10-20 08:15  ✗ (b)
  R2    I2   -        resolve       10-20 08:00  paused     -            2h       8h     -            –
  A3    I3   -        acknowledge   11-03 16:00  met        11-04 10:00  3h       4h     -            ✓
  F3    I3   -        first_notice  11-03 16:00  met        11-04 16:00  9h       9h     -            ✓
  R3    I3   -        resolve       11-03 16:00  running    -            30h      45h    11-10 16:00  ✗ (c)
  A4    I4   -        acknowledge   11-10 17:00  breached   11-11 14:00  6h       4h     (none)       ✗ (d)
  R4    I4   -        resolve       11-10 17:00  met        11-12 17:00  17h      45h    -            ✓
  PA11  I1   Prosa    acknowledge   10-05 10:20  met        10-05 11:20  1h       2h     -            ✓
  PR11  I1   Prosa    resolve       10-05 10:20  met        10-05 14:20  4h       4h     -            ✓
  PA22  I2   Visa MX  acknowledge   10-20 09:00  breached   10-20 12:00  3h       2h     10-20 11:00  ✗ (e)
  PR22  I2   Visa MX  resolve       10-20 09:00  cancelled  10-20 20:00  11h      24h    -            –
  PA31  I3   Prosa    acknowledge   11-04 16:00  met        11-05 10:00  3h       9h     -            ✓
  PR31  I3   Prosa    resolve       11-04 16:00  running    -            0        45h    -            –
  PA32  I3   Visa MX  acknowledge   11-04 16:00  running    -            9h       9h     11-05 16:00  ✗ (a)

Breach events: (a) status investigating; (b) status new; (c) waiting_on_partner, waiting on Prosa
and Visa MX, pause reason "Waiting for Prosa logs"; (d) none: over target at stop, no sweep
record; (e) waiting_on_partner, waiting on Visa MX.

Outbound notices: to Prosa sent 10-05 10:20 (breakage), 10-05 12:00 (follow_up), 11-04 16:00
(breakage), 11-06 10:00 (follow_up), 09-28 10:00 (before the range), one draft; to Visa MX sent
10-20 09:00 and 11-04 16:00 (breakage), plus an inbound reply from Visa MX.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from cases.models import Correspondence, SlaClock, SlaClockEvent
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory, UserFactory

MEXICO = ZoneInfo("America/Mexico_City")
_message_ids = itertools.count(1)


def local(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=MEXICO)


def h(hours: float = 0, minutes: int = 0) -> dt.timedelta:
    return dt.timedelta(hours=hours, minutes=minutes)


def clock(incident, metric, started, state, *, stopped=None, consumed=None, target, breached_at=None, engagement=None):
    return SlaClockFactory(
        incident=incident,
        engagement=engagement,
        metric=metric,
        started_at=started,
        state=state,
        stopped_at=stopped,
        consumed=consumed or h(),
        consumed_at=stopped or started,
        target=target,
        warn_after=target * 3 / 4,
        breached_at=breached_at,
        due_at=None,
        warn_due_at=None,
    )


def breach_event(sla_clock, at, *, status, waiting_on=(), pause_reason=""):
    return SlaClockEvent.objects.create(
        clock=sla_clock,
        kind=SlaClockEvent.Kind.BREACH,
        at=at,
        cycle=sla_clock.cycle,
        data={"status": status, "waiting_on": list(waiting_on), "pause_reason": pause_reason},
    )


def notice(engagement, sent_at, *, kind="breakage", status=Correspondence.Status.SENT):
    return Correspondence.objects.create(
        incident=engagement.incident,
        engagement=engagement,
        direction=Correspondence.Direction.OUTBOUND,
        kind=kind,
        subject=f"{kind} {engagement.partner.name}",
        status=status,
        peak_severity=engagement.incident.severity,
        sent_at=sent_at if status == Correspondence.Status.SENT else None,
        message_id=f"<report-{next(_message_ids)}@payhealth.test>",
    )


def build_report_desk() -> dict:
    ana = UserFactory(username="ana.alvarez", first_name="Ana", last_name="Alvarez")
    bruno = UserFactory(username="bruno.baez", first_name="Bruno", last_name="Baez")
    prosa = PartnerFactory(code="prosa-report", name="Prosa")
    visa = PartnerFactory(code="visa-report", name="Visa MX")
    i1 = IncidentFactory(title="Switch outage", severity="sev1", owner=ana)
    i2 = IncidentFactory(title="Visa declines", severity="sev1", owner=bruno)
    i3 = IncidentFactory(title="Debit approval drop", severity="sev3", owner=ana)
    i4 = IncidentFactory(title="Cost rate up", severity="sev3", owner=bruno)
    e11 = PartnerEngagementFactory(incident=i1, partner=prosa)
    e22 = PartnerEngagementFactory(incident=i2, partner=visa)
    e31 = PartnerEngagementFactory(incident=i3, partner=prosa)
    e32 = PartnerEngagementFactory(incident=i3, partner=visa)

    c = {}
    c["A1"] = clock(
        i1, "acknowledge", local(10, 5, 10), "met", stopped=local(10, 5, 10, 10), consumed=h(0, 10), target=h(0, 15)
    )
    c["F1"] = clock(
        i1, "first_notice", local(10, 5, 10), "met", stopped=local(10, 5, 10, 20), consumed=h(0, 20), target=h(0, 30)
    )
    c["U1"] = clock(
        i1,
        "update",
        local(10, 5, 10, 20),
        "breached",
        stopped=local(10, 5, 13),
        consumed=h(2, 40),
        target=h(0, 30),
        breached_at=local(10, 5, 10, 50),
    )
    c["R1"] = clock(i1, "resolve", local(10, 5, 10), "met", stopped=local(10, 5, 13), consumed=h(3), target=h(4))
    c["A2"] = clock(
        i2,
        "acknowledge",
        local(10, 20, 8),
        "breached",
        stopped=local(10, 20, 8, 40),
        consumed=h(0, 40),
        target=h(0, 15),
        breached_at=local(10, 20, 8, 15),
    )
    c["R2"] = clock(i2, "resolve", local(10, 20, 8), "paused", consumed=h(2), target=h(8))
    c["A3"] = clock(i3, "acknowledge", local(11, 3, 16), "met", stopped=local(11, 4, 10), consumed=h(3), target=h(4))
    c["F3"] = clock(i3, "first_notice", local(11, 3, 16), "met", stopped=local(11, 4, 16), consumed=h(9), target=h(9))
    c["R3"] = clock(
        i3, "resolve", local(11, 3, 16), "running", consumed=h(30), target=h(45), breached_at=local(11, 10, 16)
    )
    c["A4"] = clock(
        i4, "acknowledge", local(11, 10, 17), "breached", stopped=local(11, 11, 14), consumed=h(6), target=h(4)
    )
    c["R4"] = clock(i4, "resolve", local(11, 10, 17), "met", stopped=local(11, 12, 17), consumed=h(17), target=h(45))
    c["PA11"] = clock(
        i1,
        "acknowledge",
        local(10, 5, 10, 20),
        "met",
        stopped=local(10, 5, 11, 20),
        consumed=h(1),
        target=h(2),
        engagement=e11,
    )
    c["PR11"] = clock(
        i1,
        "resolve",
        local(10, 5, 10, 20),
        "met",
        stopped=local(10, 5, 14, 20),
        consumed=h(4),
        target=h(4),
        engagement=e11,
    )
    c["PA22"] = clock(
        i2,
        "acknowledge",
        local(10, 20, 9),
        "breached",
        stopped=local(10, 20, 12),
        consumed=h(3),
        target=h(2),
        breached_at=local(10, 20, 11),
        engagement=e22,
    )
    c["PR22"] = clock(
        i2,
        "resolve",
        local(10, 20, 9),
        "cancelled",
        stopped=local(10, 20, 20),
        consumed=h(11),
        target=h(24),
        engagement=e22,
    )
    c["PA31"] = clock(
        i3, "acknowledge", local(11, 4, 16), "met", stopped=local(11, 5, 10), consumed=h(3), target=h(9), engagement=e31
    )
    c["PR31"] = clock(i3, "resolve", local(11, 4, 16), "running", target=h(45), engagement=e31)
    c["PA32"] = clock(
        i3,
        "acknowledge",
        local(11, 4, 16),
        "running",
        consumed=h(9),
        target=h(9),
        breached_at=local(11, 5, 16),
        engagement=e32,
    )
    c["PR32"] = clock(i3, "resolve", local(11, 4, 16), "running", target=h(45), engagement=e32)

    breach_event(c["U1"], local(10, 5, 10, 50), status="investigating")
    breach_event(c["A2"], local(10, 20, 8, 15), status="new")
    breach_event(
        c["R3"],
        local(11, 10, 16),
        status="waiting_on_partner",
        waiting_on=["Prosa", "Visa MX"],
        pause_reason="Waiting for Prosa logs",
    )
    breach_event(c["PA22"], local(10, 20, 11), status="waiting_on_partner", waiting_on=["Visa MX"])
    breach_event(c["PA32"], local(11, 5, 16), status="investigating")

    notice(e11, local(10, 5, 10, 20))
    notice(e11, local(10, 5, 12), kind="follow_up")
    notice(e31, local(11, 4, 16))
    notice(e31, local(11, 6, 10), kind="follow_up")
    notice(e11, local(9, 28, 10))  # before the range
    notice(e31, None, kind="update", status=Correspondence.Status.DRAFT)  # never sent
    notice(e22, local(10, 20, 9))
    notice(e32, local(11, 4, 16))
    Correspondence.objects.create(
        incident=i2,
        engagement=e22,
        direction=Correspondence.Direction.INBOUND,
        status=Correspondence.Status.RECEIVED,
        subject="RE: Visa declines",
        received_at=local(10, 20, 10),
        message_id="<report-reply@visa.test>",
    )
    return {"clocks": c, "ana": ana, "bruno": bruno, "prosa": prosa, "visa": visa, "incidents": [i1, i2, i3, i4]}


__all__ = ["SlaClock", "build_report_desk", "h", "local"]
