"""What every app's models and selectors share: PostgreSQL expressions Django does not ship, and
the guard that keeps card numbers out of every row."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import (
    Aggregate,
    BooleanField,
    CharField,
    CheckConstraint,
    DecimalField,
    DurationField,
    F,
    ForeignKey,
    Func,
    JSONField,
    QuerySet,
    TextField,
    UniqueConstraint,
    Value,
)
from django.db.models.functions import Cast, JSONObject

from payhealth.pan import card_number_error, contains_card_number

TEXT_FIELDS = (CharField, TextField, JSONField, ArrayField)


class CardNumberFreeModel:
    """A model mixin: a row holding a card number in any text, array or JSON field is never saved.

    The last line behind the forms and the API: whatever writes the row (a service called by a
    page, the API, the admin, a command or a task), `save()` refuses a card number with a
    ValidationError naming the field, and the service's transaction rolls back. With
    `update_fields` only those fields are read. Rows written in bulk (`bulk_create`: SLA clock
    events, attachments, webhook deliveries) copy texts already checked or masked upstream.
    """

    @classmethod
    def card_number_fields(cls) -> list:
        """The fields this guard reads: every text, array and JSON field."""
        return [field for field in cls._meta.concrete_fields if isinstance(field, TEXT_FIELDS)]

    def refuse_card_numbers(self, fields=None) -> None:
        """Raise a ValidationError naming each field (of `fields`, or all) that holds a card number."""
        errors = {
            field.name: [card_number_error()]
            for field in self.card_number_fields()
            if (fields is None or field.name in fields or field.attname in fields)
            and contains_card_number(getattr(self, field.attname))
        }
        if errors:
            raise ValidationError(errors)

    def full_clean(self, exclude=None, validate_unique=True, validate_constraints=True):
        if _database_checks.get():  # see `constraints_checked_by_database`
            exclude = {*(exclude or ()), *(f.name for f in self._meta.concrete_fields if _loaded_foreign_key(self, f))}
            validate_constraints = False
        return super().full_clean(
            exclude=exclude, validate_unique=validate_unique, validate_constraints=validate_constraints
        )

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        self.refuse_card_numbers(None if update_fields is None else set(update_fields))
        if not _database_checks.get():
            return super().save(*args, **kwargs)
        try:
            return super().save(*args, **kwargs)
        except IntegrityError as error:
            refused = constraint_violation(self, error)
            if refused is None:
                raise
            raise refused from error


# Inside `constraints_checked_by_database()`, full_clean leaves the model's constraints to PostgreSQL.
_database_checks: ContextVar[bool] = ContextVar("constraints_checked_by_database", default=False)


@contextmanager
def constraints_checked_by_database() -> Iterator[None]:
    """Within the block, `full_clean` of these models runs no query: it skips the model's check and
    unique constraints (Django validates each with a query in a savepoint of its own: three
    statements) and the look-up of a foreign key whose row the caller already holds. PostgreSQL
    enforces the same constraints on insert and update, and `save()` turns a violation of a named
    constraint into the ValidationError `full_clean` would have raised, with the same message.

    For writers that run many services in one transaction whose errors end in a savepoint of
    their own (the alert worker: a failing alert is rolled back to its savepoint and recorded),
    never for a caller that catches an error and goes on in the same transaction without one:
    after a violation PostgreSQL accepts no statement until the rollback."""
    token = _database_checks.set(True)
    try:
        yield
    finally:
        _database_checks.reset(token)


def _loaded_foreign_key(instance, field) -> bool:
    """A foreign key set to a row object (not just an id): the caller read that row."""
    return isinstance(field, ForeignKey) and field.is_cached(instance) and field.get_cached_value(instance) is not None


def constraint_violation(instance, error: IntegrityError) -> ValidationError | None:
    """The ValidationError `full_clean` raises for the model constraint that PostgreSQL says `error`
    violated (None if it is not one of the model's named check or unique constraints)."""
    name = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None)
    for constraint in type(instance)._meta.constraints:
        if constraint.name != name:
            continue
        if (
            isinstance(constraint, UniqueConstraint)
            and constraint.fields
            and not constraint.condition
            and constraint.violation_error_message == constraint.default_violation_error_message
        ):
            message = instance.unique_error_message(type(instance), constraint.fields)
            return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code=message.code)]})
        if isinstance(constraint, (CheckConstraint, UniqueConstraint)):
            message = constraint.get_violation_error_message()
            return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code=constraint.violation_error_code)]})
    return None


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile, `percentile_cont(f) WITHIN GROUP (ORDER BY x)`.

    Linear interpolation between the two nearest values: of n sorted values the result is at
    position f × (n − 1) counted from 0. Works on intervals (the default output) as well as numbers;
    with `filter=` it gets a FILTER (WHERE …) clause like any Django aggregate. The median is 0.5.
    """

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= float(fraction) <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        extra.setdefault("output_field", DurationField())
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


# Rows of a list read inside another query -------------------------------------------------------
# A page that shows a handful of small lists (an incident's merchants, partners, decline codes…)
# pays a round trip for each. `json_of` turns a model's row, and the rows it joins, into one JSON
# object, so that a list becomes an array column of the query that reads its parent
# (`ArraySubquery(rows.values(row=json_of(...)))`); `from_json` turns each object back into a model
# instance, with the joined rows in its relation caches. Decimals travel as text (exact).


def json_of(model, *, path: str = "", exclude: Iterable[str] = (), related: dict | None = None) -> JSONObject:
    """One JSON object with the concrete fields of `model` (reached through `path`, e.g.
    "merchant__"), under "row", and each `related` name → (model, its own exclude[, its own related]) under its name.

    PostgreSQL caps `json_build_object` at 100 arguments, so each model gets an object of its own.
    """
    exclude = set(exclude)
    columns = {}
    for field in model._meta.concrete_fields:
        if field.name in exclude or field.attname in exclude:
            continue
        expression = F(f"{path}{field.attname}")
        if isinstance(_output_field(field), DecimalField):
            expression = Cast(expression, TextField())
        columns[field.attname] = expression
    parts = {"row": JSONObject(**columns)}
    for name, (related_model, related_exclude, *nested) in (related or {}).items():
        parts[name] = json_of(
            related_model, path=f"{path}{name}__", exclude=related_exclude, related=nested[0] if nested else None
        )
    return JSONObject(**parts)


def from_json(model, data: dict | str | None, *, joined: dict | None = None):
    """The instance `json_of(model, …)` wrote (None for a missing joined row), with its joined rows
    cached on their relations, as the ORM's `select_related` would leave them.

    `joined`, a dictionary the caller keeps for one query's rows, makes a joined row that recurs
    (the same author of a hundred timeline events) one shared instance instead of one per row."""
    if isinstance(data, str):
        data = json.loads(data)
    if not data or data.get("row") is None or data["row"].get(model._meta.pk.attname) is None:
        return None
    row = data["row"]
    names, converters = _json_columns(model, tuple(row))
    values = [convert(row[name]) for name, convert in zip(names, converters, strict=True)]
    instance = model.from_db("default", names, values)
    for name, value in data.items():
        if name == "row":
            continue
        relation = model._meta.get_field(name)
        relation.set_cached_value(instance, _joined_from_json(relation.related_model, value, joined))
    return instance


def _joined_from_json(model, data: dict | None, joined: dict | None):
    if joined is None or not data or data.get("row") is None:
        return from_json(model, data, joined=joined)
    row = data["row"]
    key = (model, row.get(model._meta.pk.attname), tuple(row), tuple(data))  # the same row, the same shape
    if key not in joined:
        joined[key] = from_json(model, data, joined=joined)
    return joined[key]


_JSON_COLUMNS: dict[tuple, tuple[list[str], list]] = {}


def _json_columns(model, keys: tuple[str, ...]) -> tuple[list[str], list]:
    """The columns of `model` among a JSON row's `keys`, in the model's order, and each one's
    conversion (`to_python`): worked out once per model and set of keys, not once per row."""
    found = _JSON_COLUMNS.get((model, keys))
    if found is None:
        fields = [field for field in model._meta.concrete_fields if field.attname in keys]
        found = [field.attname for field in fields], [_output_field(field).to_python for field in fields]
        _JSON_COLUMNS[(model, keys)] = found
    return found


def _output_field(field):
    """A generated column's type is its output field's."""
    return getattr(field, "output_field", None) or field


# Compiled once ---------------------------------------------------------------------------------
# Building and compiling an ORM query with joins, CASE orderings or JSON rows costs more CPU than
# PostgreSQL spends running it (1–3 ms against a fraction of one), and pages ask the same queries
# on every request. A query whose shape does not change is built once per process with sentinel
# values where each request's own go (an id, an instant, a list of ids as one array), and each
# run puts the request's values back in their places among its parameters.

_COMPILED: dict[Hashable, Compiled] = {}


@dataclass(frozen=True)
class Compiled:
    """A query's SQL, its parameters as compiled, and where each sentinel sits among them."""

    sql: str
    params: tuple
    places: tuple[tuple[int, ...], ...]

    def bind(self, *values) -> list:
        """The parameters with each sentinel replaced by the value given in its place."""
        params = list(self.params)
        for places, value in zip(self.places, values, strict=True):
            for place in places:
                params[place] = value
        return params

    def rows(self, *values) -> list[tuple]:
        """Every row of one run with these values (in the sentinels' order)."""
        with prepared_cursor() as cursor:
            cursor.execute(self.sql, self.bind(*values))
            return cursor.fetchall()


@contextmanager
def prepared_cursor() -> Iterator:
    """A cursor whose statements PostgreSQL parses and plans once per connection, then only runs.

    Django's cursors bind parameters on the client: the values are written into the SQL, so the
    server receives new text on every run and parses and plans it again. For the queries compiled
    once and run on every request (`compiled`), planning was most of their cost: the API token's
    preload (its user, profile, groups and permission names) was planned in 0.66 ms and ran in
    0.19 ms. This cursor binds on the server, and psycopg prepares each statement the first time
    the connection runs it (`prepare_threshold` 0, set by `payhealth.config.database_config`;
    Django's own client-binding cursors never prepare) and afterwards executes it by name, with
    the plan PostgreSQL keeps for it. It is Django's cursor wrapper around psycopg's cursor, as
    `connection.cursor()` makes it: queries are counted and logged (as written), errors wrapped
    the same. For SQL with the same text on every run only: a statement per distinct text is kept.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        bound = psycopg.Cursor(connection.connection)
    cursor = _LoggedAsWritten(bound, connection) if connection.queries_logged else connection.make_cursor(bound)
    try:
        yield cursor
    finally:
        cursor.close()


def prepared_row(sql: str, params) -> dict | None:
    """The first row of a statement run through `prepared_cursor`, as {column name: value}; None
    when there is none."""
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        columns = [column.name for column in cursor.description]
    return None if row is None else dict(zip(columns, row, strict=True))


class _LoggedAsWritten(CursorDebugWrapper):
    """Django's query log for a cursor that binds on the server: each statement is logged as
    written, placeholders and all (psycopg keeps the statement it sent only for a client-binding
    cursor, which is where Django reads it from)."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def compiled(key: Hashable, build: Callable[[], QuerySet], *sentinels) -> Compiled:
    """The query `build()` returns, compiled the first time `key` is asked for in this process.

    Each sentinel is a value no real run uses, given to the query in place of a run's own; it must
    reach the parameters as it is (a list for an array, not spread into several)."""
    found = _COMPILED.get(key)
    if found is None:
        sql, params = build().query.sql_with_params()
        params = tuple(params)
        places = tuple(
            tuple(index for index, param in enumerate(params) if type(param) is type(sentinel) and param == sentinel)
            for sentinel in sentinels
        )
        if not all(places):
            raise ValueError(f"{key!r}: a sentinel is not among the compiled parameters.")
        found = _COMPILED[key] = Compiled(sql, params, places)
    return found


def equals_any(column: str, values, base_field) -> Func:
    """`column = ANY(%s)` with `values` as one array parameter, so that the SQL text is the same
    whatever their number (`column__in` writes one placeholder per value)."""
    return Func(
        F(column),
        Value(list(values), output_field=ArrayField(base_field)),
        arg_joiner=" = ANY(",
        template="%(expressions)s)",
        output_field=BooleanField(),
    )
