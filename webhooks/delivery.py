"""Delivering webhooks over HTTP, and the sweep that re-queues lost deliveries.

`webhook_deliver` is what `deliver_webhook_task` runs, in three steps like the notice delivery
(cases/correspondence/delivery.py): claim the row under a lock (`pending → delivering`, committed),
POST outside any transaction, then record the attempt and the outcome under the lock again:

- 2xx: `succeeded`; the subscription's run of failures ends;
- a transient answer (5xx, 408, 429, a timeout, a refused or reset connection): back to
  `pending` with `next_attempt_at` set by exponential backoff, and `WebhookRetry` for the task;
  after PAYHEALTH_WEBHOOK_MAX_ATTEMPTS attempts, `abandoned`;
- any other answer (3xx: redirects are not followed; 4xx): `failed`, no retry.

A failed or abandoned delivery adds one to the subscription's consecutive failures; at
PAYHEALTH_WEBHOOK_DISABLE_AFTER the subscription is disabled and its owner gets an email.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from payhealth.links import absolute_url
from payhealth.outbox import backoff, publish_on_commit
from payhealth.pan import masked
from webhooks import signing
from webhooks.models import RESPONSE_BODY_LIMIT, WebhookAttempt, WebhookDelivery, WebhookSubscription
from webhooks.selectors import forget_subscribed_event_types

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status
USER_AGENT = "PayHealth-Webhooks/1"
MAX_ERROR_LENGTH = 2000
TRANSIENT_STATUSES = {408, 429}
# A task may arrive a little before the row's next attempt (clock skew, countdown rounding).
EARLY_SLACK = timedelta(seconds=5)


# The task that runs `webhook_deliver`; services publish it by name (payhealth.outbox).
DELIVER_TASK = "webhooks.deliver_webhook_task"


class WebhookRetry(Exception):  # noqa: N818 - it is a request to retry, not an error
    """The endpoint could not take the event now; the task retries after `countdown` seconds."""

    def __init__(self, reason: str, countdown: float) -> None:
        super().__init__(reason)
        self.countdown = countdown


@dataclass
class Outcome:
    headers: dict[str, str]
    status: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in TRANSIENT_STATUSES


def webhook_deliver(*, delivery_id: int) -> str:
    """POST one pending delivery; returns "succeeded", "failed", "abandoned" or "skipped", or
    raises WebhookRetry."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return "skipped"
    delivery, url, secret = claimed
    outcome = _post(url=url, secret=secret, delivery=delivery)
    result, countdown = _record(delivery.pk, outcome)
    if result == "retry":
        raise WebhookRetry(outcome.error or f"HTTP {outcome.status}", countdown)
    return result


@transaction.atomic
def _claim(delivery_id: int) -> tuple[WebhookDelivery, str, str] | None:
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",)).select_related("subscription").filter(pk=delivery_id)
    ).first()
    if delivery is None or delivery.status != Status.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_SLACK:
        return None  # a duplicate task ahead of the retry that owns this attempt
    subscription = delivery.subscription
    if not subscription.active:
        delivery.status = Status.ABANDONED
        delivery.last_error = _("The webhook was disabled before this event could be delivered.")
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        return None
    delivery.status = Status.DELIVERING
    delivery.attempts += 1  # exact: the row is locked
    delivery.next_attempt_at = now  # while delivering: when this attempt began (read by the sweep)
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    return delivery, subscription.url, subscription.secret


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: the signed body goes to the configured URL only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def delivery_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def _read(response) -> str:
    data = response.read(RESPONSE_BODY_LIMIT + 1)
    return data[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace")


def signing_timestamp() -> int:
    """Each attempt is signed when it is sent, so a retry or replay carries a fresh timestamp."""
    return int(time.time())


def _post(*, url: str, secret: str, delivery: WebhookDelivery) -> Outcome:
    body = delivery_body(delivery)
    timestamp = signing_timestamp()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.ID_HEADER: str(delivery.event_id),
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
    }
    outcome = Outcome(headers=headers)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=settings.PAYHEALTH_WEBHOOK_TIMEOUT) as response:
            outcome.status = response.status
            outcome.body = _read(response)
    except urllib.error.HTTPError as exc:  # an answer outside 2xx (3xx included: not followed)
        outcome.status = exc.code
        try:
            outcome.body = _read(exc)
        except OSError:
            outcome.body = ""
        outcome.error = f"HTTP {exc.code} {exc.reason}"[:MAX_ERROR_LENGTH]
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timed out, bad URL
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        outcome.error = f"{type(reason).__name__}: {reason}"[:MAX_ERROR_LENGTH]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    # The receiver's words are kept for people to read, without any card number they may hold.
    outcome.body, outcome.error = masked(outcome.body), masked(outcome.error)
    return outcome


@transaction.atomic
def _record(delivery_id: int, outcome: Outcome) -> tuple[str, float]:
    delivery = WebhookDelivery.objects.select_for_update(of=("self",)).get(pk=delivery_id)
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        at=now,
        request_headers=outcome.headers,
        response_status=outcome.status,
        response_body=outcome.body,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )
    delivery.last_status_code = outcome.status
    delivery.last_error = outcome.error
    fields = ["status", "last_status_code", "last_error", "next_attempt_at"]
    if delivery.finished:  # the sweep or another run decided meanwhile; the attempt is logged
        return "skipped", 0
    if outcome.succeeded:
        delivery.status = Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.save(update_fields=[*fields, "delivered_at"])
        WebhookSubscription.objects.filter(pk=delivery.subscription_id, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
        return "succeeded", 0
    if outcome.transient and delivery.attempts < settings.PAYHEALTH_WEBHOOK_MAX_ATTEMPTS:
        countdown = backoff(
            delivery.attempts - 1,
            first=settings.PAYHEALTH_WEBHOOK_RETRY_BACKOFF,
            cap=settings.PAYHEALTH_WEBHOOK_RETRY_BACKOFF_MAX,
        )
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=countdown)
        delivery.save(update_fields=fields)
        return "retry", countdown
    delivery.status = Status.ABANDONED if outcome.transient else Status.FAILED
    delivery.next_attempt_at = None
    if outcome.transient:
        delivery.last_error = _("Gave up after %(attempts)s attempts: %(error)s") % {
            "attempts": delivery.attempts,
            "error": outcome.error or f"HTTP {outcome.status}",
        }
    delivery.save(update_fields=fields)
    _count_failure(delivery.subscription_id, delivery.last_error or f"HTTP {outcome.status}")
    return delivery.status, 0


def _count_failure(subscription_id: int, error: str) -> None:
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription_id)
    subscription.consecutive_failures = F("consecutive_failures") + 1
    subscription.save(update_fields=["consecutive_failures"])
    subscription.refresh_from_db(fields=["consecutive_failures"])
    limit = settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER
    if not subscription.active or subscription.consecutive_failures < limit:
        return
    subscription.active = False
    subscription.disabled_at = timezone.now()
    subscription.disabled_reason = (
        _("Disabled after %(count)s failed deliveries in a row. Last error: %(error)s")
        % {"count": subscription.consecutive_failures, "error": error}
    )[:500]
    subscription.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
    forget_subscribed_event_types()
    logger.warning("webhook %s disabled after %s failures", subscription.pk, subscription.consecutive_failures)
    transaction.on_commit(lambda: mail_subscription_disabled(subscription.pk))


def mail_subscription_disabled(subscription_id: int) -> bool:
    """Tell the owner, in their language, that their webhook was disabled and how to fix it."""
    from accounts.services import profile_for

    subscription = WebhookSubscription.objects.select_related("owner").get(pk=subscription_id)
    owner = subscription.owner
    if not owner.email:
        return False
    language = profile_for(user=owner).language or settings.LANGUAGE_CODE
    context = {
        "subscription": subscription,
        "owner": owner,
        "url": absolute_url(reverse("webhooks:subscription_detail", args=[subscription.pk])),
    }
    with translation.override(language):
        subject = render_to_string("webhooks/email/subscription_disabled_subject.txt", context).strip()
        body = render_to_string("webhooks/email/subscription_disabled.txt", context)
    try:
        send_mail(subject, body, None, [owner.email])
    except Exception:  # the mail server is down: the page shows the state, log the rest
        logger.exception("could not mail %s that webhook %s was disabled", owner.email, subscription.pk)
        return False
    return True


# The sweep ----------------------------------------------------------------------------------


def webhook_requeue_stuck(
    *, stuck_after: timedelta | None = None, batch_size: int | None = None, max_batches: int = 50
) -> int:
    """Re-queue deliveries whose task was lost (still `pending` STUCK_AFTER seconds past their
    next attempt: broker outage, a publish that failed) or whose worker died (`delivering`
    longer than a task may run). Batches of `batch_size`, each its own transaction, skipping
    rows another sweep holds. Returns how many were re-queued."""
    if stuck_after is None:
        stuck_after = timedelta(seconds=settings.PAYHEALTH_WEBHOOK_STUCK_AFTER)
    batch_size = batch_size or settings.PAYHEALTH_WEBHOOK_SWEEP_BATCH
    total = 0
    for _batch in range(max_batches):
        count = _requeue_batch(stuck_after=stuck_after, batch_size=batch_size)
        total += count
        if count < batch_size:
            break
    if total:
        logger.warning("re-queued %s stuck webhook deliveries", total)
    return total


@transaction.atomic
def _requeue_batch(*, stuck_after: timedelta, batch_size: int) -> int:
    now = timezone.now()
    sending_after = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    stuck = Q(status=Status.PENDING) & (Q(next_attempt_at__lt=now - stuck_after) | Q(next_attempt_at__isnull=True))
    interrupted = Q(status=Status.DELIVERING) & Q(next_attempt_at__lt=now - sending_after)
    rows = list(
        WebhookDelivery.objects.select_for_update(skip_locked=True)
        .filter(stuck | interrupted)
        .only("pk", "status", "next_attempt_at")
        .order_by("next_attempt_at", "id")[:batch_size]
    )
    if not rows:
        return 0
    WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(status=Status.PENDING, next_attempt_at=now)
    publish_on_commit(DELIVER_TASK, [row.pk for row in rows])
    return len(rows)
