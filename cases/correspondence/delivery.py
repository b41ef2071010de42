"""Delivering queued notices over SMTP, and the sweep that takes back what a fault left behind.

`correspondence_deliver` is what `deliver_correspondence_task` runs. It claims the row under a
lock (`queued → sending`, committed), talks to the SMTP server outside any transaction, then
records the outcome:

- accepted: `sent`, in a short transaction of its own (the row alone is locked), then, in a
  second one, its consequences: the timeline row, which moves the SLA clocks and emits webhooks,
  and the partner's first-notice stamp (`correspondence_record_sent`, idempotent through
  `consequences_at`). The window between the server's 250 and the commit that says so is as
  short as it can be, and no SLA clock is locked inside it;
- a transient error (connection refused, timeout, disconnect, an SMTP 4xx answer, the task's soft
  time limit): back to `queued` with `next_attempt_at` set by backoff, and
  `TransientDeliveryError`, which the task turns into a retry; on the final attempt, `failed`;
- a permanent error (an SMTP 5xx answer, anything else): `failed` with the server's answer.

An outcome the database cannot take (it went away after the server accepted the message) is kept
in the worker and recorded again with backoff (`payhealth.outbox.with_database_retries`) within
the task's time, then handed to a retry of the same task (`OutcomeNotRecorded`), which records it
without sending: a blip of the database never makes a notice go out twice.

A bulk send (and the sweep) publishes one task per PAYHEALTH_NOTICE_DELIVERY_BATCH notices:
`correspondence_deliver_batch` claims them with one UPDATE, sends them one after the other over
one SMTP connection, marks those the server accepted `sent` with one UPDATE and records their
consequences together (one INSERT of timeline rows). Each notice keeps its own outcome: one the
server refuses or cannot take now fails or goes back to the queue alone, with its own retry,
and the others are never sent again; once the server cannot be reached, the rest of the batch
goes back to the queue untried. The window between a 250 and the commit that says so is then
the rest of the batch's conversation (a few milliseconds a message): a worker that dies inside
it leaves those notices `sending`, and the sweep sends them again as the same messages, counted
in `possible_duplicates`, exactly as for a single notice.

Anything not `queued` is skipped, so a task delivered twice sends once. While a row is
`sending`, `sent_at` holds when the attempt began. The sweep takes back rows whose task was lost
(`queued` PAYHEALTH_NOTICE_STUCK_AFTER seconds past their due time) or whose worker died
(`sending` for that long, longer than a task may run), and completes the consequences of rows
marked `sent` by a worker that died before the second step. A row taken back from `sending` may
already have reached the partner: its next attempt carries the same Message-ID (see
`cases.correspondence.email`) and `possible_duplicates` counts it.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Prefetch, Q, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.email import (
    SENDABLE_ATTACHMENTS,
    build_email,
    send_email,
    sendable_attachments_query,
)
from cases.models import Attachment, CaseEvent, Correspondence, PartnerEngagement
from cases.timeline.events import NoticeFailed, NoticeQueued, NoticeSent, PartnerUpdated
from payhealth.outbox import (
    DATABASE_ERRORS,
    backoff,
    publish_in_batches,
    publish_on_commit,
    with_database_retries,
)
from payhealth.pan import masked

logger = logging.getLogger(__name__)
Status = Correspondence.Status
MAX_ERROR_LENGTH = 2000
# Columns delivery never reads: the incident's long texts and search vector, the notice's HTML.
UNREAD = ("incident__summary", "incident__root_cause", "incident__search_vector", "body_html")
# A task may arrive a little before the row's next attempt (clock skew, countdown rounding).
EARLY_SLACK = timedelta(seconds=2)
# A notice marked sent whose consequences are still missing this long after is completed by the
# sweep: its worker died between the two steps, or waits for the incident's clocks, in which case
# whichever of the two comes second finds the work done (`consequences_at`, under the row's lock).
CONSEQUENCES_GRACE = timedelta(seconds=10)


# The task that runs `correspondence_deliver`; services publish it by name (payhealth.outbox),
# up to PAYHEALTH_NOTICE_DELIVERY_BATCH notices a task (`correspondence_deliver_batch`).
DELIVER_TASK = "cases.deliver_correspondence_task"
publish_in_batches(DELIVER_TASK, lambda: settings.PAYHEALTH_NOTICE_DELIVERY_BATCH)


class TransientDeliveryError(Exception):
    """The SMTP server could not take the message now; try again after `countdown` seconds."""

    def __init__(self, reason: str, countdown: float = 0) -> None:
        super().__init__(reason)
        self.countdown = countdown


def is_transient(exc: BaseException) -> bool:
    """4xx answers and network trouble are worth retrying; 5xx answers and the rest are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _answer in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPException):  # SMTPNotSupportedError and the like
        return False
    return isinstance(exc, OSError)  # refused, reset, unreachable, timed out


def _answer(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def describe_error(exc: BaseException) -> str:
    """The server's answer as people read it, e.g. "550 5.1.1 <x@bank.test>: mailbox unavailable"."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "; ".join(f"{address}: {code} {_answer(answer)}" for address, (code, answer) in exc.recipients.items())
    elif isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_answer(exc.smtp_error)}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return masked(text)[:MAX_ERROR_LENGTH]  # a server quoting a card number back: never kept


class OutcomeNotRecorded(Exception):  # noqa: N818 - a request to record later, not an error
    """The server accepted the message but the database could not take it: the task retries the
    recording (never the sending) after `countdown` seconds."""

    def __init__(self, accepted: dict[int, dict[str, tuple[int, str]]], countdown: float) -> None:
        super().__init__("the outcome of the delivery could not be recorded")
        self.accepted = accepted  # notice id → the recipients the server refused
        self.countdown = countdown


@dataclass(frozen=True)
class MailOutcome:
    """What the SMTP server said about one message."""

    accepted: bool
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    reason: str = ""
    transient: bool = False
    unreachable: bool = False  # no answer from the server at all: the rest of a batch may wait too
    time_up: bool = False  # the task's soft time limit: the rest of a batch waits for its retry


def mail_attempt(message, connection=None) -> MailOutcome:
    """Hand one message to the SMTP server and classify its answer (never raises for the server's
    sake: a soft time limit while talking to it is transient, the message may or may not be there)."""
    try:
        refused = send_email(message, connection)
    except SoftTimeLimitExceeded as exc:
        reason = f"{type(exc).__name__}: {exc}"
        return MailOutcome(accepted=False, reason=reason, transient=True, unreachable=True, time_up=True)
    except Exception as exc:  # classified here: the server did not confirm it took the message
        unreachable = not isinstance(exc, smtplib.SMTPResponseException) and is_transient(exc)
        return MailOutcome(
            accepted=False, reason=describe_error(exc), transient=is_transient(exc), unreachable=unreachable
        )
    return MailOutcome(accepted=True, refused=refused)


def mail_attempts(rows: list[Correspondence]) -> list[MailOutcome]:
    """Each row's message over one SMTP connection (Django's `get_connection()` made once for the
    batch, its session kept open by `cases.correspondence.email`). A message the server refuses
    does not stop the others; once the server is unreachable (refused connection, timeout,
    disconnect, twice in a row: the first may be a kept session the server had closed) or the
    task's time is up, the rest are not tried and share that outcome."""
    connection = get_connection(fail_silently=False)
    outcomes: list[MailOutcome] = []
    unreachable = 0
    for row in rows:
        try:
            message = build_email(row)
        except Exception as exc:  # a row that cannot become a message fails alone, with the reason
            logger.exception("notice %s: could not build its message", row.pk)
            outcomes.append(MailOutcome(accepted=False, reason=describe_error(exc)))
            continue
        outcome = mail_attempt(message, connection)
        outcomes.append(outcome)
        unreachable = unreachable + 1 if outcome.unreachable else 0
        if unreachable >= 2 or outcome.time_up:
            outcomes += [outcome] * (len(rows) - len(outcomes))
            break
    return outcomes


def outcome_budget() -> float:
    """Seconds a task may spend recording an outcome while the database is away: within its soft limit."""
    return max(settings.CELERY_TASK_SOFT_TIME_LIMIT / 2, 1.0)


def retry_countdown(attempts: int) -> float:
    """Seconds before the next attempt of a notice or an SLA mail that made `attempts` attempts."""
    return backoff(
        attempts - 1, first=settings.PAYHEALTH_NOTICE_RETRY_BACKOFF, cap=settings.PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX
    )


@dataclass
class BatchResult:
    """What became of each notice of a batch: sent, failed, skipped (not queued, or not yet due),
    or back in the queue with the reason and the seconds before its retry is due."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    retry: dict[int, tuple[str, float]] = field(default_factory=dict)

    def summary(self) -> str:
        return f"sent {len(self.sent)}, failed {len(self.failed)}, retry {len(self.retry)}, skipped {len(self.skipped)}"


def correspondence_deliver(*, correspondence_id: int, final_attempt: bool = False) -> str:
    """Send one queued notice; returns "sent", "failed" or "skipped", or raises
    TransientDeliveryError or OutcomeNotRecorded."""
    result = correspondence_deliver_batch(correspondence_ids=[correspondence_id], final_attempt=final_attempt)
    if correspondence_id in result.retry:
        reason, countdown = result.retry[correspondence_id]
        raise TransientDeliveryError(reason, countdown)
    if result.sent:
        return "sent"
    return "failed" if result.failed else "skipped"


def correspondence_deliver_batch(*, correspondence_ids: list[int], final_attempt: bool = False) -> BatchResult:
    """Send the queued notices among `correspondence_ids` over one SMTP connection, each exactly as
    `correspondence_deliver` would: claimed together (one UPDATE), sent one by one, the accepted
    ones marked sent together (one UPDATE) and their consequences recorded together. A notice
    the server refuses, or cannot take now, fails or goes back to the queue alone (`retry` says
    when it is due); the others are never sent again. Raises OutcomeNotRecorded when the
    database could not take the accepted ones."""
    rows = _claim(correspondence_ids)
    claimed = {row.pk for row in rows}
    result = BatchResult(skipped=[pk for pk in correspondence_ids if pk not in claimed])
    if not rows:
        return result
    outcomes = mail_attempts(rows)
    accepted = {row.pk: outcome.refused for row, outcome in zip(rows, outcomes, strict=True) if outcome.accepted}
    if accepted:
        try:
            with_database_retries(lambda: _mark_sent(accepted), within=outcome_budget())
        except DATABASE_ERRORS as exc:
            raise OutcomeNotRecorded(accepted, retry_countdown(1)) from exc
        result.sent = list(accepted)
    for row, outcome in zip(rows, outcomes, strict=True):
        if outcome.accepted:
            continue
        if outcome.transient and not final_attempt:
            countdown = retry_countdown(row.attempts)
            with_database_retries(
                lambda pk=row.pk, reason=outcome.reason, wait=countdown: _release(pk, reason, wait),
                within=outcome_budget(),
            )
            logger.info("notice %s: transient error, will retry in %.0fs: %s", row.pk, countdown, outcome.reason)
            result.retry[row.pk] = (outcome.reason, countdown)
        else:
            with_database_retries(
                lambda pk=row.pk, reason=outcome.reason, gave_up=outcome.transient: _fail(pk, reason, gave_up=gave_up),
                within=outcome_budget(),
            )
            result.failed.append(row.pk)
    if accepted:
        _record_consequences_or_leave_to_sweep(list(accepted))
    return result


def correspondence_record_accepted(*, accepted: dict[int, dict[str, tuple[int, str]]]) -> str:
    """Record messages the server accepted in an earlier run of the task (its database was away)."""
    _mark_sent(accepted)
    _record_consequences_or_leave_to_sweep(list(accepted))
    return "sent"


def _record_consequences_or_leave_to_sweep(correspondence_ids: list[int]) -> None:
    # A short budget: the rows already say `sent`, and the sweep completes the rest in seconds.
    try:
        with_database_retries(lambda: correspondence_record_sent(correspondence_ids=correspondence_ids), within=2.0)
    except DATABASE_ERRORS:  # the rows say `sent`: the sweep applies the rest
        logger.warning("notices %s: sent, their consequences are left to the sweep", correspondence_ids)


@transaction.atomic
def _claim(correspondence_ids: list[int]) -> list[Correspondence]:
    """Lock the rows (in id order), take those queued and due into `sending` with one UPDATE, and
    read their incidents and the files their messages carry with one query each. The related rows
    are read by their ids, never joined: the planner, its statistics a little behind the newest
    notices, would merge-join the whole incident index into a batch of 25 (1.3 s at a million)."""
    rows = list(
        Correspondence.objects.select_for_update()
        .defer(*UNREAD)
        .filter(pk__in=correspondence_ids, direction=Correspondence.Direction.OUTBOUND)
        .order_by("pk")
    )
    now = timezone.now()
    # A row not queued was sent or claimed already; one not due yet belongs to a retry to come
    # (this is a duplicate task ahead of it).
    rows = [
        row
        for row in rows
        if row.status == Status.QUEUED and not (row.next_attempt_at and row.next_attempt_at > now + EARLY_SLACK)
    ]
    if not rows:
        return []
    Correspondence.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=Status.SENDING,
        sent_at=now,  # while sending: when this attempt began (read by the sweep)
        next_attempt_at=None,
        attempts=F("attempts") + 1,  # exact: the rows are locked
    )
    for row in rows:
        row.status, row.sent_at, row.next_attempt_at = Status.SENDING, now, None
        row.attempts += 1
    files = Prefetch("attachments", sendable_attachments_query(Attachment.objects.all()), to_attr=SENDABLE_ATTACHMENTS)
    prefetch_related_objects(rows, "incident", files)
    return rows


@transaction.atomic
def _release(correspondence_id: int, reason: str, countdown: float) -> None:
    row = Correspondence.objects.select_for_update().get(pk=correspondence_id)
    if row.status != Status.SENDING:
        return
    now = timezone.now()
    row.status = Status.QUEUED
    row.queued_at = now
    row.next_attempt_at = now + timedelta(seconds=countdown)
    row.sent_at = None
    row.last_error = reason
    row.save(update_fields=["status", "queued_at", "next_attempt_at", "sent_at", "last_error"])


def _locked_for_outcome(correspondence_ids: list[int]) -> list[Correspondence]:
    rows = Correspondence.objects.select_for_update().defer(*UNREAD, "body_text")
    rows = list(rows.filter(pk__in=correspondence_ids).order_by("pk"))
    prefetch_related_objects(rows, "incident", "engagement__partner", "merchant", "sent_by")
    return rows


def _partner_name(row: Correspondence) -> str:
    return row.addressee_name


@transaction.atomic
def _fail(correspondence_id: int, reason: str, *, gave_up: bool) -> None:
    [row] = _locked_for_outcome([correspondence_id])
    if row.status != Status.SENDING:
        return
    if gave_up:
        reason = (_("Gave up after %(attempts)s attempts: %(error)s") % {"attempts": row.attempts, "error": reason})[
            :MAX_ERROR_LENGTH
        ]
    row.status = Status.FAILED
    row.sent_at = None
    row.last_error = reason
    row.save(update_fields=["status", "sent_at", "last_error"])
    if row.incident_id is None:
        return
    failed = NoticeFailed(correspondence=row.pk, partner=_partner_name(row), error=reason, attempts=row.attempts)
    timeline.record(failed, incident=row.incident, actor=row.sent_by)


def _refused_text(refused: dict[str, tuple[int, str]]) -> str:
    return masked("; ".join(f"{address}: {code} {answer}" for address, (code, answer) in refused.items()))


@transaction.atomic
def _mark_sent(accepted: dict[int, dict[str, tuple[int, str]]]) -> None:
    """The server accepted these messages (id → the recipients it refused): whatever the rows say
    now, they were sent. One UPDATE for those every recipient took, locking the rows alone, for
    as short as can be; the consequences follow in `correspondence_record_sent`. A row already
    `sent` keeps its time."""
    now = timezone.now()
    unsent = Correspondence.objects.exclude(status=Status.SENT)
    fields = {"status": Status.SENT, "sent_at": now, "next_attempt_at": None}
    everyone = sorted(pk for pk, refused in accepted.items() if not refused)
    if everyone:
        unsent.filter(pk__in=everyone).update(**fields, refused_addresses=[], last_error="")
    for pk, refused in sorted(accepted.items()):
        if refused:
            unsent.filter(pk=pk).update(**fields, refused_addresses=list(refused), last_error=_refused_text(refused))


@transaction.atomic
def correspondence_record_sent(*, correspondence_id: int | None = None, correspondence_ids: list[int] = ()) -> int:
    """The consequences of sent notices, once each: their timeline rows (the SLA clocks and
    webhooks follow them, written with one INSERT) and the partners' first-notice stamps. Returns
    how many notices had something (left) to do."""
    ids = [correspondence_id] if correspondence_id is not None else list(correspondence_ids)
    rows = [row for row in _locked_for_outcome(ids) if row.status == Status.SENT and row.consequences_at is None]
    if not rows:
        return 0
    Correspondence.objects.filter(pk__in=[row.pk for row in rows]).update(consequences_at=timezone.now())
    events = []
    for row in rows:
        if row.incident_id is None:
            continue
        sent = NoticeSent(
            correspondence=row.pk,
            partner=_partner_name(row),
            language=row.language,
            to=[address for address in row.to_addresses if address not in row.refused_addresses],
            message_id=row.message_id,
            attempts=row.attempts,
            refused=row.last_error,
        )
        event = timeline.event(sent, incident=row.incident, actor=row.sent_by, at=row.sent_at)
        event.refuse_card_numbers()  # what `save()` checks; the texts were masked when stored
        events.append(event)
    timeline.published(CaseEvent.objects.bulk_create(events))
    _stamp_first_notices([row for row in rows if row.incident_id is not None])
    return len(rows)


def _stamp_first_notices(rows: list[Correspondence]) -> None:
    """The first notice sent to a partner on an incident marks its engagement notified (when it was
    sent, and its status): the engagements locked in id order and written together, one timeline
    row each, handed to the listeners together. A notice to an engagement notified before changes
    nothing, and is known as such without taking the lock (the common case)."""
    first: dict[int, Correspondence] = {}
    for row in rows:  # an internal update to a merchant's account team has no partner to stamp
        seen = row.engagement
        if row.engagement_id is None or row.engagement_id in first:
            continue
        if seen.first_notified_at is None or seen.partner_status == PartnerEngagement.PartnerStatus.NOT_NOTIFIED:
            first[row.engagement_id] = row
    if not first:
        return
    locked = (
        PartnerEngagement.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(pk__in=first)
        .order_by("pk")
    )
    stamped, events = [], []
    for engagement in locked:
        row = first[engagement.pk]
        changes = {}
        if engagement.first_notified_at is None:
            engagement.first_notified_at = row.sent_at
            changes["first_notified_at"] = {"from": None, "to": row.sent_at}
        if engagement.partner_status == PartnerEngagement.PartnerStatus.NOT_NOTIFIED:
            engagement.partner_status = PartnerEngagement.PartnerStatus.NOTIFIED
            changes["partner_status"] = {
                "from": PartnerEngagement.PartnerStatus.NOT_NOTIFIED,
                "to": engagement.partner_status,
            }
        if not changes:
            continue
        engagement.updated_at = timezone.now()
        stamped.append(engagement)
        partner = engagement.partner
        updated = PartnerUpdated(partner=partner.name, code=partner.code, engagement=engagement.pk, changes=changes)
        event = timeline.event(updated, incident=row.incident, actor=None, at=row.sent_at)
        event.refuse_card_numbers()  # what `save()` checks
        events.append(event)
    if stamped:
        PartnerEngagement.objects.bulk_update(stamped, ["first_notified_at", "partner_status", "updated_at"])
        timeline.published(CaseEvent.objects.bulk_create(events))


def stuck_threshold() -> timedelta:
    """How long a row may sit in `queued` past its due time, or in `sending` (longer than a task
    may run: PAYHEALTH_NOTICE_STUCK_AFTER > PAYHEALTH_TASK_TIME_LIMIT, checked at start-up)."""
    return timedelta(seconds=settings.PAYHEALTH_NOTICE_STUCK_AFTER)


def correspondence_requeue_stuck(
    *,
    stuck_after: timedelta | None = None,
    sending_after: timedelta | None = None,
    reconnected_at: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int = 50,
) -> int:
    """Re-queue notices stuck in `queued` (their task was lost: broker outage, a publish that
    failed) or in `sending` longer than a task may run (its worker died), and complete the
    consequences of notices a worker marked sent before it died. After the broker came back
    (`reconnected_at`: a worker connected then), every due notice queued before that moment is
    published again at once: its task may have been lost with the broker (a duplicate task is
    skipped). Works in batches of `batch_size` rows, each its own transaction, skipping rows
    another sweep holds. Returns how many rows were re-queued."""
    stuck_after = stuck_threshold() if stuck_after is None else stuck_after
    sending_after = stuck_threshold() if sending_after is None else sending_after
    batch_size = batch_size or settings.PAYHEALTH_NOTICE_SWEEP_BATCH
    total = 0
    for _batch in range(max_batches):
        count = _requeue_batch(
            stuck_after=stuck_after, sending_after=sending_after, reconnected_at=reconnected_at, batch_size=batch_size
        )
        total += count
        if count < batch_size:
            break
    if total:
        logger.warning("re-queued %s stuck notices", total)
    _complete_sent(older_than=min(CONSEQUENCES_GRACE, sending_after), batch_size=batch_size, max_batches=max_batches)
    return total


@transaction.atomic
def _requeue_batch(
    *, stuck_after: timedelta, sending_after: timedelta, reconnected_at: datetime | None, batch_size: int
) -> int:
    now = timezone.now()
    due = Coalesce("next_attempt_at", "queued_at")
    stuck = Q(status=Status.QUEUED) & (Q(due_at__lt=now - stuck_after) | Q(queued_at__isnull=True))
    if reconnected_at is not None:
        stuck |= Q(status=Status.QUEUED, queued_at__lt=reconnected_at, due_at__lte=now)
    interrupted = Q(status=Status.SENDING) & (Q(sent_at__lt=now - sending_after) | Q(sent_at__isnull=True))
    rows = list(
        Correspondence.objects.select_for_update(of=("self",), skip_locked=True)
        .alias(due_at=due)
        .filter(stuck | interrupted, direction=Correspondence.Direction.OUTBOUND)
        .select_related("incident", "engagement__partner", "merchant")
        .defer(*UNREAD, "body_text")
        .order_by("queued_at", "id")[:batch_size]
    )
    for row in rows:
        interrupted_row = row.status == Status.SENDING
        reason = "interrupted_while_sending" if interrupted_row else "stuck_in_queue"
        row.status = Status.QUEUED
        row.queued_at = now
        row.next_attempt_at = None
        row.sent_at = None
        if interrupted_row:  # the server may have taken it before the worker died
            row.possible_duplicates += 1
        row.save(update_fields=["status", "queued_at", "next_attempt_at", "sent_at", "possible_duplicates"])
        if row.incident_id is None or not interrupted_row and reconnected_at is not None:
            continue  # a task published again after an outage is not news on the timeline
        queued = NoticeQueued(
            correspondence=row.pk, partner=_partner_name(row), language=row.language, retry=False, requeued=reason
        )
        timeline.record(queued, incident=row.incident, actor=None, at=now)
    publish_on_commit(DELIVER_TASK, [row.pk for row in rows])
    return len(rows)


def _complete_sent(*, older_than: timedelta, batch_size: int, max_batches: int) -> int:
    """Apply the consequences a dead worker did not (each notice its own transaction); no stuck
    threshold is needed here: nothing is sent, and applying them twice is impossible."""
    done = 0
    for _batch in range(max_batches):
        ids = list(
            Correspondence.objects.filter(
                status=Status.SENT, consequences_at__isnull=True, sent_at__lt=timezone.now() - older_than
            )
            .order_by("sent_at")
            .values_list("pk", flat=True)[:batch_size]
        )
        before = done
        for pk in ids:
            try:
                done += correspondence_record_sent(correspondence_id=pk)
            except Exception:  # one notice's failure must not hold back the others; logged, tried again
                logger.exception("notice %s: could not record the consequences of its sending", pk)
        if len(ids) < batch_size or done == before:
            break
    if done:
        logger.warning("recorded the consequences of %s sent notices", done)
    return done
