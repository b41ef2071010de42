"""The SLA sweep: find running clocks that crossed their warning or breach instant, and fire each
warning and breach exactly once.

Set-based: one SQL statement per kind and batch marks the crossed clocks (`UPDATE … RETURNING`),
appends their `SlaClockEvent`s (`INSERT … ON CONFLICT DO NOTHING` on the one-warning-and-one-
breach-per-cycle constraint) and their timeline rows, and marks their desk days for the SLA
report rollups (`cases.sla.rollups.mark_sql`), whatever the number of clocks. Exactly once
under concurrent sweeps: a sweep locks the rows it marks and skips rows another holds
(`FOR UPDATE SKIP LOCKED`), the `UPDATE` re-checks `warned_at IS NULL` / `breached_at IS NULL`
on the row it locked, and the unique constraint refuses a second event for the same cycle.

The crossing instant (the clock's warn_due_at / due_at) is what is recorded, not the time the
sweep ran, so a late sweep records the same history as a punctual one and `clock_replay` agrees.
Notifications go out after the commit, one `notify_sla_event_task` per event; an event whose task
was lost (broker down) is queued again by a later sweep until it is marked notified.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from cases import timeline
from cases.models import CaseEvent, Incident, PartnerEngagement, SlaClock, SlaClockEvent
from cases.sla.clocks import NOTIFY_TASK
from cases.sla.rollups import mark_sql, rollup_zone
from cases.timeline.events import SlaBreached, SlaWarning, sql_object
from partners.models import Partner
from payhealth.outbox import publish_on_commit

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    warned: int
    breached: int


# clock event kind → (its timeline payload, instant column, stamp column)
_KINDS = {
    SlaClockEvent.Kind.WARN: (SlaWarning, "warn_due_at", "warned_at"),
    SlaClockEvent.Kind.BREACH: (SlaBreached, "due_at", "breached_at"),
}


def _statement(kind: str) -> str:
    payload, instant, stamp = _KINDS[kind]
    timeline_data = sql_object(
        payload,
        {
            "clock": "facts.id",
            "metric": "facts.metric",
            "family": "facts.family",
            "partner": "facts.partner_name",
            "reason": "facts.pause_reason",
            "event": "inserted.id",
        },
    )
    clear = ", warn_due_at = NULL" if kind == SlaClockEvent.Kind.WARN else ""
    return f"""
WITH due AS (
    SELECT id FROM {SlaClock._meta.db_table}
    WHERE state = 'running' AND {instant} <= %(now)s AND {stamp} IS NULL
    ORDER BY id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), crossed AS (
    UPDATE {SlaClock._meta.db_table} AS clock
    SET {stamp} = clock.{instant}{clear}
    FROM due
    WHERE clock.id = due.id AND clock.state = 'running' AND clock.{stamp} IS NULL AND clock.{instant} <= %(now)s
    RETURNING clock.id, clock.incident_id, clock.engagement_id, clock.metric, clock.family, clock.cycle,
              clock.{stamp} AS at, clock.due_at, clock.target, clock.pause_reason
), facts AS (
    SELECT crossed.*, incident.status, partner.name AS partner_name,
           COALESCE((
               SELECT jsonb_agg(waited.name ORDER BY waited.name)
               FROM {PartnerEngagement._meta.db_table} AS engaged
               JOIN {Partner._meta.db_table} AS waited ON waited.id = engaged.partner_id
               WHERE engaged.incident_id = crossed.incident_id AND engaged.partner_status = ANY(%(waiting)s)
           ), '[]'::jsonb) AS waiting_on
    FROM crossed
    JOIN {Incident._meta.db_table} AS incident ON incident.id = crossed.incident_id
    LEFT JOIN {PartnerEngagement._meta.db_table} AS engagement ON engagement.id = crossed.engagement_id
    LEFT JOIN {Partner._meta.db_table} AS partner ON partner.id = engagement.partner_id
), marked AS ({mark_sql("c.id IN (SELECT id FROM crossed)")}
    RETURNING day
), inserted AS (
    INSERT INTO {SlaClockEvent._meta.db_table} (clock_id, kind, at, reason, data, cycle)
    SELECT id, %(kind)s, at, '',
           jsonb_build_object(
               'status', status, 'waiting_on', waiting_on, 'pause_reason', pause_reason,
               'due_at', due_at, 'target', EXTRACT(EPOCH FROM target)
           ),
           cycle
    FROM facts
    ON CONFLICT DO NOTHING
    RETURNING id, clock_id
), timeline AS (
    INSERT INTO {CaseEvent._meta.db_table} (incident_id, actor_id, kind, created_at, data)
    SELECT facts.incident_id, NULL, '{payload.kind}', facts.at, {timeline_data}
    FROM inserted JOIN facts ON facts.id = inserted.clock_id
    RETURNING id, incident_id, created_at, data
)
SELECT inserted.id, (SELECT count(*) FROM crossed),
       (SELECT jsonb_agg(jsonb_build_object('id', id, 'incident', incident_id, 'at', created_at, 'data', data))
        FROM timeline)
FROM inserted ORDER BY inserted.id
"""


@transaction.atomic
def _sweep_batch(*, kind: str, now: datetime, batch: int) -> tuple[list[int], int]:
    """One statement: (ids of the events fired, how many clocks it marked)."""
    with connection.cursor() as cursor:
        waiting = list(PartnerEngagement.WAITING_STATUSES)
        params = {"now": now, "batch": batch, "kind": kind, "waiting": waiting, "zone": rollup_zone()}
        cursor.execute(_statement(kind), params)
        rows = cursor.fetchall()
    event_ids = [row[0] for row in rows]
    if event_ids:
        publish_on_commit(NOTIFY_TASK, event_ids)
        # The timeline rows the statement inserted go to the timeline's listeners (webhooks).
        inserted = json.loads(rows[0][2]) if isinstance(rows[0][2], str) else rows[0][2]
        kind = _KINDS[kind][0].kind
        timeline.published(
            [
                CaseEvent(
                    pk=row["id"],
                    incident_id=row["incident"],
                    kind=kind,
                    created_at=datetime.fromisoformat(row["at"]),
                    data=row["data"],
                )
                for row in sorted(inserted, key=lambda row: row["id"])
            ]
        )
    return event_ids, (rows[0][1] if rows else 0)


def sla_sweep(
    *, now: datetime | None = None, batch: int = SWEEP_BATCH, reconnected_at: datetime | None = None
) -> SweepResult:
    """Fire the warnings, then the breaches, of every running clock that crossed them by `now`;
    after the broker came back (`reconnected_at`), queue again every unnotified event recorded
    before that moment (its task may have been lost with the broker)."""
    now = now or timezone.now()
    fired = {}
    queued: set[int] = set()
    for kind in (SlaClockEvent.Kind.WARN, SlaClockEvent.Kind.BREACH):
        fired[kind] = 0
        while True:
            event_ids, marked = _sweep_batch(kind=kind, now=now, batch=batch)
            fired[kind] += len(event_ids)
            queued.update(event_ids)
            if marked < batch:
                break
    _requeue_unnotified(now, already_queued=queued, reconnected_at=reconnected_at)
    if fired[SlaClockEvent.Kind.WARN] or fired[SlaClockEvent.Kind.BREACH]:
        logger.info(
            "SLA sweep: %s warnings, %s breaches", fired[SlaClockEvent.Kind.WARN], fired[SlaClockEvent.Kind.BREACH]
        )
    return SweepResult(warned=fired[SlaClockEvent.Kind.WARN], breached=fired[SlaClockEvent.Kind.BREACH])


def _requeue_unnotified(now: datetime, *, already_queued: set[int], reconnected_at: datetime | None = None) -> None:
    """Queue again the notifications of events whose task was lost (their task is idempotent)."""
    stuck_before = now - timedelta(seconds=settings.PAYHEALTH_NOTICE_STUCK_AFTER)
    if reconnected_at is not None:
        stuck_before = max(stuck_before, reconnected_at)
    ids = list(
        SlaClockEvent.objects.filter(
            kind__in=[SlaClockEvent.Kind.WARN, SlaClockEvent.Kind.BREACH], notified_at__isnull=True, at__lt=stuck_before
        )
        .exclude(pk__in=already_queued)
        .order_by("id")
        .values_list("id", flat=True)[: settings.PAYHEALTH_NOTICE_SWEEP_BATCH]
    )
    if ids:
        publish_on_commit(NOTIFY_TASK, ids)
