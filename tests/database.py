"""Helpers for tests about the database itself: which constraint refused a row."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction

UNIQUE_VIOLATION = "23505"


@contextlib.contextmanager
def _refused(**expected: str) -> Iterator[None]:
    """Assert that the block raises IntegrityError whose diagnostics match `expected`; the
    block runs in a savepoint, so the test's transaction stays usable afterwards."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        yield
    diag = caught.value.__cause__.diag
    seen = {field: getattr(diag, field) for field in expected}
    assert seen == expected, (
        f"expected a refusal with {expected}, got {seen}: {diag.message_primary} {diag.message_detail or ''}"
    )


def raises_constraint(name: str):
    """Assert that the block is refused by the database constraint `name`, and by no other.

    A bare `pytest.raises(IntegrityError)` also passes when some other rule (a NOT NULL,
    another check) refused the row, for a reason the test never meant to prove.
    """
    return _refused(constraint_name=name)


def raises_duplicate(model, *fields: str):
    """Assert that the block is refused by the unique constraint on exactly `fields` of `model`.

    A field declared `unique=True` gets a name Django derives itself (with a hash): it is read
    from the database, so the test still says which uniqueness refused the row.
    """
    columns = [model._meta.get_field(field).column for field in fields]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    names = [
        name
        for name, details in constraints.items()
        if details["unique"] and not details["primary_key"] and details["columns"] == columns
    ]
    assert len(names) == 1, f"no single unique constraint on {model._meta.db_table}({', '.join(columns)}): {names}"
    return _refused(sqlstate=UNIQUE_VIOLATION, table_name=model._meta.db_table, constraint_name=names[0])
