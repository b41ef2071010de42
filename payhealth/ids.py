"""Numbers people and clients type where the desk expects an id or a page: one reading for all.

`str.isdigit()` says yes to "²" and "١٢", which `int()` then refuses or reads as another number,
and `int()` itself takes " 12", "1_000" and numbers beyond PostgreSQL's bigint. Every view,
filter, form and API field reads an id or a page number through these two functions, so a
crafted value is "no such object" or "the first page", never a server error.
"""

from __future__ import annotations

import re

# The largest id PostgreSQL's bigint holds: a larger number names no row (and must not reach SQL).
BIG = 2**63 - 1
# The deepest page any list serves: far beyond any real list, and its OFFSET stays within bigint.
MAX_PAGE = 1_000_000

_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(value) -> int | None:
    """A row id from a path, query or form value (an int, or ASCII digits), or None when it names none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < BIG else None
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number < BIG else None


def parse_ids(values) -> list[int]:
    """The ids among `values`, sorted and without repeats; whatever is not an id is dropped."""
    return sorted({number for value in values if (number := parse_id(value)) is not None})


def parse_page(value, default: int = 1) -> int:
    """A page number from a query string: `default` when missing or not a number, at most MAX_PAGE."""
    number = parse_id(value.strip() if isinstance(value, str) else value)
    if number is None:
        return default
    return min(number, MAX_PAGE)
