"""The API's JSON parser: a body nested beyond reason, or holding text PostgreSQL cannot store, is a 400.

Python's JSON decoder recurses once per level, so ten thousand nested brackets raise
RecursionError (not the ValueError DRF turns into a 400), and anything below that depth still
walks every recursive check after it. A NUL character or an unpaired surrogate decodes to a
Python string that PostgreSQL refuses (NUL) or that cannot be encoded at all (a surrogate), deep
inside a query: both are refused here, naming the field that held one.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

# Deeper than any body of the API (an object in a list in an object is three).
MAX_DEPTH = 32
UNSTORABLE_MESSAGE = _lazy("Text cannot contain NUL characters or invalid Unicode.")


def too_deep() -> ParseError:
    return ParseError(_("JSON nested deeper than %(depth)d levels.") % {"depth": MAX_DEPTH})


def unstorable_text(text: str) -> bool:
    """`text` holds a NUL character or an unpaired surrogate: PostgreSQL can store neither."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json(data) -> None:
    """Walk `data` without recursion: ParseError beyond MAX_DEPTH, ValidationError naming the
    first field whose key or text cannot be stored."""
    stack = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise too_deep()
        if isinstance(value, str):
            if unstorable_text(value):
                raise ValidationError({path or "non_field_errors": [UNSTORABLE_MESSAGE]})
        elif isinstance(value, dict):
            for key, inner in value.items():
                if unstorable_text(key):
                    raise ValidationError({"non_field_errors": [UNSTORABLE_MESSAGE]})
                stack.append((inner, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (inner, f"{path}.{index}" if path else str(index), depth + 1) for index, inner in enumerate(value)
            )


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise too_deep() from error
        check_json(data)
        return data
