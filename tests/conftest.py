import pytest

from tests.factories import DESK_USERS, UserFactory


def _reference_models() -> list:
    """The models whose rows migrations load (roles, calendars, codes, SLA policies, templates,
    severity rules, giros), parents before children."""
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from alerts.models import AlertSeverityRule
    from cases.models import ResponseCode, SlaPolicy
    from costs.models import Giro
    from partners.models import BusinessCalendar, Holiday, NoticeTemplate, WorkingHours

    return [
        ContentType,
        Permission,
        Group,
        Group.permissions.through,
        BusinessCalendar,
        WorkingHours,
        Holiday,
        ResponseCode,
        SlaPolicy,
        NoticeTemplate,
        AlertSeverityRule,
        Giro,
    ]


def _load_reference_data() -> None:
    """What migrations load, through the loaders themselves (one row at a time)."""
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import sync_roles
    from alerts.models import AlertSeverityRule
    from alerts.reference import load_default_severity_rules
    from cases.models import ResponseCode, SlaPolicy
    from cases.reference_data import load_response_codes
    from cases.sla.policies import load_billing_sla_policies, load_default_sla_policies
    from costs.models import Giro
    from costs.sample import giros_load
    from partners.models import BusinessCalendar, Holiday, NoticeTemplate, WorkingHours
    from partners.notices import load_notice_templates
    from partners.reference import load_calendars

    load_calendars(BusinessCalendar, WorkingHours, Holiday)
    load_response_codes(ResponseCode)
    load_default_sla_policies(SlaPolicy, BusinessCalendar)
    load_billing_sla_policies(SlaPolicy, BusinessCalendar)
    load_notice_templates(NoticeTemplate)
    sync_roles(Group, Permission)
    load_default_severity_rules(AlertSeverityRule)
    giros_load(Giro)


def _copy_out(tables: list[str]) -> dict[str, bytes]:
    from django.db import connection

    saved = {}
    with connection.cursor() as cursor:
        for table in tables:
            with cursor.copy(f"COPY {connection.ops.quote_name(table)} TO STDOUT") as copy:
                saved[table] = b"".join(bytes(block) for block in copy)
    return saved


def _copy_in(models: list, saved: dict[str, bytes]) -> None:
    """Replace the rows of `models` by `saved` (what the flush's post_migrate re-created, the
    content types and permissions, goes first), and move their sequences past the ids put back."""
    from django.contrib.contenttypes.models import ContentType
    from django.core.management.color import no_style
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for model in reversed(models):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
        for model in models:
            table = model._meta.db_table
            with cursor.copy(f"COPY {connection.ops.quote_name(table)} FROM STDIN") as copy:
                copy.write(saved[table])
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)
    ContentType.objects.clear_cache()  # it holds the ids post_migrate gave


# Above this many rows in a table, the flush keeps its TRUNCATE (a DELETE would cost more).
FLUSH_BY_DELETE_MAX_ROWS = 5_000

# Deletes every row of every table named in `tables` (a text array), pass after pass until a pass
# deletes nothing: a table's triggers may write rows into a table already emptied (the overview's
# deltas). Foreign keys are deferred (Django declares them DEFERRABLE INITIALLY DEFERRED), so the
# order does not matter; they are checked at the commit, when every table is empty.
FLUSH_BY_DELETE = """
DO $flush$
DECLARE
    name text;
    found_rows bigint;
    deleted bigint;
    passes int := 0;
BEGIN
    SET CONSTRAINTS ALL DEFERRED;
    LOOP
        passes := passes + 1;
        deleted := 0;
        FOREACH name IN ARRAY {tables} LOOP
            EXECUTE format('DELETE FROM %I', name);
            GET DIAGNOSTICS found_rows = ROW_COUNT;
            deleted := deleted + found_rows;
        END LOOP;
        EXIT WHEN deleted = 0;
        IF passes > 5 THEN
            RAISE EXCEPTION 'tables still hold rows after % flush passes', passes;
        END IF;
    END LOOP;
END
$flush$
"""


# The reference tables' rows as migrations left them (table → COPY text), copied out once per
# process by the first transactional test, before any flush, and put back after every flush.
REFERENCE_ROWS: dict[str, bytes] = {}


@pytest.fixture(autouse=True, scope="session")
def _flush_deletes_the_few_rows_left_then_puts_the_reference_data_back():
    """A transactional test ends with a flush: Django's is one TRUNCATE of every table, which
    makes PostgreSQL create new files for every table and index (seconds a test, though most
    tables are empty). When no table holds more than FLUSH_BY_DELETE_MAX_ROWS rows, the flush
    deletes the rows instead: every table is empty afterwards, as with the TRUNCATE, and the
    sequences go on as they did (the flush of transactional tests never resets them).

    Right after the flush, the reference data (what migrations load: roles, calendars, codes, SLA
    policies) is copied back in, one COPY a table: whatever test comes next on this database, a
    transactional one or one in a transaction (their order is not fixed when the suite runs in
    several processes), finds the database as migrations left it."""
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.test import TransactionTestCase

    sql_flush = DatabaseOperations.sql_flush
    fixture_teardown = TransactionTestCase._fixture_teardown

    def sql_flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        quote = self.quote_name
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT greatest("
                + ", ".join(
                    f"(SELECT count(*) FROM (SELECT FROM {quote(t)} LIMIT {FLUSH_BY_DELETE_MAX_ROWS + 1}) AS r)"
                    for t in tables
                )
                + ")"
            )
            (most,) = cursor.fetchone()
        if most > FLUSH_BY_DELETE_MAX_ROWS:
            return sql_flush(self, style, tables, allow_cascade=allow_cascade)
        names = ", ".join("'" + table.replace("'", "''") + "'" for table in tables)
        return [FLUSH_BY_DELETE.replace("{tables}", f"ARRAY[{names}]::text[]")]

    def flush_then_reference_data(self):
        fixture_teardown(self)
        if REFERENCE_ROWS:
            _copy_in(_reference_models(), REFERENCE_ROWS)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush_by_delete)
        patch.setattr(TransactionTestCase, "_fixture_teardown", flush_then_reference_data)
        yield


@pytest.fixture(autouse=True)
def _reference_data_before_a_transactional_test(request):
    """The first transactional test of a process copies the reference data out (the database is
    as migrations left it); on a database reused after a flush with nothing to copy from yet,
    the loaders write it first, a row at a time."""
    if "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        marker = request.node.get_closest_marker("django_db")
        if not (marker and marker.kwargs.get("transaction")):
            return
    request.getfixturevalue("transactional_db")
    if REFERENCE_ROWS:
        return
    from django.contrib.auth.models import Group

    if not Group.objects.exists():
        _load_reference_data()
    REFERENCE_ROWS.update(_copy_out([model._meta.db_table for model in _reference_models()]))


@pytest.fixture(autouse=True)
def _empty_cache_before_each_test():
    """Login failures and API throttling count in the cache: no test inherits another's counts
    (or is locked out by another's wrong passwords)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """Requests activate their language in the thread; put English back for the next test."""
    yield
    from django.utils import translation

    translation.activate("en")


@pytest.fixture
def analyst(db):
    return _desk_user("analyst")


@pytest.fixture
def partner_manager(db):
    return _desk_user("partner_manager")


@pytest.fixture
def lead(db):
    return _desk_user("lead")


@pytest.fixture
def outsider(db):
    """Logged in, but in no role: sees nothing of the desk."""
    return _desk_user("no_role")


def _desk_user(who: str):
    username, role = DESK_USERS[who]
    return UserFactory(username=username, role=role)
