"""Celery tasks of the correspondence: thin adapters that take ids and call a service.

Services never import this module: they publish these tasks by name after their commit
(`payhealth.outbox.publish_on_commit`).
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cases.correspondence.delivery import (
    DELIVER_TASK,
    TransientDeliveryError,
    correspondence_deliver,
    correspondence_requeue_stuck,
)
from cases.correspondence.inbound.store import inbound_poll_mailbox
from payhealth.outbox import backoff


@shared_task(bind=True, name=DELIVER_TASK, acks_late=True, max_retries=None)
def deliver_correspondence_task(self, correspondence_id: int) -> str:
    """Deliver one queued notice; retries transient SMTP errors up to PAYHEALTH_NOTICE_MAX_RETRIES."""
    retries = self.request.retries
    final_attempt = retries >= settings.PAYHEALTH_NOTICE_MAX_RETRIES
    try:
        return correspondence_deliver(correspondence_id=correspondence_id, final_attempt=final_attempt)
    except TransientDeliveryError as exc:
        countdown = backoff(
            retries, first=settings.PAYHEALTH_NOTICE_RETRY_BACKOFF, cap=settings.PAYHEALTH_NOTICE_RETRY_BACKOFF_MAX
        )
        raise self.retry(countdown=countdown, exc=exc) from None


@shared_task(name="cases.requeue_stuck_correspondence_task", acks_late=True)
def requeue_stuck_correspondence_task() -> int:
    """Periodic (beat): re-queue notices whose delivery task was lost or whose worker died."""
    return correspondence_requeue_stuck()


@shared_task(name="cases.poll_inbound_mailbox_task", acks_late=True)
def poll_inbound_mailbox_task() -> dict[str, int]:
    """Periodic (beat): store the desk mailbox's unseen replies (nothing when INBOUND_IMAP_URL is empty)."""
    result = inbound_poll_mailbox()
    return {"stored": result.stored, "duplicates": result.duplicates, "refused": result.refused}
