"""Full-text search over incidents, in Spanish and English, forgiving of accents, case and partial references.

`Incident.search_vector` holds the reference, title, summary and root cause, the names of the
affected merchants and engaged partners, and the investigation notes, each stemmed both as
Spanish and as English (the desk writes in both). Services that change any of these call
`refresh_search` in their transaction; the GIN index makes `search` fast on large desks.

The document and the query go through the same text search configurations (`payhealth_es`,
`payhealth_en`, `payhealth_simple`, created by the `search_unaccent` migration): each runs
PostgreSQL's `unaccent` before its dictionary, so "pizzeria" finds "Pizzería" and "PIZZERÍA"
finds "Pizzeria".

A number or part of a reference ("183", "000183", "2026-000183", "ph-2026-183") is turned into
the whole references it can mean (`reference_candidates`), PH-<year>-<six digits> for the years
that have incidents, which the unique index on `reference` answers.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar

from django.db import connection
from django.db.models import BooleanField, Case, FloatField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cases.models import ReferenceCounter

# The text search configurations of the `search_unaccent` migration: unaccent, then the dictionary.
SPANISH = "payhealth_es"
ENGLISH = "payhealth_en"
SIMPLE = "payhealth_simple"

_DOCUMENT = f"""
    setweight(to_tsvector('{SIMPLE}', coalesce(i.reference, '')), 'A')
    || setweight(to_tsvector('{SPANISH}', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('{ENGLISH}', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('{SPANISH}', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('{ENGLISH}', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('{SIMPLE}', coalesce((
        SELECT string_agg(m.name || ' ' || m.account_id, ' ')
        FROM cases_affectedmerchant am JOIN cases_merchant m ON m.id = am.merchant_id
        WHERE am.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('{SIMPLE}', coalesce((
        SELECT string_agg(p.name || ' ' || p.code, ' ')
        FROM cases_partnerengagement e JOIN partners_partner p ON p.id = e.partner_id
        WHERE e.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('{SPANISH}', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
    || setweight(to_tsvector('{ENGLISH}', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
"""

_QUERY = (
    f"(websearch_to_tsquery('{SPANISH}', %s) || websearch_to_tsquery('{ENGLISH}', %s)"
    f" || websearch_to_tsquery('{SIMPLE}', %s))"
)

# Longer text is cut here: nobody types more into a search box, and the query stays cheap.
MAX_SEARCH_LENGTH = 500
# A reference with its year (PH-2026-000183, ph-2026-183, 2026-000183, 2026/183): that year only.
_WITH_YEAR = re.compile(r"^(?:PH[\s-]*)?(\d{4})[\s/-]+(\d{1,9})$", re.IGNORECASE)
# A number alone, or after the prefix (183, 000183, PH-183): that number in every year.
_NUMBER = re.compile(r"^(?:PH[\s-]*)?(\d{1,9})$", re.IGNORECASE)
_MAX_NUMBER = 999_999  # six digits
# Years looked at for a number without its year: the most recent ones (a desk's lifetime).
_MAX_YEARS = 30


# Inside `deferred_search_refresh`, the incidents whose document to recompute, else None.
_deferred_ids: ContextVar[set[int] | None] = ContextVar("deferred_search_refresh", default=None)


def refresh_search(*, incident_ids: Iterable[int]) -> None:
    """Recompute the search document of the given incidents (call inside the changing transaction).

    Inside `deferred_search_refresh` the ids are only noted, and recomputed once at its end."""
    deferred = _deferred_ids.get()
    if deferred is not None:
        deferred.update(incident_ids)
        return
    _refresh_now(incident_ids)


@contextlib.contextmanager
def deferred_search_refresh() -> Iterator[None]:
    """Many writes, one search refresh: every `refresh_search` inside is collected and run as one
    UPDATE when the block ends without an error (use it inside the writing transaction). A batch
    of alerts touching the same incident recomputes its document once instead of per change."""
    if _deferred_ids.get() is not None:  # nested: the outer block refreshes
        yield
        return
    ids: set[int] = set()
    token = _deferred_ids.set(ids)
    try:
        yield
    finally:
        _deferred_ids.reset(token)
    _refresh_now(ids)


def _refresh_now(incident_ids: Iterable[int]) -> None:
    ids = sorted(incident_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE cases_incident i SET search_vector = {_DOCUMENT} WHERE i.id = ANY(%s)", [ids])


def incidents_insert_from(cursor, table: str, columns: Sequence[str]) -> int:
    """Insert the incidents staged in `table` (laid out as the incident table) with their search
    document, computed in the same statement; returns how many were inserted.

    For bulk loads (`demo.bulk`): computing the document as the row is written, instead of
    `refresh_search` after it, writes each incident once. Their affected merchants, engagements
    and notes must be written first (the foreign keys are checked at commit).
    """
    names = ", ".join(column for column in columns if column != "search_vector")
    staged = ", ".join(f"i.{column}" for column in columns if column != "search_vector")
    cursor.execute(f"INSERT INTO cases_incident ({names}, search_vector) SELECT {staged}, {_DOCUMENT} FROM {table} i")
    return cursor.rowcount


def _clean(text: str | None) -> str:
    # PostgreSQL refuses NUL in text; it never means anything in a search.
    return (text or "").replace("\x00", " ").strip()[:MAX_SEARCH_LENGTH].strip()


def _parse_reference(text: str) -> tuple[int | None, int] | None:
    """(year or None, number) when `text` is a reference or part of one, else None."""
    text = text.strip()
    if match := _WITH_YEAR.match(text):
        year, number = int(match[1]), int(match[2])
    elif match := _NUMBER.match(text):
        year, number = None, int(match[1])
    else:
        return None
    if not 1 <= number <= _MAX_NUMBER:
        return None
    return year, number


def is_reference_with_year(text: str) -> bool:
    """Whether `text` names one reference whole, with its year ("ph-2026-183", "2026-000183")."""
    parsed = _parse_reference(_clean(text))
    return parsed is not None and parsed[0] is not None


def reference_candidates(text: str) -> list[str]:
    """The whole references `text` can mean, newest year first: "183" → PH-2026-000183, PH-2025-000183
    (for each year that has issued that number); "ph-2026-183" → PH-2026-000183; words → [].

    Exact values, so a lookup on them is answered by the unique index on `reference`.
    """
    parsed = _parse_reference(_clean(text))
    if parsed is None:
        return []
    year, number = parsed
    if year is not None:
        years = [year]
    else:
        issued = ReferenceCounter.objects.filter(last__gte=number).order_by("-year").values_list("year", flat=True)
        years = list(issued[:_MAX_YEARS])
        if not years:
            years = [timezone.now().year]
    return [f"PH-{year:04d}-{number:06d}" for year in years]


# Up to this many matches the search is answered by their ids (`few_matches`).
FEW_MATCHES = 1000


def few_matches(text: str, candidates: list[str]) -> list[int] | None:
    """The ids of every incident matching `text` (or one of the reference `candidates`) when
    there are at most FEW_MATCHES of them, else None. One query, cheap either way.

    PostgreSQL guesses full-text matches from word statistics and is often wrong by orders of
    magnitude (a rare two-word search guessed at thousands of rows and having five, or a word
    absent from the statistics guessed at a handful and having thousands). Trusting the guess, a
    page ordered by date or id walks that index backwards re-checking the wide search vectors
    of every row (seconds on a large desk) where the GIN index had the handful at once. The
    match set is therefore read first in a MATERIALIZED CTE, planned alone and without the
    outer LIMIT: the GIN index for anything but the commonest words (a scan of the table finds
    those at once), and read only up to FEW_MATCHES + 1 rows.
    """
    condition = f"i.search_vector @@ {_QUERY}"
    params: list = [text, text, text]
    if candidates:
        condition = f"({condition} OR i.reference = ANY(%s))"
        params.append(candidates)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH matches AS MATERIALIZED (SELECT i.id FROM cases_incident i WHERE {condition})"
            " SELECT id FROM matches LIMIT %s",
            [*params, FEW_MATCHES + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= FEW_MATCHES else None


def search(queryset: QuerySet, text: str) -> QuerySet:
    """Incidents matching `text` (web-search syntax: words, "phrases", -exclusions), best first
    by `search_rank`; accents and case do not matter.

    A reference with its year (PH-2026-000183, ph-2026-183, 2026-183) matches that incident
    alone; a number ("183", "000183") matches the incidents numbered so in any year, and the
    incidents whose text holds it.
    """
    text = _clean(text)
    if not text:
        return queryset
    parsed = _parse_reference(text)
    candidates = reference_candidates(text)
    if parsed is not None and parsed[0] is not None:
        return queryset.filter(reference__in=candidates)  # stored upper-case: the unique index answers
    params = [text, text, text]
    matches_text = RawSQL(f"cases_incident.search_vector @@ {_QUERY}", params, output_field=BooleanField())
    rank = RawSQL(f"ts_rank(cases_incident.search_vector, {_QUERY})", params, output_field=FloatField())
    few = few_matches(text, candidates)
    if few is not None:
        # The few matching ids stand for the text search: every later plan knows how many rows
        # it has (the primary key answers) instead of trusting a full-text estimate.
        return queryset.filter(pk__in=few).annotate(
            search_rank=rank
            if not candidates
            else Case(When(reference__in=candidates, then=Value(1.0)), default=rank, output_field=FloatField())
        )
    if not candidates:
        return queryset.alias(search_match=matches_text).filter(search_match=True).annotate(search_rank=rank)
    return (
        queryset.alias(search_match=matches_text)
        .filter(Q(search_match=True) | Q(reference__in=candidates))
        .annotate(
            # A reference's own incident comes before those that merely mention its number.
            search_rank=Case(
                When(reference__in=candidates, then=Value(1.0)),
                default=rank,
                output_field=FloatField(),
            )
        )
    )
