"""The bulk seed's output for a fixed seed and instant, pinned: making the seed faster must not
change a single clock, clock event or timeline row it writes."""

import hashlib
import json
import os
from datetime import UTC, datetime

import pytest
from django.db import connection

from demo import seed as demo_seed

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
# The sha256 of `seeded_rows()` after `seed_bulk(60, now=NOW)` on a fresh database. Change it only
# with a change that means to change what the seed writes, and say so in its commit.
PINNED = "433259774be9d8f3fcd67d2313594e40797fc382406eb9456e8c96abaad221d3"


def seeded_rows() -> str:
    """The clocks, their events, the timeline and the incidents' columns the replay reads, in id
    order, as canonical text (ids are those of a fresh database: the test resets the sequences)."""
    queries = {
        "incidents": "SELECT id, reference, status, severity, category, created_at, updated_at"
        " FROM cases_incident ORDER BY id",
        "engagements": "SELECT * FROM cases_partnerengagement ORDER BY id",
        "clocks": "SELECT * FROM cases_slaclock ORDER BY id",
        "clock_events": "SELECT * FROM cases_slaclockevent ORDER BY id",
        "timeline": "SELECT incident_id, actor_id, kind, created_at, data FROM cases_caseevent ORDER BY id",
    }
    dump = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            columns = [column.name for column in cursor.description]
            dump[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return json.dumps(dump, sort_keys=True, default=str, indent=0)


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_the_bulk_seed_writes_exactly_the_pinned_rows():
    demo_seed.seed_bulk(60, now=NOW)

    rows = seeded_rows()
    if dump := os.environ.get("PAYHEALTH_DUMP_SEEDED_ROWS"):  # to diff two versions of the seed
        with open(dump, "w") as out:
            out.write(rows)
    assert rows.count('"metric"') > 250  # clocks of every kind were written, not an empty desk
    assert hashlib.sha256(rows.encode()).hexdigest() == PINNED
