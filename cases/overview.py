"""The overview's counters (`cases.models.overview`): rebuilt from the incidents and clocks, and checked.

The triggers of migration `0032_overview_counters` keep them exact in every transaction that
writes an incident or a clock (services, admin, the sweep's statement, the bulk seed's COPY):
a statement's old rows are subtracted and its new rows added, per UTC hour and per severity and
owner. `overview_counters_rebuild` recomputes them whole (after restoring a dump without them,
or a TRUNCATE, which fires no row trigger); `overview_counters_differences` compares them with a
recompute, which is what the tests and `manage.py rebuild_overview_counters --check` assert.
"""

from __future__ import annotations

from django.db import connection, transaction

OPEN = "('new', 'triaging', 'investigating', 'waiting_on_partner', 'mitigated')"

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


@transaction.atomic
def overview_counters_rebuild() -> None:
    """Recompute every counter from the incidents and clocks (the tables locked meanwhile, so no
    write is counted twice or lost) and forget the cached medians."""
    with connection.cursor() as cursor:
        cursor.execute("LOCK TABLE cases_incident, cases_slaclock IN SHARE MODE")
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
    """Counter rows that differ from a recompute (zero rows and missing rows are the same): empty when exact."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT 'hour', coalesce(k.hour, r.hour)::text,
                   row(k.opened, k.resolved, k.acknowledged, k.met, k.breached)::text,
                   row(r.opened, r.resolved, r.acknowledged, r.met, r.breached)::text
            FROM (SELECT * FROM cases_overviewhour WHERE (opened, resolved, acknowledged, met, breached)
                  <> (0, 0, 0, 0, 0)) AS k
            FULL JOIN ({HOURS_SQL}) AS r ON r.hour = k.hour
            WHERE row(k.opened, k.resolved, k.acknowledged, k.met, k.breached)
                  IS DISTINCT FROM row(r.opened, r.resolved, r.acknowledged, r.met, r.breached)
            UNION ALL
            SELECT 'open', coalesce(k.severity, r.severity) || '/' || coalesce(k.owner_id, r.owner_id),
                   k.count::text, r.count::text
            FROM (SELECT * FROM cases_overviewopen WHERE count <> 0) AS k
            FULL JOIN ({OPEN_SQL}) AS r ON r.severity = k.severity AND r.owner_id = k.owner_id
            WHERE k.count IS DISTINCT FROM r.count
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()
