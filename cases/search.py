"""Full-text search over incidents, in Spanish and English.

`Incident.search_vector` holds the reference, title, summary and root cause, the names of the
affected merchants and engaged partners, and the investigation notes, each stemmed both as
Spanish and as English (the desk writes in both). Services that change any of these call
`refresh_search` in their transaction; the GIN index makes `search` fast on large desks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection
from django.db.models import BooleanField, FloatField, QuerySet
from django.db.models.expressions import RawSQL

_DOCUMENT = """
    setweight(to_tsvector('simple', coalesce(i.reference, '')), 'A')
    || setweight(to_tsvector('spanish', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('english', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('spanish', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('english', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('simple', coalesce((
        SELECT string_agg(m.name || ' ' || m.account_id, ' ')
        FROM cases_affectedmerchant am JOIN cases_merchant m ON m.id = am.merchant_id
        WHERE am.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('simple', coalesce((
        SELECT string_agg(p.name || ' ' || p.code, ' ')
        FROM cases_partnerengagement e JOIN partners_partner p ON p.id = e.partner_id
        WHERE e.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('spanish', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
    || setweight(to_tsvector('english', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
"""

_REFERENCE = re.compile(r"^\s*PH-\d{4}-\d{1,6}\s*$", re.IGNORECASE)


def refresh_search(*, incident_ids: Iterable[int]) -> None:
    """Recompute the search document of the given incidents (call inside the changing transaction)."""
    ids = list(incident_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE cases_incident i SET search_vector = {_DOCUMENT} WHERE i.id = ANY(%s)", [ids])


def search(queryset: QuerySet, text: str) -> QuerySet:
    """Incidents matching `text` (web-search syntax: words, "phrases", -exclusions), best first.

    A full reference (PH-2026-000123) matches that incident exactly.
    """
    text = (text or "").strip()
    if not text:
        return queryset
    if _REFERENCE.match(text):
        return queryset.filter(reference=text.strip().upper())  # stored upper-case: the unique index answers
    query = (
        "(websearch_to_tsquery('spanish', %s) || websearch_to_tsquery('english', %s)"
        " || websearch_to_tsquery('simple', %s))"
    )
    params = [text, text, text]
    return (
        queryset.alias(
            search_match=RawSQL(f"cases_incident.search_vector @@ {query}", params, output_field=BooleanField())
        )
        .filter(search_match=True)
        .annotate(
            search_rank=RawSQL(f"ts_rank(cases_incident.search_vector, {query})", params, output_field=FloatField())
        )
    )
