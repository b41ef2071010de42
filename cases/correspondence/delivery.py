"""Delivering queued notices over SMTP, and the sweep that re-queues stuck ones.

`correspondence_deliver` is what `deliver_correspondence_task` runs. It claims the row under a
lock (`queued → sending`, committed), talks to the SMTP server outside any transaction, then
records the outcome under the lock again:

- accepted: `sent`, on the timeline; the partner's first notice stamps the engagement;
- a transient error (connection refused, timeout, disconnect, an SMTP 4xx answer): back to
  `queued` and `TransientDeliveryError`, which the task turns into a retry with backoff; on the
  final attempt, `failed`;
- a permanent error (an SMTP 5xx answer, anything else): `failed` with the server's answer.

Anything not `queued` is skipped, so a task delivered twice sends once. While a row is
`sending`, `sent_at` holds when the attempt began: the sweep uses it to find attempts whose
worker died (older than the task time limit) and re-queues them. Such a row may already have
reached the partner; the new attempt carries the same Message-ID (see `cases.correspondence.email`).
"""

from __future__ import annotations

import logging
import smtplib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.email import build_email, send_email
from cases.models import Correspondence, PartnerEngagement
from cases.timeline.events import NoticeFailed, NoticeQueued, NoticeSent, PartnerUpdated
from payhealth.outbox import publish_on_commit
from payhealth.pan import masked

logger = logging.getLogger(__name__)
Status = Correspondence.Status
MAX_ERROR_LENGTH = 2000
# Columns delivery never reads: the incident's long texts and search vector, the notice's HTML.
UNREAD = ("incident__summary", "incident__root_cause", "incident__search_vector", "body_html")


# The task that runs `correspondence_deliver`; services publish it by name (payhealth.outbox).
DELIVER_TASK = "cases.deliver_correspondence_task"


class TransientDeliveryError(Exception):
    """The SMTP server could not take the message now; try again later."""


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


def correspondence_deliver(*, correspondence_id: int, final_attempt: bool = False) -> str:
    """Send one queued notice; returns "sent", "failed" or "skipped", or raises TransientDeliveryError."""
    row = _claim(correspondence_id)
    if row is None:
        return "skipped"
    try:
        refused = send_email(build_email(row))
    except Exception as exc:  # classified below: the server did not confirm it took the message
        reason = describe_error(exc)
        transient = is_transient(exc)
        if transient and not final_attempt:
            _release(row.pk, reason)
            logger.info("notice %s: transient error, will retry: %s", row.pk, reason)
            raise TransientDeliveryError(reason) from exc
        _fail(row.pk, reason, gave_up=transient)
        return "failed"
    _mark_sent(row.pk, refused)
    return "sent"


@transaction.atomic
def _claim(correspondence_id: int) -> Correspondence | None:
    row = (
        Correspondence.objects.select_for_update(of=("self",))
        .select_related("incident")
        .defer(*UNREAD)
        .filter(pk=correspondence_id, direction=Correspondence.Direction.OUTBOUND)
        .first()
    )
    if row is None or row.status != Status.QUEUED:
        return None
    row.status = Status.SENDING
    row.sent_at = timezone.now()  # while sending: when this attempt began (read by the sweep)
    row.attempts += 1  # exact: the row is locked
    row.save(update_fields=["status", "sent_at", "attempts"])
    return row


@transaction.atomic
def _release(correspondence_id: int, reason: str) -> None:
    row = Correspondence.objects.select_for_update().get(pk=correspondence_id)
    if row.status != Status.SENDING:
        return
    row.status = Status.QUEUED
    row.queued_at = timezone.now()
    row.sent_at = None
    row.last_error = reason
    row.save(update_fields=["status", "queued_at", "sent_at", "last_error"])


def _locked_for_outcome(correspondence_id: int) -> Correspondence:
    rows = Correspondence.objects.select_for_update(of=("self",))
    rows = rows.select_related("incident", "engagement__partner", "sent_by").defer(*UNREAD, "body_text")
    return rows.get(pk=correspondence_id)


def _partner_name(row: Correspondence) -> str:
    return row.engagement.partner.name if row.engagement_id else ""


@transaction.atomic
def _fail(correspondence_id: int, reason: str, *, gave_up: bool) -> None:
    row = _locked_for_outcome(correspondence_id)
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


@transaction.atomic
def _mark_sent(correspondence_id: int, refused: dict[str, tuple[int, str]]) -> None:
    """The server accepted the message: whatever the row says now, it was sent."""
    row = _locked_for_outcome(correspondence_id)
    if row.status == Status.SENT:
        return
    now = timezone.now()
    row.status = Status.SENT
    row.sent_at = now
    row.last_error = masked("; ".join(f"{address}: {code} {answer}" for address, (code, answer) in refused.items()))
    row.save(update_fields=["status", "sent_at", "last_error"])
    if row.incident_id is not None:
        sent = NoticeSent(
            correspondence=row.pk,
            partner=_partner_name(row),
            language=row.language,
            to=[address for address in row.to_addresses if address not in refused],
            message_id=row.message_id,
            attempts=row.attempts,
            refused=row.last_error,
        )
        timeline.record(sent, incident=row.incident, actor=row.sent_by, at=now)
        _stamp_first_notice(row, now)


def _stamp_first_notice(row: Correspondence, now) -> None:
    seen = row.engagement
    if seen.first_notified_at is not None and seen.partner_status != PartnerEngagement.PartnerStatus.NOT_NOTIFIED:
        return  # notified before: nothing to stamp (the common case, without taking the lock)
    engagement = PartnerEngagement.objects.select_for_update().get(pk=row.engagement_id)
    changes = {}
    if engagement.first_notified_at is None:
        engagement.first_notified_at = now
        changes["first_notified_at"] = {"from": None, "to": now}
    if engagement.partner_status == PartnerEngagement.PartnerStatus.NOT_NOTIFIED:
        engagement.partner_status = PartnerEngagement.PartnerStatus.NOTIFIED
        changes["partner_status"] = {
            "from": PartnerEngagement.PartnerStatus.NOT_NOTIFIED,
            "to": engagement.partner_status,
        }
    if not changes:
        return
    engagement.save(update_fields=[*changes, "updated_at"])
    partner = row.engagement.partner
    updated = PartnerUpdated(partner=partner.name, code=partner.code, engagement=engagement.pk, changes=changes)
    timeline.record(updated, incident=row.incident, actor=None, at=now)


def stuck_thresholds() -> tuple[timedelta, timedelta]:
    """How long a row may sit in `queued`, and in `sending` (the task's hard limit plus a minute)."""
    return (
        timedelta(seconds=settings.PAYHEALTH_NOTICE_STUCK_AFTER),
        timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60),
    )


def correspondence_requeue_stuck(
    *,
    stuck_after: timedelta | None = None,
    sending_after: timedelta | None = None,
    batch_size: int | None = None,
    max_batches: int = 50,
) -> int:
    """Re-queue notices stuck in `queued` (their task was lost: broker outage, a publish that
    failed) or in `sending` longer than a task may run (its worker died). Works in batches of
    `batch_size` rows, each its own transaction, skipping rows another sweep holds. Returns
    how many rows were re-queued."""
    default_queued, default_sending = stuck_thresholds()
    stuck_after = default_queued if stuck_after is None else stuck_after
    sending_after = default_sending if sending_after is None else sending_after
    batch_size = batch_size or settings.PAYHEALTH_NOTICE_SWEEP_BATCH
    total = 0
    for _batch in range(max_batches):
        count = _requeue_batch(stuck_after=stuck_after, sending_after=sending_after, batch_size=batch_size)
        total += count
        if count < batch_size:
            break
    if total:
        logger.warning("re-queued %s stuck notices", total)
    return total


@transaction.atomic
def _requeue_batch(*, stuck_after: timedelta, sending_after: timedelta, batch_size: int) -> int:
    now = timezone.now()
    stuck = Q(status=Status.QUEUED) & (Q(queued_at__lt=now - stuck_after) | Q(queued_at__isnull=True))
    interrupted = Q(status=Status.SENDING) & (Q(sent_at__lt=now - sending_after) | Q(sent_at__isnull=True))
    rows = list(
        Correspondence.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(stuck | interrupted, direction=Correspondence.Direction.OUTBOUND)
        .select_related("incident", "engagement__partner")
        .order_by("queued_at", "id")[:batch_size]
    )
    for row in rows:
        reason = "interrupted_while_sending" if row.status == Status.SENDING else "stuck_in_queue"
        row.status = Status.QUEUED
        row.queued_at = now
        row.sent_at = None
        row.save(update_fields=["status", "queued_at", "sent_at"])
        if row.incident_id is None:
            continue
        queued = NoticeQueued(
            correspondence=row.pk, partner=_partner_name(row), language=row.language, retry=False, requeued=reason
        )
        timeline.record(queued, incident=row.incident, actor=None, at=now)
    publish_on_commit(DELIVER_TASK, [row.pk for row in rows])
    return len(rows)
