"""Helpers for tests about the database itself: which constraint refused a row, and which
backends are waiting on a lock another transaction holds."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction

from tests.support import wait_for

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


def backend_pid() -> int:
    """The process id of the PostgreSQL backend serving this thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def backends_blocked_by(pid: int) -> list[int]:
    """The backends of this database waiting for a lock that the backend `pid` holds, directly
    or queued behind another backend that waits for it (PostgreSQL lines up the waiters of one
    row: the second waits for the first, not for the holder).

    Run it in autocommit (a transactional test's own thread): inside a transaction that has read
    the statistics views already, PostgreSQL would answer from that transaction's snapshot.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'
            """
        )
        waiting = dict(cursor.fetchall())
    blocked: set[int] = set()
    behind = {pid}
    while behind:
        behind = {waiter for waiter, blockers in waiting.items() if waiter not in blocked and behind & set(blockers)}
        blocked |= behind
    return sorted(blocked)


class HeldTransaction:
    """Stops the first thread that calls `hold()`, inside its transaction (so before it commits),
    until the test calls `let_go()`; later calls pass straight through. Every wait is bounded, so
    a broken run fails instead of hanging."""

    def __init__(self, timeout: float = 10) -> None:
        self.timeout = timeout
        self.pid: int | None = None
        self._held = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()

    def hold(self) -> None:
        """In the thread to hold: note its backend, tell the test, wait for `let_go()`."""
        with self._lock:
            if self._held.is_set():
                return
            self.pid = backend_pid()
            self._held.set()
        # longer than the test waits for anything, so the test's own assertion reports a failure
        if not self._released.wait(self.timeout * 3):
            raise AssertionError("the held transaction was never let go")

    def wait_until_held(self) -> int:
        """In the test: wait for a thread to reach `hold()`; its backend's pid."""
        assert self._held.wait(self.timeout), f"no transaction reached the hold within {self.timeout}s"
        return self.pid

    def wait_until_blocking(self, count: int) -> list[int]:
        """In the test: wait until `count` other backends are waiting for the held transaction's locks."""
        pid = self.wait_until_held()
        return wait_for(
            lambda: len(blocked := backends_blocked_by(pid)) >= count and blocked,
            timeout=self.timeout,
            what=f"{count} backend(s) waiting for a lock of the held transaction",
        )

    def let_go(self) -> None:
        self._released.set()
