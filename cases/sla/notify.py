"""Telling people about an SLA warning or breach, and escalating a partner's breach.

`sla_event_notify` is what `notify_sla_event_task` runs for one warn/breach `SlaClockEvent`. It
locks the event and returns at once when `notified_at` is set, so a task delivered twice, or
queued again by the sweep, mails once. The incident's owner and every active lead get a mail in
their own language, with the due time in their own time zone (their profile). Each mail's
Message-ID is derived from the event and the recipient, so a resend after a crash (mail handed
over, commit lost) is the same message, which mail clients de-duplicate.

A partner clock's breach also escalates: an `sla_escalation` notice to the partner's contacts
of the next escalation level above the highest one already written to, composed and released
through the notice pipeline by PayHealth itself (`actor=None`: sent at once for SEV3/SEV4,
submitted for a lead's approval for SEV1/SEV2). An escalation its template cannot write (beyond
the sandbox's limits for this incident, say) is told in the desk's mail instead, so the breach
is still announced once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.roles import LEAD
from cases.correspondence.compose import notice_compose
from cases.correspondence.context import moment
from cases.correspondence.dispatch import notice_release
from cases.correspondence.email import message_id, send_email, subject_with_token
from cases.models import Correspondence, SlaClock, SlaClockEvent
from cases.services.impact import engagement_update
from cases.sla.durations import format_duration
from cases.sla.rules import ACTIVE
from partners.models import NoticeTemplate, PartnerContact
from payhealth.links import absolute_url

logger = logging.getLogger(__name__)
# Outbound notices that count as written to their addresses (sent, or on their way).
WRITTEN = (
    Correspondence.Status.PENDING_APPROVAL,
    Correspondence.Status.QUEUED,
    Correspondence.Status.SENDING,
    Correspondence.Status.SENT,
)


def _recipients(incident) -> list:
    users = get_user_model().objects.select_related("profile")
    people = {user.pk: user for user in users.filter(is_active=True, groups__name=LEAD)}
    if incident.owner_id and incident.owner_id not in people:
        owner = users.filter(pk=incident.owner_id, is_active=True).first()
        if owner is not None:
            people[owner.pk] = owner
    return [user for _pk, user in sorted(people.items()) if user.email]


def _preferences(user) -> tuple[str, str]:
    profile = getattr(user, "profile", None)  # RelatedObjectDoesNotExist is an AttributeError
    language = (profile.language if profile else "") or settings.LANGUAGE_CODE
    zone = (profile.timezone if profile else "") or settings.PAYHEALTH_TIME_ZONE
    return language, zone


def _due(event: SlaClockEvent, clock: SlaClock) -> datetime | None:
    if event.kind == SlaClockEvent.Kind.BREACH:
        return event.at
    raw = event.data.get("due_at")
    return datetime.fromisoformat(raw) if raw else clock.due_at


def sla_mail(*, event: SlaClockEvent, user, escalation_failed: bool = False) -> EmailMessage:
    """The warning or breach mail for one person, in their language and time zone."""
    clock = event.clock
    incident = clock.incident
    language, zone = _preferences(user)
    due = _due(event, clock)
    with translation.override(language):
        target = format_duration(clock.target, business=not clock.calendar.is_24x7)
        if not clock.calendar.is_24x7:
            target = _("%(duration)s of business hours") % {"duration": target}
        when = moment(due, zone) if due is not None else None
        context = {
            "breached": event.kind == SlaClockEvent.Kind.BREACH,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity.upper(),
            "status": str(incident.get_status_display()),
            "metric": str(clock.get_metric_display()),
            "partner": clock.engagement.partner.name if clock.engagement_id else "",
            "target": target,
            "due": f"{when['local']} ({when['zone']})" if when else "",
            "pause_reason": event.data.get("pause_reason") or "",
            "waiting_on": ", ".join(event.data.get("waiting_on") or []),
            "url": absolute_url(reverse("cases:incident_detail", kwargs={"reference": incident.reference})),
            "name": user.get_full_name() or user.get_username(),
            "escalation_failed": escalation_failed,
        }
        subject = " ".join(render_to_string("sla/email/subject.txt", context).split())
        body = render_to_string("sla/email/body.txt", context)
    return EmailMessage(
        subject=subject_with_token(subject, incident.reference),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            "Message-ID": message_id("ph", "sla", incident.reference, event.pk, user.pk),
            "Content-Language": "es-MX" if language == "es" else language,
            "X-PayHealth-Reference": incident.reference,
            "Auto-Submitted": "auto-generated",
        },
    )


@transaction.atomic
def sla_event_notify(*, event_id: int) -> str:
    """Mail one warning or breach (and escalate a partner's breach), once; "notified" or "skipped"."""
    event = (
        SlaClockEvent.objects.select_for_update(of=("self",))
        .select_related("clock__incident__owner", "clock__engagement__partner", "clock__calendar")
        .filter(pk=event_id, kind__in=[SlaClockEvent.Kind.WARN, SlaClockEvent.Kind.BREACH])
        .first()
    )
    if event is None or event.notified_at is not None:
        return "skipped"
    clock = event.clock
    # A partner clock that stopped since (their reply, say, a few seconds after the target) needs
    # no escalation; its breach is still told to the desk.
    partner_still_due = clock.family == SlaClock.Family.PARTNER and clock.state in ACTIVE
    escalation_failed = False
    if event.kind == SlaClockEvent.Kind.BREACH and partner_still_due:
        try:
            sla_escalate(clock=clock)
        except ValidationError as error:  # its template cannot write it: the mail says so, once
            escalation_failed = True
            logger.warning(
                "SLA breach on %s: no escalation to %s: %s",
                clock.incident.reference,
                clock.engagement.partner,
                " ".join(error.messages),
            )
    for user in _recipients(clock.incident):
        send_email(sla_mail(event=event, user=user, escalation_failed=escalation_failed))
    event.notified_at = timezone.now()
    event.save(update_fields=["notified_at"])
    return "notified"


def next_escalation_level(engagement) -> int | None:
    """The lowest contact level above the highest one any notice of this engagement was written to."""
    written = set()
    for addresses in Correspondence.objects.filter(
        engagement=engagement, direction=Correspondence.Direction.OUTBOUND, status__in=WRITTEN
    ).values_list("to_addresses", flat=True):
        written.update(address.lower() for address in addresses)
    contacts = PartnerContact.objects.filter(partner_id=engagement.partner_id, active=True, receives_notices=True)
    levels = list(contacts.values_list("escalation_level", "email"))
    highest = max((level for level, email in levels if email.lower() in written), default=0)
    return min((level for level, _email in levels if level > highest), default=None)


@transaction.atomic
def sla_escalate(*, clock: SlaClock) -> list[Correspondence]:
    """Escalate a partner's breached clock to its next escalation level, through the notice pipeline."""
    engagement = clock.engagement
    level = next_escalation_level(engagement)
    if level is None:
        logger.info("SLA breach on %s: %s has no higher escalation level", clock.incident.reference, engagement.partner)
        return []
    drafts = notice_compose(
        incident=clock.incident,
        actor=None,
        kind=NoticeTemplate.Kind.SLA_ESCALATION,
        partners=[engagement.partner],
        escalation_level=level,
    ).drafts
    released = [notice_release(correspondence=draft, actor=None) for draft in drafts]
    if released and engagement.escalation_level < level:
        engagement_update(engagement=engagement, actor=None, escalation_level=level)
    return released
