"""Cursor pagination: stable under inserts, and as fast on page 2,000 as on page 1.

A cursor is signed for the list that issued it: DRF's cursor is plain base64 of `p=<position>`,
so a client could forge a well-encoded one whose position is not a value of the list's ordering
(a date where an id is expected) and reach the database with it. A cursor whose signature does
not match (forged, mangled, or taken from another list) is a 400 naming `cursor`.
"""

from base64 import b64decode, b64encode
from binascii import Error as Base64Error
from urllib import parse

from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor as CursorPosition
from rest_framework.pagination import CursorPagination, _positive_int
from rest_framework.utils.urls import replace_query_param


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def _signer(self) -> signing.Signer:
        ordering = ",".join(self.ordering) if isinstance(self.ordering, list | tuple) else str(self.ordering)
        return signing.Signer(salt=f"payhealth.api.cursor:{self.request.path}:{ordering}")

    def encode_cursor(self, cursor):
        tokens = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        signed = self._signer().sign(parse.urlencode(tokens, doseq=True))
        encoded = b64encode(signed.encode("utf-8")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, encoded)

    def decode_cursor(self, request):
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            querystring = self._signer().unsign(b64decode(encoded.encode("ascii"), validate=True).decode("utf-8"))
            tokens = parse.parse_qs(querystring, keep_blank_values=True)
            offset = _positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (TypeError, ValueError, UnicodeError, Base64Error, signing.BadSignature) as error:
            raise ValidationError({self.cursor_query_param: [str(self.invalid_cursor_message)]}) from error
        return CursorPosition(offset=offset, reverse=reverse, position=position)
