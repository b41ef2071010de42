"""Middleware of the project package (the apps' own live in each app)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.utils.translation import gettext

from payhealth.api.exceptions import error_response
from payhealth.api.parsers import unstorable_text
from payhealth.views import is_api


class PrivateAnswersMiddleware:
    """Every answer to a signed-in user (a page, an htmx part, an export, the API with a session or
    a token) says `Cache-Control: private, no-store`: no shared proxy, browser cache or back
    button keeps a copy of an incident, a partner's contacts or a token page after logout."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # The API authenticates tokens inside the view; DRF then sets request.user here as well.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Cache-Control"] = "private, no-store"
        return response


class RefuseUnstorableTextMiddleware:
    """A NUL character (or text that is not Unicode) in the path, the query string or a posted
    form is a 400 before any view runs: PostgreSQL cannot store or compare it, so it would
    otherwise fail deep inside a query as a server error. The API answers in its error format,
    naming the parameter; the JSON bodies of the API are checked by its parser."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = _unstorable_parameter(request)
        if bad is not None:
            message = gettext("Text cannot contain NUL characters or invalid Unicode.")
            if is_api(request):
                return error_response(400, "invalid", f"{bad}: {message}", {bad: [message]})
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _unstorable_parameter(request) -> str | None:
    """The name of the first part of the request holding unstorable text ("path" for the path)."""
    if unstorable_text(request.path_info):
        return "path"
    sources = [request.GET]
    if request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sources.append(request.POST)
    for source in sources:
        for key, values in source.lists():
            if unstorable_text(key) or any(unstorable_text(value) for value in values):
                return key if not unstorable_text(key) else "non_field_errors"
    return None
