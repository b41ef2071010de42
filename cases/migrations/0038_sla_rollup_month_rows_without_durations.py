# The rollups' month rows keep counts only: the durations' month rows hold the month's durations,
# and the reports read month rows for their counts, so the rows they read become narrow. The table
# is rewritten (VACUUM FULL: a few seconds at a million incidents, the table locked meanwhile), so
# the month rows lie together instead of one to a page.

from django.db import migrations

EMPTY = "UPDATE cases_slarollup SET wall = '{}', business = '{}' WHERE span = 'month'"
# Back: each month row's durations are its days' concatenated in day order, as they were written.
CONCATENATE = """
    UPDATE cases_slarollup m SET wall = d.wall, business = d.business
    FROM (
        SELECT date_trunc('month', r.day)::date AS month, r.family, r.metric, r.severity, r.partner_id, r.owner_id,
               coalesce(array_agg(u.wall ORDER BY r.day, u.n) FILTER (WHERE u.n IS NOT NULL), '{}') AS wall,
               coalesce(array_agg(u.business ORDER BY r.day, u.n) FILTER (WHERE u.n IS NOT NULL), '{}') AS business
        FROM cases_slarollup r
        LEFT JOIN LATERAL unnest(r.wall, r.business) WITH ORDINALITY AS u(wall, business, n) ON true
        WHERE r.span = 'day'
        GROUP BY 1, 2, 3, 4, 5, 6
    ) AS d
    WHERE m.span = 'month' AND m.day = d.month AND m.family = d.family AND m.metric = d.metric
      AND m.severity = d.severity AND m.partner_id IS NOT DISTINCT FROM d.partner_id
      AND m.owner_id IS NOT DISTINCT FROM d.owner_id
"""
REWRITE = "VACUUM FULL ANALYZE cases_slarollup"


class Migration(migrations.Migration):
    atomic = False  # VACUUM runs outside a transaction

    dependencies = [
        ("cases", "0037_sla_rollup_times_microseconds"),
    ]

    operations = [
        migrations.RunSQL(EMPTY, CONCATENATE),
        migrations.RunSQL(REWRITE, migrations.RunSQL.noop),
    ]
