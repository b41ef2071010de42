"""Telling people about an SLA warning or breach, and escalating a partner's breach.

`sla_event_notify` is what `notify_sla_event_task` runs for one warn/breach `SlaClockEvent`. It
locks the event and returns at once when `notified_at` is set, so a task delivered twice, or
queued again by the sweep, does its work once. In one transaction it escalates a partner's
breach and records one `SlaNotification` per person to tell (the incident's owner and every
active lead), then marks the event notified; no mail leaves inside that transaction.

Each person's mail is then its own delivery (`sla_mail_deliver`, run by `deliver_sla_mail_task`),
in their language with the due time in their time zone, with the notice pipeline's policy: claimed
under a lock, sent outside any transaction, a transient refusal (4xx, the server unreachable)
retried with backoff up to PAYHEALTH_NOTICE_MAX_RETRIES times, a permanent one (5xx) recorded as
failed with the server's answer and shown with the event. So one refused recipient never blocks
the others, never rolls the escalation back, and never makes anybody's mail repeat. Each mail's
Message-ID is derived from the event and the recipient, so a resend after a lost outcome (mail
handed over, commit lost) is the same message, which mail clients de-duplicate; it is counted in
`possible_duplicates`.

A partner clock's breach also escalates: an `sla_escalation` notice to the partner's contacts
of the next escalation level above the highest one already written to, composed and released
through the notice pipeline by PayHealth itself (`actor=None`: sent at once for SEV3/SEV4,
submitted for a lead's approval for SEV1/SEV2). An escalation its template cannot write (beyond
the sandbox's limits for this incident, say) is told in the desk's mail instead, so the breach
is still announced once. Partners read an escalation with the incident's partner-facing title and
summary, as any notice: a draft whose language lacks them is not released but stays a draft on
the incident (a person fills the text in and sends it), the engagement's escalation level is not
raised for it, the timeline records it and the desk's mail says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.roles import LEAD
from cases import timeline
from cases.correspondence.compose import notice_compose
from cases.correspondence.context import moment
from cases.correspondence.delivery import (
    EARLY_SLACK,
    MAX_ERROR_LENGTH,
    OutcomeNotRecorded,
    TransientDeliveryError,
    mail_attempt,
    outcome_budget,
    retry_countdown,
    stuck_threshold,
)
from cases.correspondence.dispatch import notice_release, partner_text_missing
from cases.correspondence.email import message_id, subject_with_token
from cases.correspondence.followup import next_notice_kinds
from cases.models import Correspondence, SlaClock, SlaClockEvent, SlaNotification
from cases.services.impact import engagement_update
from cases.sla.durations import format_duration
from cases.sla.rules import ACTIVE
from cases.timeline.events import SlaEscalationWaiting
from partners.models import NoticeTemplate, Partner, PartnerContact
from payhealth.i18n import language_name
from payhealth.links import absolute_url
from payhealth.outbox import DATABASE_ERRORS, publish_on_commit, with_database_retries

logger = logging.getLogger(__name__)
# The task that sends one person's mail (`sla_mail_deliver`), published by name.
SLA_MAIL_TASK = "cases.deliver_sla_mail_task"
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


def sla_mail(
    *, event: SlaClockEvent, user, escalation_failed: bool = False, escalation_waiting: Sequence[str] = ()
) -> EmailMessage:
    """The warning or breach mail for one person, in their language and time zone.
    `escalation_waiting`: the languages whose escalation stays a draft for the partner text."""
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
            "waiting_language": ", ".join(language_name(code) for code in escalation_waiting),
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
            "X-PayHealth-Kind": "sla_breach" if event.kind == SlaClockEvent.Kind.BREACH else "sla_warning",
            "Auto-Submitted": "auto-generated",
        },
    )


@transaction.atomic
def sla_event_notify(*, event_id: int) -> str:
    """Escalate a partner's breach and queue one mail per person, once; "notified" or "skipped"."""
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
    waiting: list[str] = []
    if event.kind == SlaClockEvent.Kind.BREACH and partner_still_due:
        try:
            with transaction.atomic():  # a savepoint: a failed escalation leaves nothing half-written
                drafts = sla_escalate(clock=clock)
            waiting = sorted({draft.language for draft in drafts if draft.status == Correspondence.Status.DRAFT})
        except DatabaseError:
            raise  # the database is away: the whole event is tried again (task retry, then the sweep)
        except ValidationError as error:  # its template cannot write it: the mail says so, once
            escalation_failed = True
            logger.warning(
                "SLA breach on %s: no escalation to %s: %s",
                clock.incident.reference,
                clock.engagement.partner,
                " ".join(error.messages),
            )
        except Exception:  # noqa: BLE001 - any other failure would fail again on every retry: tell the desk, once
            escalation_failed = True
            logger.exception(
                "SLA breach on %s: the escalation to %s failed", clock.incident.reference, clock.engagement.partner
            )
    if event.kind == SlaClockEvent.Kind.WARN and clock.metric == SlaClock.Metric.UPDATE and clock.state in ACTIVE:
        try:
            with transaction.atomic():
                sla_draft_update(clock=clock)
        except DatabaseError:
            raise
        except ValidationError as error:  # no template: the warning mail still tells the desk
            logger.warning("SLA warning on %s: no update drafted: %s", clock.incident.reference, error.messages)
    rows = [
        SlaNotification(
            event=event,
            recipient=user,
            address=user.email,
            escalation_failed=escalation_failed,
            escalation_waiting=waiting,
        )
        for user in _recipients(clock.incident)
    ]
    SlaNotification.objects.bulk_create(rows, ignore_conflicts=True)
    event.notified_at = timezone.now()
    event.save(update_fields=["notified_at"])
    queued = SlaNotification.objects.filter(event=event, status=SlaNotification.Status.PENDING)
    publish_on_commit(SLA_MAIL_TASK, list(queued.order_by("pk").values_list("pk", flat=True)))
    return "notified"


# --- one person's mail ----------------------------------------------------------------------------


def sla_mail_deliver(*, notification_id: int, final_attempt: bool = False) -> str:
    """Send one person's warning or breach mail; "sent", "failed" or "skipped", or raises
    TransientDeliveryError or OutcomeNotRecorded (see `cases.correspondence.delivery`)."""
    row = _claim(notification_id)
    if row is None:
        return "skipped"
    if row.recipient is None or not row.recipient.is_active:
        with_database_retries(
            lambda: _mail_failed(row.pk, _("The recipient was removed or deactivated before the mail was sent.")),
            within=outcome_budget(),
        )
        return "failed"
    message = sla_mail(
        event=row.event,
        user=row.recipient,
        escalation_failed=row.escalation_failed,
        escalation_waiting=row.escalation_waiting,
    )
    outcome = mail_attempt(message)
    if outcome.accepted:
        try:
            with_database_retries(lambda: _mail_sent(row.pk), within=outcome_budget())
        except DATABASE_ERRORS as exc:
            raise OutcomeNotRecorded({}, retry_countdown(1)) from exc
        return "sent"
    if outcome.transient and not final_attempt and row.attempts <= settings.PAYHEALTH_NOTICE_MAX_RETRIES:
        countdown = retry_countdown(row.attempts)
        with_database_retries(lambda: _mail_release(row.pk, outcome.reason, countdown), within=outcome_budget())
        raise TransientDeliveryError(outcome.reason, countdown)
    reason = outcome.reason
    if outcome.transient:
        reason = _("Gave up after %(attempts)s attempts: %(error)s") % {"attempts": row.attempts, "error": reason}
    with_database_retries(lambda: _mail_failed(row.pk, reason), within=outcome_budget())
    logger.warning("SLA mail %s to %s failed: %s", row.pk, row.address, reason)
    return "failed"


def sla_mail_record_accepted(*, notification_id: int) -> str:
    """Record a mail the server accepted in an earlier run of the task (its database was away)."""
    _mail_sent(notification_id)
    return "sent"


def _locked(notification_id: int) -> SlaNotification | None:
    return SlaNotification.objects.select_for_update(of=("self",)).filter(pk=notification_id).first()


@transaction.atomic
def _claim(notification_id: int) -> SlaNotification | None:
    row = (
        SlaNotification.objects.select_for_update(of=("self",))
        .select_related(
            "recipient__profile",
            "event__clock__incident__owner",
            "event__clock__engagement__partner",
            "event__clock__calendar",
        )
        .filter(pk=notification_id)
        .first()
    )
    if row is None or row.status != SlaNotification.Status.PENDING:
        return None
    now = timezone.now()
    if row.next_attempt_at and row.next_attempt_at > now + EARLY_SLACK:
        return None  # a duplicate task ahead of the retry that owns this attempt
    row.status = SlaNotification.Status.SENDING
    row.sent_at = now  # while sending: when this attempt began (read by the sweep)
    row.next_attempt_at = None
    row.attempts += 1  # exact: the row is locked
    row.save(update_fields=["status", "sent_at", "next_attempt_at", "attempts"])
    return row


@transaction.atomic
def _mail_sent(notification_id: int) -> None:
    """The server accepted the mail: whatever the row says now, it was sent."""
    row = _locked(notification_id)
    if row is None or row.status == SlaNotification.Status.SENT:
        return
    row.status = SlaNotification.Status.SENT
    row.sent_at = timezone.now()
    row.next_attempt_at = None
    row.last_error = ""
    row.save(update_fields=["status", "sent_at", "next_attempt_at", "last_error"])


@transaction.atomic
def _mail_release(notification_id: int, reason: str, countdown: float) -> None:
    row = _locked(notification_id)
    if row is None or row.status != SlaNotification.Status.SENDING:
        return
    row.status = SlaNotification.Status.PENDING
    row.sent_at = None
    row.next_attempt_at = timezone.now() + timedelta(seconds=countdown)
    row.last_error = reason
    row.save(update_fields=["status", "sent_at", "next_attempt_at", "last_error"])


@transaction.atomic
def _mail_failed(notification_id: int, reason: str) -> None:
    row = _locked(notification_id)
    if row is None or row.status not in (SlaNotification.Status.SENDING, SlaNotification.Status.PENDING):
        return
    row.status = SlaNotification.Status.FAILED
    row.sent_at = None
    row.next_attempt_at = None
    row.last_error = reason[:MAX_ERROR_LENGTH]
    row.save(update_fields=["status", "sent_at", "next_attempt_at", "last_error"])


def sla_mail_requeue_stuck(*, reconnected_at: datetime | None = None, stuck_after: timedelta | None = None) -> int:
    """Publish again the mails whose task was lost (`pending` past their due time) or whose worker
    died (`sending` longer than a task may run; the mail may have gone: counted as a possible
    duplicate). After the broker came back (`reconnected_at`), every due pending mail created
    before then is published at once. Returns how many were published."""
    stuck_after = stuck_threshold() if stuck_after is None else stuck_after
    total = 0
    for _batch in range(50):
        count = _requeue_mail_batch(stuck_after=stuck_after, reconnected_at=reconnected_at)
        total += count
        if count < settings.PAYHEALTH_NOTICE_SWEEP_BATCH:
            break
    if total:
        logger.warning("re-queued %s stuck SLA mails", total)
    return total


@transaction.atomic
def _requeue_mail_batch(*, stuck_after: timedelta, reconnected_at: datetime | None) -> int:
    now = timezone.now()
    Status = SlaNotification.Status
    due = Coalesce("next_attempt_at", "created_at")
    stuck = Q(status=Status.PENDING, due_at__lt=now - stuck_after)
    if reconnected_at is not None:
        stuck |= Q(status=Status.PENDING, created_at__lt=reconnected_at, due_at__lte=now)
    interrupted = Q(status=Status.SENDING) & (Q(sent_at__lt=now - stuck_after) | Q(sent_at__isnull=True))
    rows = list(
        SlaNotification.objects.select_for_update(skip_locked=True)
        .alias(due_at=due)
        .filter(stuck | interrupted)
        .only("pk", "status", "possible_duplicates")
        .order_by("pk")[: settings.PAYHEALTH_NOTICE_SWEEP_BATCH]
    )
    for row in rows:
        if row.status == Status.SENDING:
            row.possible_duplicates += 1
        row.status = Status.PENDING
        row.sent_at = None
        row.next_attempt_at = None
        row.save(update_fields=["status", "sent_at", "next_attempt_at", "possible_duplicates"])
    publish_on_commit(SLA_MAIL_TASK, [row.pk for row in rows])
    return len(rows)


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
def sla_draft_update(*, clock: SlaClock) -> list[Correspondence]:
    """Our update cadence is about to be missed: draft the update for review (by PayHealth itself) to
    every partner whose thread is due an update, once per warning (the caller's event lock). The
    drafts go through the usual review, approval and sending; nothing is sent here."""
    incident = clock.incident
    partners = [
        pk for pk, suggestion in next_notice_kinds(incident).items() if suggestion.kind == NoticeTemplate.Kind.UPDATE
    ]
    if not partners:
        return []
    chosen = list(Partner.objects.filter(pk__in=partners).order_by("name"))
    return notice_compose(incident=incident, actor=None, kind=NoticeTemplate.Kind.UPDATE, partners=chosen).drafts


@transaction.atomic
def sla_escalate(*, clock: SlaClock) -> list[Correspondence]:
    """Escalate a partner's breached clock to its next escalation level, through the notice pipeline.

    Each draft whose language has the incident's partner-facing title and summary is released; the
    others stay drafts on the incident, recorded on its timeline, until a person fills the text in
    and sends them; while one waits, a later breach of the partner composes no other. The
    engagement's level is raised only for a released escalation. Returns every draft composed:
    released (queued or pending approval) or still a draft (or those already waiting)."""
    engagement = clock.engagement
    held = list(
        Correspondence.objects.filter(
            engagement=engagement,
            kind=NoticeTemplate.Kind.SLA_ESCALATION,
            status=Correspondence.Status.DRAFT,
            created_by__isnull=True,
        ).order_by("pk")
    )
    if held:  # an escalation of an earlier breach still waits for a person: not another one
        return held
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
    rows, released = [], False
    for draft in drafts:
        if partner_text_missing(draft.incident, draft.language):
            waiting = SlaEscalationWaiting(
                correspondence=draft.pk, partner=engagement.partner.name, language=draft.language
            )
            timeline.record(waiting, incident=draft.incident, actor=None)
            rows.append(draft)
        else:
            rows.append(notice_release(correspondence=draft, actor=None))
            released = True
    if released and engagement.escalation_level < level:
        engagement_update(engagement=engagement, actor=None, escalation_level=level)
    return rows
