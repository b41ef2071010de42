"""Bulk incidents for benchmarks (`seed_demo --incidents N`): N more incidents over the last year.

Each incident gets affected merchants, partner engagements, a short timeline (opened and its
status changes) and SLA clocks replayed from that history through the SLA rules, as the curated
incidents get theirs (`demo.sla`). References are reserved up front, one block per year, in their own short
statement: holding the counter row for the whole run would block every incident opened on the
desk meanwhile. Batches are then written one transaction each, so memory stays flat; an
interrupted run keeps the batches already written (and leaves a gap in the numbers).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from cases import timeline
from cases.models import AffectedMerchant, CaseEvent, Incident, PartnerEngagement, Status
from cases.search import refresh_search
from cases.timeline import events as ev
from demo import sla as demo_sla
from demo import stories, texts
from demo.incidents import given_timestamps, reserve_references

BULK_PREFIX = "bulk:"
BULK_WINDOW = timedelta(days=365)
BATCH_SIZE = 2000


def seed_bulk_incidents(
    desk,
    count: int,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Add `count` incidents; returns their references, oldest first."""
    now = now or timezone.now()
    runs_before = Incident.objects.filter(fingerprint__startswith=BULK_PREFIX).count()
    rng = random.Random(f"payhealth-bulk-{runs_before}-{count}")
    plans = []
    for _ in range(count):
        status, severity, category = stories.pick_status_severity_category(rng, stories.BULK_STATUS_WEIGHTS)
        life = stories.plan_lifecycle(rng, status=status, severity=severity, now=now, window=BULK_WINDOW)
        plans.append((category, life))
    plans.sort(key=lambda plan: plan[1].opened_at)
    references = reserve_references([life.opened_at for _, life in plans])

    users = desk.users
    owners = [users[name] for name in ("analyst", "mariana", "diego", "emily", "partner_manager", "lead")]
    book = demo_sla.PolicyBook()
    with given_timestamps(Incident, AffectedMerchant, PartnerEngagement):
        for start in range(0, count, batch_size):
            chunk = zip(plans[start : start + batch_size], references[start : start + batch_size], strict=True)
            _write_batch(*_build_batch(rng, chunk, desk=desk, owners=owners), book=book, now=now)
            if progress:
                progress(min(start + batch_size, count), count)
    return references


@transaction.atomic
def _write_batch(incidents, affected, engagements, events, *, book, now) -> None:
    Incident.objects.bulk_create(incidents)
    AffectedMerchant.objects.bulk_create(affected)
    PartnerEngagement.objects.bulk_create(engagements)
    CaseEvent.objects.bulk_create(events)
    demo_sla.bulk_clocks(incidents, engagements, events, book=book, now=now)
    refresh_search(incident_ids=[incident.pk for incident in incidents])


def _build_batch(rng: random.Random, chunk, *, desk, owners):
    incidents, affected, engagements, events = [], [], [], []
    for (category, life), reference in chunk:
        scenario = stories.pick_scenario(rng, desk, category, (1, 3))
        language = scenario.language
        source = stories.weighted(rng, stories.SOURCE_WEIGHTS)
        created_by = None if source == "alert" else rng.choice(owners)
        owner = None if life.status == Status.NEW and rng.random() < 0.5 else (created_by or rng.choice(owners))
        incident = stories.build_incident(
            life=life,
            scenario=scenario,
            reference=reference,
            category=category,
            severity=life.severity,
            status=life.status,
            owner=owner,
            created_by=created_by,
            source=source,
            fingerprint=f"{BULK_PREFIX}{reference}",
            updated_at=life.steps[-1][2] if life.steps else life.opened_at,
        )
        rows = [
            stories.measure_impact(
                rng,
                incident=incident,
                merchant=merchant,
                severity=life.severity,
                category=category,
                measured=life.status != Status.NEW,
                at=life.at(0.1),
            )
            for merchant in scenario.merchants
        ]
        context = stories.text_context(scenario, life, rows[0], reference)
        incident.title = rng.choice(texts.TITLES[category][language]).format(**context)[:200]
        incident.summary = texts.SUMMARIES[language][category].format(**context)
        if life.resolved_at:
            incident.root_cause = rng.choice(texts.ROOT_CAUSES[language][category]).format(**context)
        incidents.append(incident)
        affected += rows
        for position, partner in enumerate(scenario.partners[: rng.randint(1, 2)]):
            engagements.append(
                stories.plan_engagement(rng, incident=incident, partner=partner, life=life, primary=position == 0)
            )
        opened = ev.IncidentOpened(reference=reference, severity=life.severity, category=category, source=source)
        events.append(timeline.event(opened, incident=incident, actor=created_by, at=life.opened_at))
        actor = owner or rng.choice(owners)
        for previous, to, at in life.steps:
            reason, waited_on = "", None
            if to == Status.WAITING_ON_PARTNER:
                reason, waited_on = texts.REASONS["waiting_on_partner"][language], scenario.partners[0]
            elif previous in (Status.RESOLVED, Status.CLOSED) and to == Status.INVESTIGATING:
                reason = texts.REASONS["reopen"][language]
            changed = ev.StatusChanged(
                was=previous,
                to=to,
                reason=reason,
                partner=waited_on.name if waited_on else None,
                partner_code=waited_on.code if waited_on else None,
            )
            events.append(timeline.event(changed, incident=incident, actor=actor, at=at))
    return incidents, affected, engagements, events
