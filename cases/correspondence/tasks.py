"""Celery tasks of the correspondence: thin adapters that take ids and call a service.

Services never import this module: they publish these tasks by name after their commit
(`payhealth.outbox.publish_on_commit`).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cases.correspondence.delivery import (
    DELIVER_TASK,
    OutcomeNotRecorded,
    TransientDeliveryError,
    correspondence_deliver,
    correspondence_deliver_batch,
    correspondence_record_accepted,
    correspondence_requeue_stuck,
)
from cases.correspondence.inbound.store import inbound_poll_mailbox
from payhealth.outbox import DATABASE_ERRORS, parse_instant


@shared_task(
    bind=True,
    name=DELIVER_TASK,
    acks_late=True,
    max_retries=None,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=30,
)
def deliver_correspondence_task(self, correspondence_id: int | list[int], accepted: dict | None = None) -> str:
    """Deliver one queued notice, or a batch of them (a list of ids, published by a bulk action
    or the sweep) over one SMTP connection; retries transient SMTP errors up to
    PAYHEALTH_NOTICE_MAX_RETRIES, each notice of a batch on its own.

    `accepted` (the refused recipients, by address; for a batch, by notice id) is set on a retry
    that only records messages the server accepted while the database was away: that retry
    never sends. A database that is away before anything was sent retries the task with backoff."""
    if isinstance(correspondence_id, list):
        return _deliver_batch(self, correspondence_id, accepted)
    if accepted is not None:
        refused = {address: tuple(answer) for address, answer in accepted.items()}
        return correspondence_record_accepted(accepted={correspondence_id: refused})
    final_attempt = self.request.retries >= settings.PAYHEALTH_NOTICE_MAX_RETRIES
    try:
        return correspondence_deliver(correspondence_id=correspondence_id, final_attempt=final_attempt)
    except TransientDeliveryError as exc:
        raise self.retry(args=[correspondence_id], kwargs={}, countdown=exc.countdown, exc=exc) from None
    except OutcomeNotRecorded as exc:
        kwargs = {"correspondence_id": correspondence_id, "accepted": exc.accepted[correspondence_id]}
        raise self.retry(args=[], kwargs=kwargs, countdown=exc.countdown, exc=exc) from None


def _deliver_batch(task, correspondence_ids: list[int], accepted: dict | None) -> str:
    if accepted is not None:
        recorded = {
            int(pk): {address: tuple(answer) for address, answer in refused.items()} for pk, refused in accepted.items()
        }
        return correspondence_record_accepted(accepted=recorded)
    final_attempt = task.request.retries >= settings.PAYHEALTH_NOTICE_MAX_RETRIES
    try:
        result = correspondence_deliver_batch(correspondence_ids=correspondence_ids, final_attempt=final_attempt)
    except OutcomeNotRecorded as exc:
        kwargs = {"correspondence_id": correspondence_ids, "accepted": {str(pk): r for pk, r in exc.accepted.items()}}
        raise task.retry(args=[], kwargs=kwargs, countdown=exc.countdown, exc=exc) from None
    # Each notice the server could not take now is retried on its own, as the next attempt of
    # this task (so the last one gives up, as for a notice sent alone).
    for pk, (_reason, countdown) in result.retry.items():
        task.apply_async(args=[pk], countdown=countdown, retries=task.request.retries + 1)
    return result.summary()


@shared_task(name="cases.requeue_stuck_correspondence_task", acks_late=True)
def requeue_stuck_correspondence_task(reconnected_at: str | None = None) -> int:
    """Periodic (beat), and whenever a worker (re)connects to the broker: re-queue notices whose
    delivery task was lost or whose worker died."""
    return correspondence_requeue_stuck(reconnected_at=parse_instant(reconnected_at))


@shared_task(name="cases.poll_inbound_mailbox_task", acks_late=True)
def poll_inbound_mailbox_task() -> dict[str, int]:
    """Periodic (beat): store the desk mailbox's unseen replies (nothing when INBOUND_IMAP_URL is empty)."""
    result = inbound_poll_mailbox()
    return {"stored": result.stored, "duplicates": result.duplicates, "refused": result.refused}
