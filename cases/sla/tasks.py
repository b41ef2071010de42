"""Celery tasks of the SLA clocks: thin adapters that call the sweep and the notifier.

The hooks and the sweep publish `notify_sla_event_task` by name after their commit
(`payhealth.outbox`); beat runs the sweep every minute.
"""

from __future__ import annotations

from celery import shared_task

from cases.sla.clocks import NOTIFY_TASK
from cases.sla.notify import sla_event_notify
from cases.sla.sweep import sla_sweep


@shared_task(name="cases.sweep_sla_clocks_task", acks_late=True)
def sweep_sla_clocks_task() -> dict[str, int]:
    """Periodic (beat): fire the SLA warnings and breaches of clocks that crossed them."""
    result = sla_sweep()
    return {"warned": result.warned, "breached": result.breached}


@shared_task(name=NOTIFY_TASK, acks_late=True)
def notify_sla_event_task(event_id: int) -> str:
    """Mail one SLA warning or breach (and escalate a partner's breach); idempotent."""
    return sla_event_notify(event_id=event_id)
