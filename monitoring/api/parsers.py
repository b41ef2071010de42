"""The two bodies `POST /api/v1/metrics/buckets/` reads: JSON (a list of rows, or {"rows": [...]})
and NDJSON (one row object per line). Both read at most MAX_BODY_BYTES_PER_ROW bytes per row
allowed (PAYHEALTH_METRICS_MAX_ROWS), so an oversized body is refused before it is parsed, and
both hold the API's JSON rules (`payhealth.api.parsers`): nesting beyond reason, a NUL or an
unpaired surrogate is a 400."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from payhealth.api.parsers import check_json, too_deep

MAX_BODY_BYTES_PER_ROW = 2048


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def body_limit() -> int:
    return settings.PAYHEALTH_METRICS_MAX_ROWS * MAX_BODY_BYTES_PER_ROW


def _read(stream) -> str:
    limit = body_limit()
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise BodyTooLarge(_("The body is larger than %(max)d bytes.") % {"max": limit})
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError(_("The body is not UTF-8.")) from None


class BucketsJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = json.loads(_read(stream))
        except RecursionError:
            raise too_deep() from None
        except ValueError as error:
            raise ParseError(_("The body is not JSON: %(error)s") % {"error": error}) from None
        check_json(data)
        return data


class NDJSONParser(BaseParser):
    """Newline-delimited JSON: a list of the objects of its non-empty lines (line n is row n)."""

    media_type = "application/x-ndjson"

    def parse(self, stream, media_type=None, parser_context=None):
        rows = []
        for number, line in enumerate(_read(stream).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except RecursionError:
                raise too_deep() from None
            except ValueError:
                raise ParseError(_("Line %(line)d is not JSON.") % {"line": number}) from None
        check_json(rows)
        return rows
