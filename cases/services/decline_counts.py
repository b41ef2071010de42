"""Decline-code counts of an incident: how often each code answered before and during the outage.

One table (`IncidentDeclineCode`) beside the incident's list of codes seen (`decline_codes`),
kept in step both ways: a count written here adds its code to the list, a code removed here
leaves the list, and a list edited on the details form adds rows (counts unknown) or drops them.
Alert intake and analysts write through `decline_counts_record`; the latest measurement
replaces a code's counts (measurement windows overlap: adding would double-count), so an alert
sent again changes nothing. Each change goes on the timeline with who and when.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import Incident, IncidentDeclineCode
from cases.models.incident import MAX_DECLINE_CODES
from cases.timeline.events import DeclineCountsChanged
from payhealth.pan import card_number_error, contains_card_number

CODE_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")
MAX_COUNT = 10**12


def clean_decline_code(value) -> str:
    """A response code as typed or sent, trimmed; a field error for anything else."""
    code = str(value or "").strip()
    if contains_card_number(code):
        raise ValidationError({"code": card_number_error()})
    if not CODE_PATTERN.match(code):
        raise ValidationError({"code": _("A decline code has 1 to 64 characters, e.g. 05 or do_not_honor.")})
    return code


def _counts(row: IncidentDeclineCode | None) -> dict | None:
    if row is None:
        return None
    return {"count_before": row.count_before, "count_during": row.count_during}


def _check_count(name: str, value, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValidationError({name: _("Enter a whole number from 0 to 1,000,000,000,000.")})
    return value


@transaction.atomic
def decline_counts_record(
    *,
    incident: Incident,
    actor,
    counts: Iterable[dict],
    source: str = IncidentDeclineCode.Source.MANUAL,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    on_timeline: bool = True,
) -> list[IncidentDeclineCode]:
    """Set the counts of each code in `counts` ({"code", "count_during", optional "count_before"}:
    an absent `count_before` keeps the one recorded). New codes join the incident's codes seen.
    Nothing changes when the figures are the same; one timeline row lists what changed, unless
    `on_timeline` is False (alert intake: its own "alert received" row carries the counts)."""
    if window_start and window_end and window_end <= window_start:
        raise ValidationError({"window_end": _("The window must end after it starts.")})
    cleaned = {}
    for item in counts:
        code = clean_decline_code(item.get("code"))
        during = _check_count("count_during", item.get("count_during", 0), allow_none=False)
        entry = {"count_during": during}
        if "count_before" in item:
            entry["count_before"] = _check_count("count_before", item["count_before"], allow_none=True)
        cleaned[code] = entry
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    rows = {
        row.code: row for row in IncidentDeclineCode.objects.select_for_update().filter(incident=locked).order_by("pk")
    }
    new_codes = [code for code in cleaned if code not in locked.decline_codes]
    if len(locked.decline_codes) + len(new_codes) > MAX_DECLINE_CODES:
        raise ValidationError(
            {"code": _("An incident lists at most %(max)d decline codes.") % {"max": MAX_DECLINE_CODES}}
        )
    changes, saved = {}, []
    for code, entry in cleaned.items():
        row = rows.get(code)
        before = _counts(row)
        if row is None:
            row = IncidentDeclineCode(incident=locked, code=code)
        for name, value in entry.items():
            setattr(row, name, value)
        if window_start is not None or window_end is not None:
            row.window_start, row.window_end = window_start, window_end
        after = _counts(row)
        if before == after and row.pk is not None:
            saved.append(row)
            continue
        row.source = source
        row.updated_by = actor if getattr(actor, "pk", None) else None
        row.save()
        saved.append(row)
        changes[code] = {"from": before, "to": after}
    if new_codes:
        locked.decline_codes = [*locked.decline_codes, *new_codes]
        locked.save(update_fields=["decline_codes", "updated_at"])
    if changes and on_timeline:
        timeline.record(DeclineCountsChanged(source=source, changes=changes), incident=locked, actor=actor)
    return saved


@transaction.atomic
def decline_count_remove(*, incident: Incident, actor, code: str) -> None:
    """Take a code off the incident: its counts and its place in the codes seen."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    row = IncidentDeclineCode.objects.select_for_update().filter(incident=locked, code=code).order_by("pk").first()
    if row is None and code not in locked.decline_codes:
        raise ValidationError(_("This decline code is no longer on the incident."), code="gone")
    before = _counts(row)
    if row is not None:
        row.delete()
    if code in locked.decline_codes:
        locked.decline_codes = [item for item in locked.decline_codes if item != code]
        locked.save(update_fields=["decline_codes", "updated_at"])
    changes = {code: {"from": before, "to": None}}
    timeline.record(
        DeclineCountsChanged(source=IncidentDeclineCode.Source.MANUAL, changes=changes), incident=locked, actor=actor
    )


def decline_counts_follow_codes(*, incident: Incident) -> None:
    """After the list of codes seen was edited directly: a row (counts unknown) for each new
    code, none for a code taken off. Runs inside the caller's transaction; the caller's own
    timeline row already says the list changed."""
    codes = list(dict.fromkeys(incident.decline_codes))
    IncidentDeclineCode.objects.filter(incident=incident).exclude(code__in=codes).delete()
    have = set(IncidentDeclineCode.objects.filter(incident=incident).order_by().values_list("code", flat=True))
    IncidentDeclineCode.objects.bulk_create(
        [IncidentDeclineCode(incident=incident, code=code, count_during=0) for code in codes if code not in have],
        ignore_conflicts=True,
    )
