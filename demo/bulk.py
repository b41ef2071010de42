"""Bulk incidents for benchmarks (`seed_demo --incidents N`): N more incidents over the last year.

Each incident gets affected merchants, partner engagements, a short timeline (opened and its
status changes) and SLA clocks replayed from that history through the SLA rules, as the curated
incidents get theirs (`demo.sla`).

Made for a million incidents in minutes on a small machine:

- **COPY, not INSERT.** Every row goes to PostgreSQL through COPY (psycopg's `cursor.copy`),
  under ids reserved from the tables' own sequences, so a batch's rows can point at each other
  before any is written. `bulk_create` spent most of its time building and parsing the INSERTs.
- **The search document once, as the row is written.** Incidents are copied into a temporary
  table, then inserted from it with their search document computed by `cases.search` in the same
  statement (after their merchants and partners, which the document names: the foreign keys are
  checked at commit). Updating each row afterwards would write every incident twice.
- **Memory bounded by the batch.** Each incident is drawn from its own seeded generator. A first
  pass draws only when each one opened (an array of floats), so the incidents can be numbered
  in the order they opened; the second pass draws each batch's incidents again, whole, in that
  order, writes them and forgets them.

References are reserved up front, one block per year, in their own short statement: holding the
counter row for the whole run would block every incident opened on the desk meanwhile. Batches
are then written one transaction each; an interrupted run keeps the batches already written (and
leaves a gap in the numbers). Nothing a running desk needs is dropped or disabled: indexes,
constraints and triggers stay as they are.
"""

from __future__ import annotations

import json
import multiprocessing
import operator
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
from django.db import connection, connections, models, transaction
from django.utils import timezone

from cases.models import AffectedMerchant, CaseEvent, Incident, PartnerEngagement, Status
from cases.numbering import format_reference, reserve_numbers
from cases.search import incidents_insert_from
from cases.timeline import events as ev
from demo import sla as demo_sla
from demo import stories, texts

BULK_PREFIX = "bulk:"
BULK_WINDOW = timedelta(days=365)
BATCH_SIZE = 5000
STAGE_TABLE = "demo_bulk_incident_stage"
OPENED_CHUNK = 20_000  # incidents a worker draws the opening of at a time (first pass)


@dataclass
class BulkProgress:
    """What a run has written so far: incidents, and rows of every table (the clocks and their
    events too, not the timeline rows of the clocks' pauses and crossings)."""

    done: int = 0
    total: int = 0
    rows: int = 0


class TimelineRow(NamedTuple):
    """A timeline row of a bulk incident, as `demo.sla` reads a history: the columns of `CaseEvent`
    without a model instance for each (building those was a tenth of the seed's time)."""

    incident_id: int
    actor_id: int | None
    kind: str
    created_at: datetime
    data: dict


@dataclass
class _Run:
    """What every batch of a run shares; a worker process inherits it when it is forked."""

    seed: str
    desk: object
    owners: list
    now: datetime
    book: demo_sla.PolicyBook | None = None


_RUN: _Run | None = None  # the run a forked worker belongs to


def seed_bulk_incidents(
    desk,
    count: int,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[BulkProgress], None] | None = None,
    jobs: int | None = None,
) -> list[str]:
    """Add `count` incidents; returns their references, oldest first.

    `jobs` processes build and write batches side by side (default: one per CPU, at most 2, when the
    run is large and not inside a transaction: a forked worker has its own connection and would not
    see rows the caller has not committed).
    """
    global _RUN
    now = now or timezone.now()
    runs_before = Incident.objects.filter(fingerprint__startswith=BULK_PREFIX).count()
    seed = f"payhealth-bulk-{runs_before}-{count}"

    users = desk.users
    owners = [users[name] for name in ("analyst", "mariana", "diego", "emily", "partner_manager", "lead")]
    _RUN = _Run(seed=seed, desk=desk, owners=owners, now=now)
    if jobs is None:
        large = count >= 4 * batch_size and not connection.in_atomic_block
        jobs = min(2, os.cpu_count() or 1) if large else 1
    state = BulkProgress(total=count)
    pool = None
    try:
        if jobs > 1:
            connections.close_all()  # each worker opens its own; a shared socket would mix their statements
            pool = multiprocessing.get_context("fork").Pool(jobs, initializer=connections.close_all)
        # First pass: when each incident opened, and nothing else (the lifecycle is drawn again
        # below), drawn by the workers too: alone, the parent would keep the other cores waiting.
        spans = [(start, min(start + OPENED_CHUNK, count)) for start in range(0, count, OPENED_CHUNK)]
        opened = np.concatenate([np.empty(0), *(pool.map(_opened, spans) if pool else map(_opened, spans))])
        order = np.argsort(opened, kind="stable")
        years = [datetime.fromtimestamp(moment, UTC).year for moment in opened[order]]
        del opened
        blocks = {year: iter(reserve_numbers(year, n)) for year, n in sorted(Counter(years).items())}
        references = [format_reference(year, next(blocks[year])) for year in years]
        del years
        batches = (
            (order[start : start + batch_size].tolist(), references[start : start + batch_size])
            for start in range(0, count, batch_size)
        )
        results = pool.imap_unordered(_seed_batch, batches) if pool else map(_seed_batch, batches)
        for done, rows in results:
            state.done += done
            state.rows += rows
            if progress:
                progress(state)
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        if pool is not None:
            pool.terminate()
        _RUN = None
    return references


def _opened(span: tuple[int, int]) -> np.ndarray:
    """When the incidents `span` (start, stop) of the run opened, as POSIX timestamps."""
    run = _RUN
    start, stop = span
    opened = np.empty(stop - start, dtype=np.float64)
    for index in range(start, stop):
        _, life = _plan(random.Random(f"{run.seed}-{index}"), run.now)
        opened[index - start] = life.opened_at.timestamp()
    return opened


def _plan(rng: random.Random, now: datetime) -> tuple[str, stories.Lifecycle]:
    status, severity, category = stories.pick_status_severity_category(rng, stories.BULK_STATUS_WEIGHTS)
    life = stories.plan_lifecycle(rng, status=status, severity=severity, now=now, window=BULK_WINDOW)
    return category, life


def _seed_batch(batch: tuple[list[int], list[str]]) -> tuple[int, int]:
    """Build and write one batch in its own transaction; returns (incidents, rows written)."""
    run = _RUN
    if run.book is None:
        run.book = demo_sla.PolicyBook()
    indexes, references = batch
    with transaction.atomic():
        with connection.cursor() as cursor:
            incident_ids = demo_sla.reserve_ids(cursor, Incident, len(indexes))
        built = _build_batch(run, indexes, incident_ids, references)
        rows = _write_batch(*built, book=run.book, now=run.now)
    return len(indexes), rows


def _write_batch(incidents, affected, engagements, events, *, book, now) -> int:
    """Write one batch (in the caller's transaction); returns how many rows it wrote."""
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor under Django's wrapper
        # A batch lost in a crash is lost whole (one transaction) and the run can be repeated: no
        # need to wait for the write-ahead log to reach the disk at each commit.
        cursor.execute("SET LOCAL synchronous_commit = off")
        for engagement, pk in zip(
            engagements, demo_sla.reserve_ids(wrapper, PartnerEngagement, len(engagements)), strict=True
        ):
            engagement.pk = pk
        cursor.execute(f"CREATE TEMP TABLE {STAGE_TABLE} (LIKE {Incident._meta.db_table})")
        copy_instances(cursor, Incident, incidents, table=STAGE_TABLE, with_pk=True)
        copy_instances(cursor, AffectedMerchant, affected)
        copy_instances(cursor, PartnerEngagement, engagements, with_pk=True)
        incidents_insert_from(cursor, STAGE_TABLE, _columns(Incident, with_pk=True)[0])
        cursor.execute(f"DROP TABLE {STAGE_TABLE}")
        demo_sla.copy_rows(
            cursor,
            CaseEvent._meta.db_table,
            demo_sla.TIMELINE_COLUMNS,
            events,
        )
    clocks, clock_events = demo_sla.bulk_clocks(incidents, engagements, events, book=book, now=now)
    return len(incidents) + len(affected) + len(engagements) + len(events) + clocks + clock_events


# --- COPY of unsaved model instances ------------------------------------------------------------------


def _columns(model: type[models.Model], *, with_pk: bool) -> tuple[list[str], Callable]:
    """The columns COPY writes for `model` (never a generated one) and how to read them from an
    instance: one `attrgetter` call for the whole row, JSON fields then dumped."""
    fields = [f for f in model._meta.concrete_fields if not (f.generated or (f.primary_key and not with_pk))]
    columns = [field.column for field in fields]
    getter = operator.attrgetter(*[field.attname for field in fields])
    dumped = [position for position, field in enumerate(fields) if isinstance(field, models.JSONField)]
    if not dumped:
        return columns, getter

    def read(obj) -> list:
        row = list(getter(obj))
        for position in dumped:
            row[position] = json.dumps(row[position])
        return row

    return columns, read


def copy_instances(
    cursor, model: type[models.Model], instances: Iterable[models.Model], *, table: str = "", with_pk: bool = False
) -> None:
    """COPY unsaved instances of `model` into its table (or `table`), their fields as they are set.

    Foreign keys are read from `<name>_id`: the rows they point at have their ids already (the
    batch's incidents get theirs before their rows are built). No `save()` runs: no `auto_now`
    stamps (the demo's past is written as planned), no signals, and no card-number guard (these
    texts come from the demo's own catalogue).
    """
    columns, read = _columns(model, with_pk=with_pk)
    statement = f"COPY {table or model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for obj in instances:
            copy.write_row(read(obj))


# --- building a batch ---------------------------------------------------------------------------------


def _build_batch(run: _Run, indexes, incident_ids, references):
    desk, owners = run.desk, run.owners
    incidents, affected, engagements, events = [], [], [], []
    for index, pk, reference in zip(indexes, incident_ids, references, strict=True):
        rng = random.Random(f"{run.seed}-{index}")
        category, life = _plan(rng, run.now)
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
        incident.pk = pk  # before its rows are built, so that they hold its id
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
        events.append(_timeline_row(opened, incident=incident, actor=created_by, at=life.opened_at))
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
            events.append(_timeline_row(changed, incident=incident, actor=actor, at=at))
    return incidents, affected, engagements, events


def _timeline_row(payload, *, incident, actor, at) -> TimelineRow:
    """The row `cases.timeline.event` would build for `payload`, as a tuple."""
    return TimelineRow(incident.pk, getattr(actor, "pk", None), payload.kind, at, payload.data())
