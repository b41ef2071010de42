"""The overview's counters (`cases.models.overview`): folded, rebuilt from the incidents and clocks, and checked.

The triggers of migration `0033_overview_counters` append, in every statement that writes an
incident or a clock (services, admin, the sweep's statement, the bulk seed's COPY), that
statement's change as delta rows: its old rows subtracted and its new rows added, per UTC hour
and per severity and owner. They only insert, so a writer holds no lock on a shared row: two
writers never wait for each other or deadlock on the counters. A figure is its counter plus its
pending deltas, summed in the reader's one query. `overview_counters_fold` moves the deltas into
the counters (beat, every minute; and the rebuild), one statement per table, so a reader sees the
deltas either pending or folded and the sum is the same. `overview_counters_rebuild` recomputes
the counters whole (after restoring a dump without them, or a TRUNCATE, which fires no row
trigger); `overview_counters_differences` compares counters plus deltas with a recompute, which is
what the tests and `manage.py rebuild_overview_counters --check` assert.
"""

from __future__ import annotations

from django.db import connection, transaction

from cases.models.incident import OPEN_STATUSES

# The open statuses as the recompute reads them (the migration's triggers hold their own frozen
# copy: a difference between the two shows in `overview_counters_differences`).
OPEN = "(" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"

# Every counter from the source rows, in the shape of the tables (hours with all zeros left out).
HOURS_SQL = """
    SELECT hour, sum(opened)::int AS opened, sum(resolved)::int AS resolved,
           sum(acknowledged)::int AS acknowledged, sum(met)::int AS met, sum(breached)::int AS breached
    FROM (
        SELECT date_trunc('hour', created_at, 'UTC') AS hour, 1 AS opened, 0 AS resolved,
               0 AS acknowledged, 0 AS met, 0 AS breached FROM cases_incident
        UNION ALL
        SELECT date_trunc('hour', resolved_at, 'UTC'), 0, 1, 0, 0, 0 FROM cases_incident
        WHERE resolved_at IS NOT NULL
        UNION ALL
        SELECT date_trunc('hour', stopped_at, 'UTC'), 0, 0, 1, 0, 0 FROM cases_slaclock
        WHERE family = 'ours' AND metric = 'acknowledge' AND state IN ('met', 'breached') AND stopped_at IS NOT NULL
        UNION ALL
        SELECT date_trunc('hour', stopped_at, 'UTC'), 0, 0, 0, 1, 0 FROM cases_slaclock
        WHERE state = 'met' AND stopped_at IS NOT NULL
        UNION ALL
        SELECT date_trunc('hour', coalesce(breached_at, stopped_at), 'UTC'), 0, 0, 0, 0, 1 FROM cases_slaclock
        WHERE state <> 'met' AND (state = 'breached' OR breached_at IS NOT NULL)
          AND coalesce(breached_at, stopped_at) IS NOT NULL
    ) AS counted
    GROUP BY hour
"""
OPEN_SQL = f"""
    SELECT severity, coalesce(owner_id, 0) AS owner_id, count(*)::int AS count FROM cases_incident
    WHERE status IN {OPEN} GROUP BY 1, 2
"""


# One fold at a time (advisory, transaction-scoped): writers never take it.
_FOLD_LOCK_KEY = 0x4F564631

# Each statement deletes the deltas its snapshot sees (committed ones: a writer's uncommitted rows
# stay for the next fold) and adds them to the counters, in one step.
FOLD_HOURS_SQL = """
    WITH taken AS (DELETE FROM cases_overviewhourdelta RETURNING *)
    INSERT INTO cases_overviewhour AS t (hour, opened, resolved, acknowledged, met, breached, changes)
    SELECT hour, sum(opened), sum(resolved), sum(acknowledged), sum(met), sum(breached), sum(changes)
    FROM taken GROUP BY hour ORDER BY hour
    ON CONFLICT (hour) DO UPDATE SET opened = t.opened + EXCLUDED.opened, resolved = t.resolved + EXCLUDED.resolved,
        acknowledged = t.acknowledged + EXCLUDED.acknowledged, met = t.met + EXCLUDED.met,
        breached = t.breached + EXCLUDED.breached, changes = t.changes + EXCLUDED.changes
"""
FOLD_OPEN_SQL = """
    WITH taken AS (DELETE FROM cases_overviewopendelta RETURNING *)
    INSERT INTO cases_overviewopen AS t (severity, owner_id, count)
    SELECT severity, owner_id, sum(count) FROM taken GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (severity, owner_id) DO UPDATE SET count = t.count + EXCLUDED.count
"""

# The counters as the overview reads them: each plus its pending deltas (non-zero ones).
COUNTED_HOURS_SQL = """
    SELECT hour, sum(opened) AS opened, sum(resolved) AS resolved, sum(acknowledged) AS acknowledged,
           sum(met) AS met, sum(breached) AS breached
    FROM (SELECT hour, opened, resolved, acknowledged, met, breached FROM cases_overviewhour
          UNION ALL
          SELECT hour, opened, resolved, acknowledged, met, breached FROM cases_overviewhourdelta) AS summed
    GROUP BY hour HAVING (sum(opened), sum(resolved), sum(acknowledged), sum(met), sum(breached)) <> (0, 0, 0, 0, 0)
"""
COUNTED_OPEN_SQL = """
    SELECT severity, owner_id, sum(count) AS count
    FROM (SELECT severity, owner_id, count FROM cases_overviewopen
          UNION ALL
          SELECT severity, owner_id, count FROM cases_overviewopendelta) AS summed
    GROUP BY 1, 2 HAVING sum(count) <> 0
"""


@transaction.atomic
def overview_counters_fold(*, wait: bool = False) -> int:
    """Move the pending deltas into the counters; the number of counter rows written.

    Returns 0 at once when another fold is running (`wait=False`, beat's case: the next minute
    folds what it left); `wait=True` waits for it instead."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FOLD_LOCK_KEY])
        else:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_FOLD_LOCK_KEY])
            if not cursor.fetchone()[0]:
                return 0
        cursor.execute(FOLD_HOURS_SQL)
        written = cursor.rowcount
        cursor.execute(FOLD_OPEN_SQL)
        return written + cursor.rowcount


@transaction.atomic
def overview_counters_rebuild() -> None:
    """Recompute every counter from the incidents and clocks (the tables locked meanwhile, so no
    write is counted twice or lost) and forget the cached medians."""
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE cases_incident, cases_slaclock IN SHARE MODE")
        # Every delta is committed now (no writer runs): folded first, so the `changes` totals
        # below include them.
        overview_counters_fold(wait=True)
        cursor.execute("DELETE FROM cases_overviewweekmedian")
        cursor.execute("SELECT coalesce(max(changes), 0) FROM cases_overviewhour")
        # The `changes` totals must keep growing across a rebuild, or a cached median could match
        # again: every hour restarts above the largest total ever written.
        (base,) = cursor.fetchone()
        cursor.execute("DELETE FROM cases_overviewhour")
        cursor.execute(
            "INSERT INTO cases_overviewhour (hour, opened, resolved, acknowledged, met, breached, changes) "
            f"SELECT hour, opened, resolved, acknowledged, met, breached, %s FROM ({HOURS_SQL}) AS hours",
            [base + 1],
        )
        cursor.execute("DELETE FROM cases_overviewopen")
        cursor.execute(f"INSERT INTO cases_overviewopen (severity, owner_id, count) {OPEN_SQL}")


def overview_counters_differences() -> list[tuple]:
    """Counters (plus their pending deltas) that differ from a recompute (zero rows and missing rows
    are the same): empty when exact."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT 'hour', coalesce(k.hour, r.hour)::text,
                   row(k.opened, k.resolved, k.acknowledged, k.met, k.breached)::text,
                   row(r.opened, r.resolved, r.acknowledged, r.met, r.breached)::text
            FROM ({COUNTED_HOURS_SQL}) AS k
            FULL JOIN ({HOURS_SQL}) AS r ON r.hour = k.hour
            WHERE row(k.opened, k.resolved, k.acknowledged, k.met, k.breached)
                  IS DISTINCT FROM row(r.opened, r.resolved, r.acknowledged, r.met, r.breached)
            UNION ALL
            SELECT 'open', coalesce(k.severity, r.severity) || '/' || coalesce(k.owner_id, r.owner_id),
                   k.count::text, r.count::text
            FROM ({COUNTED_OPEN_SQL}) AS k
            FULL JOIN ({OPEN_SQL}) AS r ON r.severity = k.severity AND r.owner_id = k.owner_id
            WHERE k.count IS DISTINCT FROM r.count
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()
