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
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import Cursor as CursorPosition
from rest_framework.pagination import CursorPagination, _positive_int
from rest_framework.utils.urls import replace_query_param

from payhealth.ids import parse_id


class Cursor(CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_page_size(self, request):
        """`page_size` once, a whole number from 1 to max_page_size; anything else is a 400 (DRF
        quietly fell back to the default, so a client never learnt its page size was not taken)."""
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        number = parse_id(values[0]) if len(values) == 1 else None
        if number is None or number > self.max_page_size:
            message = _("Give a whole number from 1 to %(max)d, once.") % {"max": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        return number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters

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
        values = request.query_params.getlist(self.cursor_query_param)
        if not values:
            return None
        encoded = values[0]
        try:
            if len(values) > 1:
                raise ValueError("more than one cursor")
            querystring = self._signer().unsign(b64decode(encoded.encode("ascii"), validate=True).decode("utf-8"))
            tokens = parse.parse_qs(querystring, keep_blank_values=True)
            offset = _positive_int(tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff)
            reverse = bool(int(tokens.get("r", ["0"])[0]))
            position = tokens.get("p", [None])[0]
        except (TypeError, ValueError, UnicodeError, Base64Error, signing.BadSignature) as error:
            raise ValidationError({self.cursor_query_param: [str(self.invalid_cursor_message)]}) from error
        return CursorPosition(offset=offset, reverse=reverse, position=position)
