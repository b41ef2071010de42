"""The URL resolver walked for the permission matrices of the pages and of the API.

Both matrices enumerate their endpoints from `get_resolver()`, so a view added to the project is
checked the day it is added, and fill each URL's kwargs from a small fixture; a kwarg the fixture
cannot fill fails the test with a message saying what to extend, it is never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

Fill = Callable[[dict], object]


def _kwarg_names(pattern) -> tuple[str, ...]:
    return tuple(pattern.pattern.regex.groupindex)


def url_patterns(
    patterns=None, namespace: str | None = None, kwargs: tuple[str, ...] = ()
) -> Iterator[tuple[str | None, URLPattern, tuple[str, ...]]]:
    """Every URL pattern of the project: its namespace ("a:b" when nested), the pattern, and the
    names of its URL kwargs, outer includes first."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from url_patterns(entry.url_patterns, inner, kwargs + _kwarg_names(entry))
        elif isinstance(entry, URLPattern):
            yield namespace, entry, kwargs + _kwarg_names(entry)


def fill_url(
    name: str,
    kwarg_names: tuple[str, ...],
    world: dict,
    *,
    by_kwarg: Mapping[str, Fill],
    by_endpoint: Mapping[tuple[str, str], Fill],
    where: str,
) -> str:
    """The URL of `name` with each kwarg taken from the fixture: (name, kwarg) in `by_endpoint`
    first, else the kwarg alone in `by_kwarg`; `where` names the module to extend when neither has it."""
    if "<unnamed" in name:
        pytest.fail(f"{name} has no URL name: name it so that it can be reversed.", pytrace=False)
    kwargs = {}
    for kwarg in kwarg_names:
        fill = by_endpoint.get((name, kwarg)) or by_kwarg.get(kwarg)
        if fill is None:
            pytest.fail(
                f"{name} takes the URL kwarg {kwarg!r}, which the permission-matrix fixture cannot fill: "
                f"extend its `world` and kwarg tables in {where}.",
                pytrace=False,
            )
        kwargs[kwarg] = fill(world)
    return reverse(name, kwargs=kwargs)
