"""A desk for the SLA tests: an incident opened through the real services at a chosen instant,
BBVA México (Mexico City, escalation levels 1–3) and Visa (US Eastern business hours, levels
1–2) engaged, notices delivered in this process, and partner replies received as raw mail.

`FrozenNow` replaces `django.utils.timezone.now` for the test, so every service runs at the
instant the test names (models' `default=timezone.now` keep the real clock; the services pass
their instants explicitly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from django.utils import timezone

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_send
from cases.correspondence.inbound.store import inbound_receive
from cases.models import Correspondence, Incident, PartnerEngagement, SlaClock, SlaClockEvent
from cases.services import incident_open, incident_transition
from cases.sla.clocks import clock_replay
from cases.sla.sweep import sla_sweep
from partners.models import BusinessCalendar, NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from tests.factories import PartnerFactory

MX = ZoneInfo("America/Mexico_City")
NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def mx(*args) -> datetime:
    """A Mexico City wall time as a UTC instant (UTC−6 all year since 2022)."""
    return datetime(*args, tzinfo=MX).astimezone(UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FrozenNow:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> datetime:
        self.at = at
        return at


def freeze(monkeypatch, at: datetime) -> FrozenNow:
    frozen = FrozenNow(at)
    monkeypatch.setattr(timezone, "now", frozen)
    return frozen


@dataclass
class SlaDesk:
    incident: Incident
    bbva: Partner
    visa: Partner

    def engagement(self, partner: Partner) -> PartnerEngagement:
        return PartnerEngagement.objects.get(incident=self.incident, partner=partner)

    def refresh(self) -> Incident:
        self.incident.refresh_from_db()
        return self.incident

    def clock(self, metric: str, partner: Partner | None = None) -> SlaClock:
        clocks = SlaClock.objects.filter(incident=self.incident, metric=metric)
        if partner is None:
            return clocks.get(engagement__isnull=True)
        return clocks.get(engagement__partner=partner)


def sla_desk(*, actor, severity: str = "sev3", partners: bool = True) -> SlaDesk:
    """Open an incident now (the frozen instant) with both partners engaged."""
    load_notice_templates(NoticeTemplate)
    us_hours = BusinessCalendar.objects.get(code="us-eastern-business")
    bbva = PartnerFactory(code="bbva-mx", name="BBVA México", language="es", timezone="America/Mexico_City")
    visa = PartnerFactory(
        code="visa",
        name="Visa",
        kind=Partner.Kind.CARD_NETWORK,
        country="GLOBAL",
        language="en",
        timezone="America/New_York",
        calendar=us_hours,
    )
    contact = PartnerContact.objects.create
    contact(partner=bbva, name="Mesa de Operación BBVA", email="operacion@bbva.test")
    contact(partner=bbva, name="Gerencia de Incidentes", email="gerencia@bbva.test", escalation_level=2)
    contact(partner=bbva, name="Dirección de Operaciones", email="direccion@bbva.test", escalation_level=3)
    contact(partner=visa, name="Visa Issuer Support", email="support@visa.test")
    contact(partner=visa, name="Visa Escalations", email="escalations@visa.test", escalation_level=2)
    incident = incident_open(
        actor=actor,
        owner=actor,
        title="Débito BBVA: caída de aprobación",
        category="auth_rate",
        severity=severity,
        partners=[bbva, visa] if partners else [],
    )
    # What partners read, in both languages (a notice is sent only with them).
    type(incident).objects.filter(pk=incident.pk).update(
        partner_title_en="BBVA debit: approval drop",
        partner_title_es="Débito BBVA: caída de aprobación",
        partner_summary_en="BBVA debit authorizations decline more than usual.",
        partner_summary_es="Las autorizaciones de débito BBVA se rechazan más de lo habitual.",
    )
    incident.refresh_from_db()
    return SlaDesk(incident=incident, bbva=bbva, visa=visa)


def deliver_notice(desk: SlaDesk, *, author, sender, partner: Partner, kind: str = "breakage") -> Correspondence:
    """Compose, send and deliver one notice to the partner's first line (mail backend: locmem)."""
    drafts = notice_compose(incident=desk.incident, actor=author, kind=kind, partners=[partner]).drafts
    assert len(drafts) == 1, drafts
    notice_send(correspondence=drafts[0], actor=sender)
    assert correspondence_deliver(correspondence_id=drafts[0].pk) == "sent"
    drafts[0].refresh_from_db()
    return drafts[0]


def partner_reply(notice: Correspondence, *, auto: bool = False, sender: str = "Operaciones BBVA <ops@bbva.test>"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "PayHealth Operations <payhealth@localhost>"
    message["Subject"] = f"RE: {notice.subject}"
    message["Message-ID"] = make_msgid(domain="bbva.test")
    message["In-Reply-To"] = notice.message_id
    message.set_content("Fuera de la oficina." if auto else "Recibido, folio 4821.")
    if auto:
        message["Auto-Submitted"] = "auto-replied"
    return inbound_receive(raw=message.as_bytes(), source="upload")


def assert_replay_matches(clock: SlaClock) -> None:
    """The columns the services maintained equal the state recomputed from the events alone."""
    clock.refresh_from_db()
    replayed = clock_replay(clock)
    stored = {field: getattr(clock, field) for field in replayed}
    assert stored == replayed, (clock, stored, replayed)


def notify_and_mail(*, event_id: int) -> str:
    """`sla_event_notify`, then each person's mail as its task would send it (no broker here)."""
    from cases.models import SlaNotification
    from cases.sla.notify import sla_event_notify, sla_mail_deliver

    result = sla_event_notify(event_id=event_id)
    pending = SlaNotification.objects.filter(event_id=event_id, status=SlaNotification.Status.PENDING)
    for pk in pending.order_by("pk").values_list("pk", flat=True):
        sla_mail_deliver(notification_id=pk)
    return result


def bbva_acknowledge_breach(monkeypatch, *, analyst, partner_manager) -> tuple[SlaDesk, SlaClockEvent, FrozenNow]:
    """Monday 13 April 2026: the incident triaged at 10:15, BBVA's breakage notice delivered (through
    the mail backend the caller set), and BBVA's acknowledge clock swept at its due instant: the
    desk, that breach event (its mail not sent yet) and the frozen clock, still at the due instant."""
    now = freeze(monkeypatch, mx(2026, 4, 13, 10, 0))
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 15))
    incident_transition(incident=desk.refresh(), actor=analyst, to="triaging")
    deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    clock = desk.clock("acknowledge", desk.bbva)
    sla_sweep(now=clock.due_at)
    return desk, SlaClockEvent.objects.get(kind=SlaClockEvent.Kind.BREACH, clock=clock), now
