"""Middleware of the project package (the apps' own live in each app)."""

from __future__ import annotations

import json

from django.contrib import messages
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


# htmx answers whose page is about to change: their messages wait for that page's toasts.
NAVIGATING_HEADERS = ("HX-Redirect", "HX-Location", "HX-Refresh")
TOAST_EVENT = "phToast"


class HtmxToastsMiddleware:
    """The messages of an htmx answer (a note added, a notice sent, a part saved) go with it in an
    `HX-Trigger` header, `{"phToast": [{"level": "success", "text": "…"}]}`, which static/js/toasts.js
    shows as toasts: an htmx swap redraws a part of the page, never the layout's toast region.

    Left for the next full page: the messages of a redirect (htmx follows it, and this middleware
    sees the answer it lands on), of an answer telling htmx to load another page, and of one whose
    template showed them already. Other events of the answer's `HX-Trigger` are kept."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.headers.get("HX-Request") != "true" or request.headers.get("HX-Boosted") == "true":
            return response
        if 300 <= response.status_code < 400 or any(header in response for header in NAVIGATING_HEADERS):
            return response
        storage = getattr(request, "_messages", None)
        if storage is None or storage.used:
            return response
        toasts = [{"level": _level(message), "text": str(message)} for message in storage]
        if not toasts:
            return response
        response["HX-Trigger"] = json.dumps(_with_event(response.get("HX-Trigger"), toasts), ensure_ascii=True)
        return response


def _level(message) -> str:
    return messages.DEFAULT_TAGS.get(message.level, "info")


def _with_event(existing: str | None, toasts: list[dict]) -> dict:
    """The answer's own HX-Trigger events (a name, names separated by commas, or JSON) plus ours."""
    events: dict = {}
    if existing:
        try:
            parsed = json.loads(existing)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            events.update(parsed)
        else:
            events.update({name.strip(): None for name in existing.split(",") if name.strip()})
    events[TOAST_EVENT] = toasts
    return events


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
