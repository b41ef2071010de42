"""Delivering webhooks over HTTP, and the sweep that re-queues lost deliveries.

`webhook_deliver` is what `deliver_webhook_task` runs, in three steps like the notice delivery
(cases/correspondence/delivery.py): claim the row under its subscription's lock (`pending →
delivering`, committed), POST outside any transaction, then record the attempt and the outcome
under the locks again:

- 2xx: `succeeded`; the subscription's run of failures ends;
- a transient answer (5xx, 408, 429, a timeout, a refused or reset connection, a name that does
  not resolve): back to `pending` with `next_attempt_at` set by exponential backoff, and
  `WebhookRetry` for the task; after PAYHEALTH_WEBHOOK_MAX_ATTEMPTS attempts, `abandoned`;
- any other answer (3xx: redirects are not followed; 4xx), or a target refused before connecting
  (webhooks/targets.py: the host resolves to an internal address now): `failed`, no retry.

A failed or abandoned delivery adds one to the subscription's consecutive failures; at
PAYHEALTH_WEBHOOK_DISABLE_AFTER the subscription is disabled and its owner gets an email. No
attempt is sent past that point: see `_claim`.
"""

from __future__ import annotations

import codecs
import http.client
import json
import logging
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from payhealth.links import absolute_url
from payhealth.outbox import DATABASE_ERRORS, backoff, publish_on_commit, with_database_retries
from payhealth.pan import masked
from webhooks import signing
from webhooks.models import RESPONSE_BODY_LIMIT, WebhookAttempt, WebhookDelivery, WebhookSubscription
from webhooks.selectors import forget_subscribed_event_types
from webhooks.targets import RefusedTarget, Target, webhook_target

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
    refused: bool = False  # the target was refused before connecting (webhooks/targets.py)
    extra: dict = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        if self.refused:
            return False
        return self.status is None or self.status >= 500 or self.status in TRANSIENT_STATUSES


@dataclass(frozen=True)
class _Claimed:
    delivery: WebhookDelivery
    url: str
    secret: str


@dataclass(frozen=True)
class _Held:
    """Not attempted now: the attempts already under way could disable the subscription."""

    reason: str
    countdown: float


def webhook_deliver(*, delivery_id: int) -> str:
    """POST one pending delivery; returns "succeeded", "failed", "abandoned" or "skipped", or
    raises WebhookRetry."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return "skipped"
    if isinstance(claimed, _Held):
        raise WebhookRetry(claimed.reason, claimed.countdown)
    outcome = _post(url=claimed.url, secret=claimed.secret, delivery=claimed.delivery)
    try:
        budget = max(settings.CELERY_TASK_SOFT_TIME_LIMIT / 2, 1.0)
        result, countdown = with_database_retries(lambda: _record(claimed.delivery.pk, outcome), within=budget)
    except DATABASE_ERRORS as exc:
        raise OutcomeNotRecorded(asdict(outcome), backoff(0, first=5, cap=5)) from exc
    if result == "retry":
        raise WebhookRetry(outcome.error or f"HTTP {outcome.status}", countdown)
    return result


def webhook_record_outcome(*, delivery_id: int, outcome: dict) -> str:
    """Record the answer an earlier run of the task received while the database was away; never
    POSTs again. Returns like `webhook_deliver`, or raises WebhookRetry."""
    answer = Outcome(**outcome)
    result, countdown = _record(delivery_id, answer)
    if result == "retry":
        raise WebhookRetry(answer.error or f"HTTP {answer.status}", countdown)
    return result


class OutcomeNotRecorded(Exception):  # noqa: N818 - a request to record later, not an error
    """The receiver answered but the database could not take it: the task retries the recording
    (never the POST) after `countdown` seconds, with the answer as it was."""

    def __init__(self, outcome: dict, countdown: float) -> None:
        super().__init__("the outcome of the delivery could not be recorded")
        self.outcome = outcome
        self.countdown = countdown


def _lock(delivery_id: int) -> tuple[WebhookSubscription, WebhookDelivery] | None:
    """Lock a delivery's subscription, then the delivery: the order every writer of both keeps
    (deleting a subscription locks it before its deliveries), so none waits on the other in a circle."""
    subscription_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("subscription_id", flat=True).first()
    if subscription_id is None:
        return None
    subscription = WebhookSubscription.objects.select_for_update().filter(pk=subscription_id).first()
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if subscription is None or delivery is None:
        return None
    return subscription, delivery


@transaction.atomic
def _claim(delivery_id: int) -> _Claimed | _Held | None:
    """Start an attempt, deciding under the subscription's row lock.

    The failure that disables a subscription is counted under that lock, so a claim made after it
    reads the subscription disabled and sends nothing. And a subscription never has more attempts
    under way than failures left before it is disabled: were they all to fail, the last of them
    would disable it, and none is sent past that. An attempt beyond that waits (`_Held`) until the
    ones under way have answered."""
    locked = _lock(delivery_id)
    if locked is None:
        return None
    subscription, delivery = locked
    if delivery.status != Status.PENDING:
        return None
    now = timezone.now()
    if delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_SLACK:
        return None  # a duplicate task ahead of the retry that owns this attempt
    if not subscription.active:
        delivery.status = Status.ABANDONED
        delivery.last_error = _("The webhook was disabled before this event could be delivered.")
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        return None
    under_way = WebhookDelivery.objects.filter(subscription=subscription, status=Status.DELIVERING).count()
    if subscription.consecutive_failures + under_way >= settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER:
        timeout = settings.PAYHEALTH_WEBHOOK_TIMEOUT  # by then the attempts under way have answered
        countdown = backoff(0, first=timeout, cap=timeout)
        delivery.next_attempt_at = now + timedelta(seconds=countdown)
        delivery.last_error = _(
            "Waiting for the deliveries already under way: if they failed too, this webhook would be disabled."
        )
        delivery.save(update_fields=["next_attempt_at", "last_error"])
        return _Held(reason=delivery.last_error, countdown=countdown)
    delivery.status = Status.DELIVERING
    delivery.attempts += 1  # exact: the row is locked
    delivery.next_attempt_at = now  # while delivering: when this attempt began (read by the sweep)
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    return _Claimed(delivery=delivery, url=subscription.url, secret=subscription.secret)


class _PinnedConnection(http.client.HTTPConnection):
    """Connects to the target's checked addresses only, never to a new lookup of its name; the
    name still makes the Host header."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.addresses = target.addresses

    def connect(self) -> None:
        self.sock = _open_socket(self.addresses, self.port, self.timeout)


class _PinnedTLSConnection(http.client.HTTPSConnection):
    """The same over TLS: SNI and the certificate check are for the name, not the address."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=tls_context())
        self.addresses = target.addresses

    def connect(self) -> None:
        sock = _open_socket(self.addresses, self.port, self.timeout)
        try:
            self.sock = tls_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The system's trusted authorities, certificate and host name checked."""
    return ssl.create_default_context()


def _open_socket(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """A connection to the first of `addresses` that answers, like socket.create_connection over a
    name's addresses."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise error


def delivery_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def _read(response: http.client.HTTPResponse) -> str:
    """The first RESPONSE_BODY_LIMIT bytes as text, a character cut in half dropped."""
    data = response.read(RESPONSE_BODY_LIMIT)
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)


def signing_timestamp() -> int:
    """Each attempt is signed when it is sent, so a retry or replay carries a fresh timestamp."""
    return int(time.time())


def _post(*, url: str, secret: str, delivery: WebhookDelivery) -> Outcome:
    """One attempt: check the target now, POST to the checked addresses, keep a short answer.

    A refused target is not contacted and fails the delivery at once. A redirect is an answer,
    not an instruction: it is not followed (the signed body goes to the configured URL only) and
    nothing of its body is kept."""
    started = time.monotonic()
    try:
        target = webhook_target(url)
    except RefusedTarget as refused:
        logger.warning("webhook delivery %s refused: %s", delivery.pk, refused)
        return Outcome(headers={}, error=str(refused)[:MAX_ERROR_LENGTH], refused=True)
    except (OSError, ValueError) as exc:  # the name does not resolve (now), or the URL is malformed
        return Outcome(headers={}, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
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
    timeout = settings.PAYHEALTH_WEBHOOK_TIMEOUT
    pinned = _PinnedTLSConnection if target.scheme == "https" else _PinnedConnection
    connection = pinned(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        outcome.status = response.status
        if 300 <= response.status < 400:
            outcome.error = _("HTTP %(status)s %(reason)s: redirects are not followed.") % {
                "status": response.status,
                "reason": response.reason,
            }
        else:
            outcome.body = _read(response)
            if response.status >= 300:
                outcome.error = f"HTTP {response.status} {response.reason}"
    except (http.client.HTTPException, OSError) as exc:  # refused, reset, timed out, TLS, garbled answer
        outcome.error = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    outcome.error = outcome.error[:MAX_ERROR_LENGTH]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    # The receiver's words are kept for people to read, without any card number they may hold.
    outcome.body, outcome.error = masked(outcome.body), masked(outcome.error)
    return outcome


@transaction.atomic
def _record(delivery_id: int, outcome: Outcome) -> tuple[str, float]:
    locked = _lock(delivery_id)
    if locked is None:  # deleted meanwhile, with its subscription
        return "skipped", 0
    subscription, delivery = locked
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
        if subscription.consecutive_failures:
            subscription.consecutive_failures = 0
            subscription.save(update_fields=["consecutive_failures"])
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
    _count_failure(subscription, delivery.last_error or f"HTTP {outcome.status}")
    return delivery.status, 0


def _count_failure(subscription: WebhookSubscription, error: str) -> None:
    """One more failed delivery in a row for a subscription locked by the caller; the one that
    reaches PAYHEALTH_WEBHOOK_DISABLE_AFTER disables it. A disabled subscription's run is over:
    an answer that arrives after that (an attempt its owner started) is not counted."""
    if not subscription.active:
        return
    subscription.consecutive_failures += 1  # exact: the row is locked
    fields = ["consecutive_failures"]
    limit = settings.PAYHEALTH_WEBHOOK_DISABLE_AFTER
    if subscription.consecutive_failures >= limit:
        subscription.active = False
        subscription.disabled_at = timezone.now()
        subscription.disabled_reason = (
            _("Disabled after %(count)s failed deliveries in a row. Last error: %(error)s")
            % {"count": subscription.consecutive_failures, "error": error}
        )[:500]
        fields += ["active", "disabled_at", "disabled_reason", "updated_at"]
    subscription.save(update_fields=fields)
    if subscription.active:
        return
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
    *,
    stuck_after: timedelta | None = None,
    reconnected_at: datetime | None = None,
    batch_size: int | None = None,
    max_batches: int = 50,
) -> int:
    """Re-queue deliveries whose task was lost (still `pending` STUCK_AFTER seconds past their
    next attempt: broker outage, a publish that failed) or whose worker died (`delivering`
    STUCK_AFTER seconds, longer than a task may run). After the broker came back
    (`reconnected_at`), every due pending delivery is published again at once. Batches of
    `batch_size`, each its own transaction, skipping rows another sweep holds. Returns how many
    were re-queued."""
    if stuck_after is None:
        stuck_after = timedelta(seconds=settings.PAYHEALTH_WEBHOOK_STUCK_AFTER)
    batch_size = batch_size or settings.PAYHEALTH_WEBHOOK_SWEEP_BATCH
    total = 0
    for _batch in range(max_batches):
        count = _requeue_batch(stuck_after=stuck_after, reconnected_at=reconnected_at, batch_size=batch_size)
        total += count
        if count < batch_size:
            break
    if total:
        logger.warning("re-queued %s stuck webhook deliveries", total)
    return total


@transaction.atomic
def _requeue_batch(*, stuck_after: timedelta, reconnected_at: datetime | None, batch_size: int) -> int:
    now = timezone.now()
    sending_after = timedelta(seconds=settings.PAYHEALTH_WEBHOOK_STUCK_AFTER)
    stuck = Q(status=Status.PENDING) & (Q(next_attempt_at__lt=now - stuck_after) | Q(next_attempt_at__isnull=True))
    if reconnected_at is not None:
        stuck |= Q(status=Status.PENDING, created_at__lt=reconnected_at, next_attempt_at__lte=now)
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
