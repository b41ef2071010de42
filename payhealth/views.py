"""The project's error pages: the API answers its one JSON error format for every path under
`/api/`, routes that do not exist included; the pages answer in the visitor's language.

403, 404 and a refused CSRF check are pages of the desk's layout (the visitor's session and
language are at hand), with the ways on: home, the incident queue and back to the page the
visitor came from. 400 and 500 are bare pages that need neither the database nor the request: a
400 may come from a request Django distrusts (an unknown Host), a 500 from a database that is
down; the 500 page says what happened in both languages, the visitor's first. The language is
the one LocaleMiddleware chose for the request, still active when Django calls these views.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import DisallowedHost
from django.http import HttpResponse
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from payhealth.api.exceptions import error_response
from payhealth.pan import contains_card_number

API_PREFIX = "/api/"

logger = logging.getLogger(__name__)


def is_api(request) -> bool:
    return request.path_info.startswith(API_PREFIX)


def _bare(template_name: str, status: int) -> HttpResponse:
    """A page without the layout: no request, no context processor, no database."""
    try:
        body = loader.get_template(template_name).render()
    except Exception:  # never a second error while answering one: plain text is the last resort
        logger.exception("The %s error page could not be drawn.", status)
        return HttpResponse(str(status), status=status, content_type="text/plain; charset=utf-8")
    return HttpResponse(body, status=status)


def back_url(request) -> str:
    """The page the visitor came from (the Referer), when it is a page of this site other than
    this one; its query string is left out when it holds a card number. Empty otherwise."""
    referer = request.META.get("HTTP_REFERER", "")
    try:
        host = request.get_host()
    except DisallowedHost:
        return ""
    if not referer or not url_has_allowed_host_and_scheme(referer, allowed_hosts={host}):
        return ""
    parts = urlsplit(referer)
    query = "" if contains_card_number(parts.query) else parts.query
    url = urlunsplit(("", "", parts.path or "/", query, ""))
    return "" if url == request.get_full_path() else url


def _in_layout(request, template_name: str, status: int) -> HttpResponse:
    """A page of the desk's layout; its bare twin when the layout cannot be drawn (no database)."""
    try:
        body = loader.render_to_string(template_name, {"back_url": back_url(request)}, request=request)
    except Exception:
        logger.exception("The %s error page could not be drawn in the layout; its bare page was answered.", status)
        return _bare(f"errors/{status}_bare.html", status)
    return HttpResponse(body, status=status)


def bad_request(request, exception=None):
    if is_api(request):
        return error_response(400, "bad_request", _("Bad request."))
    return _bare("400.html", 400)


def permission_denied(request, exception=None):
    if is_api(request):
        return error_response(403, "permission_denied", _("You do not have permission to perform this action."))
    return _in_layout(request, "403.html", 403)


def page_not_found(request, exception=None):
    if is_api(request):
        return error_response(404, "not_found", _("Not found."))
    return _in_layout(request, "404.html", 404)


def server_error(request):
    if is_api(request):
        return error_response(500, "error", _("Server error."))
    return _bare("500.html", 500)


def csrf_failure(request, reason=""):
    """A form sent without a valid CSRF token (a page left open too long, cookies refused): the
    desk's own 403 page saying what to do. Django has logged the reason already."""
    return _in_layout(request, "403_csrf.html", 403)
