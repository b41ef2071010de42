"""One error format for the whole API.

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"title": ["…"]}}}

`fields` is present for validation errors only (field name → messages; `non_field_errors` for
the rest). Django's own ValidationError and PermissionDenied, raised by the services that the
UI shares, are translated here, so a service never needs to know whether a form or the API
called it.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.encoding import force_str
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

from payhealth.api.serializers import Serializer

NON_FIELD = "non_field_errors"


def _from_django(error: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(error, "error_dict"):
        detail = {
            (NON_FIELD if field == NON_FIELD_ERRORS else field): [force_str(m) for m in messages]
            for field, messages in error.message_dict.items()
        }
    else:
        detail = {NON_FIELD: [force_str(m) for m in error.messages]}
    return exceptions.ValidationError(detail)


def _flatten(detail) -> dict[str, list[str]]:
    """DRF error details (nested dicts/lists) → {dotted.field: [messages]}."""
    out: dict[str, list[str]] = {}

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            if all(not isinstance(item, dict | list) for item in value):
                out.setdefault(path or NON_FIELD, []).extend(force_str(item) for item in value)
            else:
                for index, inner in enumerate(value):
                    walk(inner, f"{path}.{index}" if path else str(index))
        else:
            out.setdefault(path or NON_FIELD, []).append(force_str(value))

    walk(detail, "")
    return out


def handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = _from_django(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None
    body: dict = {"status": response.status_code}
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        body["code"] = "invalid"
        first = next(iter(fields.items()))
        body["message"] = first[1][0] if first[0] == NON_FIELD else f"{first[0]}: {first[1][0]}"
        body["fields"] = fields
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        body["code"] = codes if isinstance(codes, str) else "error"
        body["message"] = force_str(exc.detail) if not isinstance(exc.detail, dict | list) else str(exc.detail)
    else:
        body["code"] = "error"
        body["message"] = force_str(response.data.get("detail", "")) if isinstance(response.data, dict) else ""
    return Response({"error": body}, status=response.status_code, headers=_headers(response))


def error_body(exc) -> dict:
    """The `error` object the API answers `exc` with (a Django or DRF exception), for an answer
    that carries several outcomes, such as a batch's alerts."""
    return handler(exc, {}).data["error"]


def _headers(response) -> dict[str, str]:
    return {key: value for key, value in response.items() if key in ("WWW-Authenticate", "Retry-After", "Allow")}


class ErrorBodySerializer(Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(Serializer):
    """The API's one error shape (documented on every operation by `schema.add_error_responses`)."""

    error = ErrorBodySerializer()


def error_response(status: int, code: str, message: str, fields: dict[str, list[str]] | None = None) -> JsonResponse:
    """The one error format outside DRF's views: unknown API paths, requests refused before any view."""
    body: dict = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JsonResponse({"error": body}, status=status)
