"""Human incident references, PH-<year>-<number>, unique under concurrency."""

from __future__ import annotations

from django.db import connection

from cases.models import ReferenceCounter

_TABLE = ReferenceCounter._meta.db_table


def reserve_numbers(year: int, count: int = 1) -> range:
    """Reserve `count` consecutive numbers for `year` in one statement and return them.

    INSERT … ON CONFLICT DO UPDATE takes the row lock, so concurrent callers queue on it and
    each gets a distinct block; no check-then-act race is possible.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {_TABLE} (year, last) VALUES (%s, %s)
            ON CONFLICT (year) DO UPDATE SET last = {_TABLE}.last + EXCLUDED.last
            RETURNING last
            """,
            [year, count],
        )
        last = cursor.fetchone()[0]
    return range(last - count + 1, last + 1)


def format_reference(year: int, number: int) -> str:
    return f"PH-{year}-{number:06d}"


def next_reference(year: int) -> str:
    return format_reference(year, reserve_numbers(year, 1)[0])
