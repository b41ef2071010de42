"""The curated demo incidents: full stories with impact, partners, notes, mail and a timeline.

Each incident is keyed by `fingerprint="demo:NNNN"` and drawn from its own seeded generator, so
a second run finds every fingerprint and writes nothing, and a deleted one comes back the same.

The rows are written with `bulk_create`, not through `cases.services`: the services stamp
every change with the current time and write one row per call, while a demo needs ninety days
of history written in about a second. The invariants the services guard (valid transitions,
times in order, one timeline row per change) are kept by construction in `stories`, and the
tests check them on the result.
"""

from __future__ import annotations

import random
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from cases import timeline
from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Correspondence,
    Incident,
    InvestigationNote,
    PartnerEngagement,
    Severity,
    Status,
)
from cases.numbering import format_reference, reserve_numbers
from cases.search import refresh_search
from cases.timeline import events as ev
from demo import mail, stories, texts
from demo import sla as demo_sla
from demo.rows import Story
from demo.stories import weighted

DEMO_COUNT = 200
DEMO_WINDOW = timedelta(days=90)
DEMO_PREFIX = "demo:"
SEVERITIES = list(Severity.values)
Kind = CaseEvent.Kind


@contextmanager
def given_timestamps(*model_classes: type[models.Model]):
    """Let `bulk_create` keep the `created_at`/`updated_at` we set.

    `auto_now`/`auto_now_add` would stamp every demo row with the moment of the seed, and the
    whole point of the demo is a believable past. Only used by this single-threaded command.
    """
    changed = []
    for model in model_classes:
        for model_field in model._meta.concrete_fields:
            if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
                changed.append((model_field, model_field.auto_now, model_field.auto_now_add))
                model_field.auto_now = model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field, auto_now, auto_now_add in changed:
            model_field.auto_now, model_field.auto_now_add = auto_now, auto_now_add


STORY_MODELS = (Incident, AffectedMerchant, PartnerEngagement, InvestigationNote, Correspondence)


def reserve_references(moments: list[datetime]) -> list[str]:
    """References for incidents opened at `moments` (sorted): one reserved block per year."""
    counts = Counter(moment.year for moment in moments)
    blocks = {year: iter(reserve_numbers(year, n)) for year, n in sorted(counts.items())}
    return [format_reference(moment.year, next(blocks[moment.year])) for moment in moments]


def _forced(index: int) -> tuple[str | None, str | None, str | None]:
    """The first incidents cover every status, severity and category, whatever the draw."""
    statuses, categories = list(Status.values), list(stories.CATEGORY_WEIGHTS)
    return (
        statuses[index - 1] if index <= len(statuses) else None,
        SEVERITIES[index - 1] if index <= len(SEVERITIES) else None,
        categories[index - 1] if index <= len(categories) else None,
    )


def seed_demo_incidents(desk, *, now: datetime | None = None, count: int = DEMO_COUNT) -> int:
    """Create the demo incidents that do not exist yet; returns how many were created."""
    now = now or timezone.now()
    existing = set(Incident.objects.filter(fingerprint__startswith=DEMO_PREFIX).values_list("fingerprint", flat=True))
    drafts = []
    for index in range(1, count + 1):
        fingerprint = f"{DEMO_PREFIX}{index:04d}"
        if fingerprint in existing:
            continue
        rng = random.Random(f"payhealth-demo-{index}")
        status, severity, category = stories.pick_status_severity_category(rng)
        forced = _forced(index)
        status, severity, category = forced[0] or status, forced[1] or severity, forced[2] or category
        near = demo_sla.NEAR_BREACH.get(index)  # re-timed so SLA mails arrive right after start
        if near is not None:
            status, severity = near.status, near.severity
        life = stories.plan_lifecycle(rng, status=status, severity=severity, now=now, window=DEMO_WINDOW)
        if near is not None:
            life = demo_sla.near_breach_life(near, life, now=now)
        drafts.append((life.opened_at, fingerprint, rng, category, life))
    if not drafts:
        return 0
    drafts.sort(key=lambda draft: draft[0])
    references = reserve_references([draft[0] for draft in drafts])
    built = [
        build_story(rng, reference=reference, fingerprint=fingerprint, category=category, life=life, desk=desk)
        for (_, fingerprint, rng, category, life), reference in zip(drafts, references, strict=True)
    ]
    insert_stories(built)
    return len(built)


def insert_stories(built: list[Story]) -> None:
    with given_timestamps(*STORY_MODELS):
        Incident.objects.bulk_create([s.incident for s in built], batch_size=2000)
        AffectedMerchant.objects.bulk_create([a for s in built for a in s.affected], batch_size=2000)
        PartnerEngagement.objects.bulk_create([e for s in built for e in s.engagements], batch_size=2000)
        InvestigationNote.objects.bulk_create([n for s in built for n in s.notes], batch_size=2000)
        Correspondence.objects.bulk_create([m for s in built for m in s.messages], batch_size=2000)
    rows = []
    for story in built:
        for spec in sorted(story.events, key=lambda e: e.at):
            fields = dict(spec.fields)
            if spec.pk_of is not None:
                fields[spec.pk_key] = spec.pk_of.pk
            rows.append(timeline.event(spec.payload(**fields), incident=story.incident, actor=spec.actor, at=spec.at))
    CaseEvent.objects.bulk_create(rows, batch_size=2000)
    refresh_search(incident_ids=[story.incident.pk for story in built])


def _other(language: str) -> str:
    return "en" if language == "es" else "es"


def build_story(rng: random.Random, *, reference: str, fingerprint: str, category: str, life, desk) -> Story:
    users = desk.users
    desk_people = [users[n] for n in ("analyst", "mariana", "diego", "emily", "analyst", "mariana", "diego")]
    owners = [*desk_people, users["partner_manager"], users["lead"]]
    lead, manager = users["lead"], users["partner_manager"]
    status, severity = life.status, life.severity
    scenario = stories.pick_scenario(rng, desk, category, (1, 5))
    language = scenario.language

    source = weighted(rng, stories.SOURCE_WEIGHTS)
    if source == "alert":
        created_by = None
        owner = None if status == Status.NEW and rng.random() < 0.6 else rng.choice(owners)
    else:
        created_by = rng.choice(owners)
        owner = created_by if rng.random() < 0.7 else rng.choice(owners)
    worker = owner or created_by or rng.choice(desk_people)

    initial_severity = severity
    if life.step_time(Status.INVESTIGATING) and rng.random() < 0.15:
        position = SEVERITIES.index(severity)
        neighbours = [SEVERITIES[i] for i in (position - 1, position + 1) if 0 <= i < len(SEVERITIES)]
        initial_severity = rng.choice(neighbours)

    incident = stories.build_incident(
        life=life,
        scenario=scenario,
        reference=reference,
        category=category,
        severity=severity,
        status=status,
        owner=owner,
        created_by=created_by,
        source=source,
        fingerprint=fingerprint,
    )
    story = Story(incident, incident_language=language)

    measured = not (status == Status.NEW and rng.random() < 0.5)
    for merchant in scenario.merchants:
        row = stories.measure_impact(
            rng,
            incident=incident,
            merchant=merchant,
            severity=severity,
            category=category,
            measured=measured,
            at=life.at(rng.uniform(0.005, 0.3)),
        )
        story.affected.append(row)
        story.event(
            life.at(rng.uniform(0.002, 0.004)),
            None if source == "alert" else worker,
            ev.MerchantAdded,
            merchant=merchant.name,
            account_id=merchant.account_id,
            values=None,
        )
    headline = story.affected[0]
    context = stories.text_context(scenario, life, headline, reference)
    title_index = rng.randrange(len(texts.TITLES[category][language]))
    story.titles = {
        lang: titles[title_index].format(**stories.in_language(context, lang))[:200]
        for lang, titles in texts.TITLES[category].items()
    }
    incident.title = story.titles[language]
    incident.summary = texts.SUMMARIES[language][category].format(**context)
    # What partners read: the title and "what we see" in each language (a notice needs its language's).
    for lang in story.titles:
        setattr(incident, f"partner_title_{lang}", story.titles[lang])
        summary = texts.SUMMARIES[lang][category].format(**stories.in_language(context, lang))
        setattr(incident, f"partner_summary_{lang}", summary)
    if status in (Status.RESOLVED, Status.CLOSED):
        incident.root_cause = rng.choice(texts.ROOT_CAUSES[language][category]).format(**context)

    story.event(
        life.opened_at,
        created_by,
        ev.IncidentOpened,
        reference=reference,
        severity=initial_severity,
        category=category,
        source=source,
    )
    if owner is not None and owner != created_by:
        story.event(
            life.at(0.001),
            created_by or owner,
            ev.OwnerChanged,
            was=getattr(created_by, "username", None),
            to=owner.username,
        )
    if initial_severity != severity:
        reason = "severity_up" if SEVERITIES.index(severity) < SEVERITIES.index(initial_severity) else "severity_down"
        story.event(
            life.at(rng.uniform(0.05, 0.4)),
            rng.choice((worker, lead)),
            ev.SeverityChanged,
            was=initial_severity,
            to=severity,
            reason=texts.REASONS[reason][language],
        )
    reopened = False
    for previous, to, at in life.steps:
        reason = ""
        if to == Status.WAITING_ON_PARTNER:
            reason = texts.REASONS["waiting_on_partner"][language]
        elif previous in (Status.RESOLVED, Status.CLOSED) and to == Status.INVESTIGATING:
            reason, reopened = texts.REASONS["reopen"][language], True
        actor = lead if to == Status.CLOSED and rng.random() < 0.5 else worker
        waited_on = scenario.partners[0] if to == Status.WAITING_ON_PARTNER else None
        story.event(
            at,
            actor,
            ev.StatusChanged,
            was=previous,
            to=to,
            reason=reason,
            partner=waited_on.name if waited_on else None,
            partner_code=waited_on.code if waited_on else None,
        )
    if reopened:
        incident.summary += "\n\n" + texts.REASONS["reopen"][language] + "."

    for position, partner in enumerate(scenario.partners):
        engagement = stories.plan_engagement(rng, incident=incident, partner=partner, life=life, primary=position == 0)
        story.engagements.append(engagement)
        story.event(
            engagement.created_at,
            None if source == "alert" and position == 0 else worker,
            ev.PartnerEngaged,
            pk_of=engagement,
            pk_key="engagement",
            partner=partner.name,
            code=partner.code,
            folio="",
            partner_status=PartnerEngagement.PartnerStatus.NOT_NOTIFIED,
        )
        mail.correspond(
            rng, story, engagement, desk=desk, life=life, context=context, author=worker, lead=lead, manager=manager
        )

    _write_notes(rng, story, scenario=scenario, life=life, context=context, author=worker, owners=owners)
    incident.updated_at = max(spec.at for spec in story.events)
    return story


# texts.NOTES in both languages: 0 finding on a BIN, 1 partner folio, 2 call with the partner,
# 3 impact table, 4 mitigation, 5 query. Notes are written in that order, each when it makes sense.
_NOTE_BIN, _NOTE_FOLIO, _NOTE_MITIGATION = 0, 1, 4


def _write_notes(rng, story: Story, *, scenario, life, context, author, owners) -> None:
    status = life.status
    acknowledged = [e for e in story.engagements if e.folio]
    eligible = [
        index
        for index in range(len(texts.NOTES["en"]))
        if not (index == _NOTE_BIN and not scenario.bins)
        and not (index == _NOTE_FOLIO and not acknowledged)
        and not (index == _NOTE_MITIGATION and status not in (Status.MITIGATED, Status.RESOLVED, Status.CLOSED))
    ]
    low, high = {Status.NEW: (0, 1), Status.TRIAGING: (0, 2)}.get(status, (1, 4))
    chosen = sorted(rng.sample(eligible, min(len(eligible), rng.randint(low, high))))
    moments = sorted(life.at(rng.uniform(0.08, 0.97)) for _ in chosen)
    for index, written in zip(chosen, moments, strict=True):
        language = story.incident_language if rng.random() < 0.75 else _other(story.incident_language)
        engagement = rng.choice(acknowledged) if acknowledged else story.engagements[0]
        if index == _NOTE_FOLIO:
            written = max(written, engagement.acknowledged_at + (life.anchor - engagement.acknowledged_at) * 0.05)
        elif index == _NOTE_MITIGATION:
            written = life.mitigated_at or life.at(0.95)
        body = texts.NOTES[language][index].format(
            **{**context, "partner": engagement.partner.name, "folio": engagement.folio}
        )
        writer = author if rng.random() < 0.75 else rng.choice(owners)
        note = InvestigationNote(incident=story.incident, author=writer, body=body, created_at=written)
        if rng.random() < 0.1:
            note.edited_at = written + (life.horizon - written) * 0.3
        story.notes.append(note)
        story.event(written, writer, ev.NoteAdded, pk_of=note, pk_key="note")
