# The durations' rows keep whole microseconds (bigint[]) instead of intervals, and our clocks'
# rows count their values in buckets four times finer than the partners': the rows are derived
# from the rollups' day rows, so they are emptied, retyped and filled again from those.

import importlib

import django.contrib.postgres.fields
from django.db import migrations, models


def bounds(steps: int) -> list[int]:
    return [-1, 0] + [round(1e6 * 2 ** (j / steps)) for j in range(99 * steps // 4 + 1)]


# The buckets of `cases.sla.rollups.TIME_BUCKETS` when this migration was written, in microseconds.
BOUNDS = {"ours": bounds(16), "partner": bounds(8)}
ENDS = (
    "(ARRAY(SELECT width_bucket(b.bound, {values}) FROM unnest("
    "CASE WHEN s.family = 'ours' THEN %(ours)s::bigint[] ELSE %(partner)s::bigint[] END"
    ") WITH ORDINALITY AS b(bound, j) ORDER BY b.j) || cardinality({values}))"
)
MICROSECONDS = "round(extract(epoch FROM {value}) * 1000000)::bigint"
FILL = """
    INSERT INTO cases_slarolluptimes (span, day, family, metric, severity, partner_id, wall, business, wall_ends, business_ends)
    SELECT s.span, s.day, s.family, s.metric, s.severity, s.partner_id, s.wall, s.business, {wall_ends}, {business_ends}
    FROM (
        SELECT '{span}' AS span, {day} AS day, r.family, r.metric, r.severity, r.partner_id,
               array_agg({wall} ORDER BY {wall}) AS wall, array_agg({business} ORDER BY {business}) AS business
        FROM {source} r CROSS JOIN LATERAL unnest(r.wall, r.business) AS u(wall, business)
        WHERE r.span = 'day' AND r.metric IN ('acknowledge', 'resolve')
        GROUP BY 1, 2, 3, 4, 5, 6
    ) AS s
"""


def retype(target: str, values: str, ends: str) -> str:
    """Empty the table, type the durations `target`, and store the values' arrays with the storage
    `values` and their bucket ends with `ends`. Forwards, the values out of line uncompressed
    (EXTERNAL: a slice reads them without decompressing hundreds of kilobytes) and the ends in the
    row uncompressed (PLAIN: summing them subscripts each end of every row, which must not
    decompress the array each time)."""
    return (
        "DELETE FROM cases_slarolluptimes; ALTER TABLE cases_slarolluptimes "
        f"ALTER COLUMN wall TYPE {target} USING '{{}}', ALTER COLUMN business TYPE {target} USING '{{}}', "
        f"ALTER COLUMN wall SET STORAGE {values}, ALTER COLUMN business SET STORAGE {values}, "
        f"ALTER COLUMN wall_ends SET STORAGE {ends}, ALTER COLUMN business_ends SET STORAGE {ends}"
    )


def fill_times(apps, schema_editor):
    """The durations' day rows from the rollups' day rows, then their month rows from those (as
    `cases.sla.rollups` writes them after a fold), and the table's statistics."""
    ends = {"wall_ends": ENDS.format(values="s.wall"), "business_ends": ENDS.format(values="s.business")}
    with schema_editor.connection.cursor() as cursor:
        for span, day, source, convert in (
            ("day", "r.day", "cases_slarollup", MICROSECONDS),
            ("month", "date_trunc('month', r.day)::date", "cases_slarolluptimes", "{value}"),
        ):
            values = {"wall": convert.format(value="u.wall"), "business": convert.format(value="u.business")}
            sql = FILL.format(span=span, day=day, source=source, **values, **ends)
            cursor.execute(sql, BOUNDS)
        cursor.execute("ANALYZE cases_slarolluptimes")


def fill_intervals(apps, schema_editor):
    """Back to intervals: the rows as the previous migration filled them."""
    importlib.import_module("cases.migrations.0035_sla_rollup_times").fill_times(apps, schema_editor)


def durations(name: str, base) -> migrations.AlterField:
    return migrations.AlterField(
        model_name="slarolluptimes",
        name=name,
        field=django.contrib.postgres.fields.ArrayField(
            base_field=base, default=list, size=None, verbose_name=f"{name} times (µs)"
        ),
    )


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0036_queue_status_rank_index"),
    ]

    operations = [
        # Unapplied, the operations run backwards: the rows are filled as intervals again last.
        migrations.RunPython(migrations.RunPython.noop, fill_intervals),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    retype("bigint[]", values="EXTERNAL", ends="PLAIN"),
                    retype("interval[]", values="EXTENDED", ends="EXTENDED"),
                ),
            ],
            state_operations=[durations("wall", models.BigIntegerField()), durations("business", models.BigIntegerField())],
        ),
        migrations.RunPython(fill_times, migrations.RunPython.noop),
    ]
