"""Search that ignores accents: PostgreSQL's unaccent before each text search dictionary, and every
incident's search document rebuilt with it (and rebuilt as before when reversed)."""

from django.db import migrations

CONFIGURATIONS = [
    ("payhealth_es", "spanish", "spanish_stem"),
    ("payhealth_en", "english", "english_stem"),
    ("payhealth_simple", "simple", "simple"),
]

CREATE = ["CREATE EXTENSION IF NOT EXISTS unaccent"] + [
    sql
    for name, source, dictionary in CONFIGURATIONS
    for sql in (
        f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {name}",
        f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = {source})",
        f"ALTER TEXT SEARCH CONFIGURATION {name} ALTER MAPPING FOR hword, hword_part, word WITH unaccent, {dictionary}",
    )
]
# The extension stays: other objects of the database may use it.
DROP = [f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {name}" for name, _, _ in CONFIGURATIONS]


def document(spanish: str, english: str, simple: str) -> str:
    return f"""
    setweight(to_tsvector('{simple}', coalesce(i.reference, '')), 'A')
    || setweight(to_tsvector('{spanish}', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('{english}', coalesce(i.title, '')), 'A')
    || setweight(to_tsvector('{spanish}', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('{english}', coalesce(i.summary, '') || ' ' || coalesce(i.root_cause, '')), 'B')
    || setweight(to_tsvector('{simple}', coalesce((
        SELECT string_agg(m.name || ' ' || m.account_id, ' ')
        FROM cases_affectedmerchant am JOIN cases_merchant m ON m.id = am.merchant_id
        WHERE am.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('{simple}', coalesce((
        SELECT string_agg(p.name || ' ' || p.code, ' ')
        FROM cases_partnerengagement e JOIN partners_partner p ON p.id = e.partner_id
        WHERE e.incident_id = i.id), '')), 'B')
    || setweight(to_tsvector('{spanish}', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
    || setweight(to_tsvector('{english}', coalesce((
        SELECT string_agg(n.body, ' ') FROM cases_investigationnote n WHERE n.incident_id = i.id), '')), 'C')
    """


REBUILD_UNACCENTED = f"UPDATE cases_incident i SET search_vector = {document('payhealth_es', 'payhealth_en', 'payhealth_simple')}"
REBUILD_AS_BEFORE = f"UPDATE cases_incident i SET search_vector = {document('spanish', 'english', 'simple')}"


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0026_notice_scope"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql=DROP),
        migrations.RunSQL(REBUILD_UNACCENTED, reverse_sql=REBUILD_AS_BEFORE),
    ]
