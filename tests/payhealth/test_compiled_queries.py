"""Queries compiled once per process (payhealth.db.compiled) and run with each request's values."""

from datetime import UTC, datetime

import pytest
from django.db.models import IntegerField, Q

from cases.models import Incident
from payhealth.db import compiled, equals_any
from tests.factories import IncidentFactory

SENTINEL_IDS = [-8_000_000_001]
SENTINEL_AFTER = datetime(1901, 1, 2, 3, 4, 5, tzinfo=UTC)


def _run(query, *values) -> list:
    return [row[0] for row in query.rows(*values)]


def test_a_query_is_built_once_and_run_with_each_callers_values(db):
    first, second, third = (IncidentFactory() for _ in range(3))
    builds = []

    def build():
        builds.append(1)
        return (
            Incident.objects.filter(equals_any("id", SENTINEL_IDS, IntegerField()), created_at__gt=SENTINEL_AFTER)
            .order_by("id")
            .values_list("id")
        )

    key = ("test", "incidents by ids")
    query = compiled(key, build, SENTINEL_IDS, SENTINEL_AFTER)
    assert _run(query, [first.pk, third.pk], datetime(2000, 1, 1, tzinfo=UTC)) == [first.pk, third.pk]
    again = compiled(key, build, SENTINEL_IDS, SENTINEL_AFTER)
    assert again is query and len(builds) == 1
    # One parameter for any number of ids: the same SQL serves one id and a hundred.
    assert _run(again, [second.pk], datetime(2000, 1, 1, tzinfo=UTC)) == [second.pk]
    assert _run(again, [first.pk, second.pk, third.pk, *range(-100, 0)], datetime(2000, 1, 1, tzinfo=UTC)) == [
        first.pk,
        second.pk,
        third.pk,
    ]
    assert _run(again, [first.pk], datetime(2999, 1, 1, tzinfo=UTC)) == []  # the instant is bound too


def test_a_sentinel_used_twice_is_replaced_in_both_places(db):
    older, newer = IncidentFactory(), IncidentFactory()
    query = compiled(
        ("test", "twice"),
        lambda: (
            Incident.objects.filter(equals_any("id", SENTINEL_IDS, IntegerField()))
            .filter(equals_any("id", SENTINEL_IDS, IntegerField()) | Q(title=""))
            .order_by("id")
            .values_list("id")
        ),
        SENTINEL_IDS,
    )
    assert len(query.places[0]) == 2
    assert _run(query, [older.pk, newer.pk]) == [older.pk, newer.pk]


def test_a_sentinel_the_query_does_not_hold_is_refused():
    with pytest.raises(ValueError, match="sentinel"):
        compiled(("test", "missing"), lambda: Incident.objects.filter(pk=1).values_list("id"), SENTINEL_IDS)


def _prepared_here() -> dict[str, int]:
    """The statements prepared on this connection: {statement text: times it was planned and run}."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_a_compiled_query_is_prepared_once_on_its_connection_and_still_logged(db, django_assert_num_queries):
    incidents = [IncidentFactory() for _ in range(3)]
    query = compiled(
        ("test", "prepared incidents"),
        lambda: (
            Incident.objects.filter(equals_any("id", SENTINEL_IDS, IntegerField())).order_by("id").values_list("id")
        ),
        SENTINEL_IDS,
    )
    server_text = query.sql.replace("%s", "$1")  # as psycopg sends it: one placeholder here

    with django_assert_num_queries(3) as logged:  # counted and logged like any other query
        for incident in incidents:
            assert _run(query, [incident.pk]) == [incident.pk]

    assert _prepared_here().get(server_text) == 3  # prepared once, then run by name
    assert {entry["sql"] for entry in logged.captured_queries} == {query.sql}
    before = _prepared_here()
    list(Incident.objects.filter(pk__in=[incidents[0].pk]))  # Django's own: bound on the client
    assert _prepared_here() == before
