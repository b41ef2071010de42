"""Celery tasks of the SLA clocks: thin adapters that call the sweep and the notifier.

The hooks and the sweep publish `notify_sla_event_task` by name after their commit
(`payhealth.outbox`), the notifier one `deliver_sla_mail_task` per person; beat runs the sweep
every minute and the mails' recovery sweep every PAYHEALTH_RECOVERY_SWEEP_SECONDS.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from cases.correspondence.delivery import OutcomeNotRecorded, TransientDeliveryError
from cases.rca.services import rca_sweep
from cases.sla.clocks import NOTIFY_TASK
from cases.sla.notify import (
    SLA_MAIL_TASK,
    sla_event_notify,
    sla_mail_deliver,
    sla_mail_record_accepted,
    sla_mail_requeue_stuck,
)
from cases.sla.rollups import sla_rollup_fold
from cases.sla.sweep import sla_sweep
from payhealth.outbox import DATABASE_ERRORS, parse_instant


@shared_task(name="cases.sweep_sla_clocks_task", acks_late=True)
def sweep_sla_clocks_task(reconnected_at: str | None = None) -> dict[str, int]:
    """Periodic (beat), and whenever a worker (re)connects to the broker (a tick lost in an outage
    runs then): fire the SLA warnings and breaches of clocks that crossed them, and draft the RCA
    reminders that are due; then re-compute the SLA report rollups of the days marked pending."""
    result = sla_sweep(reconnected_at=parse_instant(reconnected_at))
    reminders = rca_sweep()
    folded = sla_rollup_fold(wait=False)  # the SLA reports' rollups of the days changed since
    return {"warned": result.warned, "breached": result.breached, "rca_reminders": reminders, "rollup_days": folded}


@shared_task(name=NOTIFY_TASK, acks_late=True, autoretry_for=DATABASE_ERRORS, retry_backoff=2, retry_backoff_max=30)
def notify_sla_event_task(event_id: int) -> str:
    """Escalate a partner's breach and queue one mail per person for an SLA warning or breach; idempotent."""
    return sla_event_notify(event_id=event_id)


@shared_task(
    bind=True,
    name=SLA_MAIL_TASK,
    acks_late=True,
    max_retries=None,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=2,
    retry_backoff_max=30,
)
def deliver_sla_mail_task(self, notification_id: int, accepted: bool = False) -> str:
    """Send one person's SLA mail; transient refusals retry with backoff, up to PAYHEALTH_NOTICE_MAX_RETRIES.

    `accepted` is set on a retry that only records a mail the server accepted while the database
    was away: that retry never sends."""
    if accepted:
        return sla_mail_record_accepted(notification_id=notification_id)
    final_attempt = self.request.retries >= settings.PAYHEALTH_NOTICE_MAX_RETRIES
    try:
        return sla_mail_deliver(notification_id=notification_id, final_attempt=final_attempt)
    except TransientDeliveryError as exc:
        raise self.retry(args=[notification_id], kwargs={}, countdown=exc.countdown, exc=exc) from None
    except OutcomeNotRecorded as exc:
        kwargs = {"notification_id": notification_id, "accepted": True}
        raise self.retry(args=[], kwargs=kwargs, countdown=exc.countdown, exc=exc) from None


@shared_task(name="cases.requeue_stuck_sla_mail_task", acks_late=True)
def requeue_stuck_sla_mail_task(reconnected_at: str | None = None) -> int:
    """Periodic (beat), and whenever a worker (re)connects to the broker: publish again the SLA
    mails whose task was lost or whose worker died."""
    return sla_mail_requeue_stuck(reconnected_at=parse_instant(reconnected_at))
