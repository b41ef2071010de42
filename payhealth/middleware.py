"""Middleware of the project package (the apps' own live in each app)."""

from __future__ import annotations


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
