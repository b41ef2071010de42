"""The project's error pages: the API answers its one JSON error format for every path under
`/api/`, routes that do not exist included; the pages keep Django's."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.views import defaults

from payhealth.api.exceptions import error_response

API_PREFIX = "/api/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request, exception=None):
    if is_api(request):
        return error_response(400, "bad_request", _("Bad request."))
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if is_api(request):
        return error_response(403, "permission_denied", _("You do not have permission to perform this action."))
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if is_api(request):
        return error_response(404, "not_found", _("Not found."))
    return defaults.page_not_found(request, exception)


def server_error(request):
    if is_api(request):
        return error_response(500, "error", _("Server error."))
    return defaults.server_error(request)
