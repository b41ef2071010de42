"""What every app's views share: the permission gate, a service's errors on a form, paging, the client's address.

Views stay thin (form in → service → redirect or re-render); these helpers are the parts of that
pattern that are the same on every page, so no app has to import another app's views for them.
"""

from __future__ import annotations

from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.http import QueryDict

from payhealth.pan import masked


def desk_permission(*perms: str):
    """Logged in (else the login page) and holding every permission (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


def client_ip(request) -> str:
    """The client's address: the connection's, or behind a trusted proxy (PAYHEALTH_TRUSTED_PROXY)
    the last address of X-Forwarded-For, the one that proxy appended; earlier entries are the
    client's own word."""
    if settings.PAYHEALTH_TRUSTED_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")


def add_service_errors(form: forms.Form, error: ValidationError, field_map: dict[str, str] | None = None) -> None:
    """Show a service's ValidationError on the form: on the matching field, else above the form.

    `field_map` names the form field for a model field where they differ ("observed_rate" is
    typed as "observed_pct").
    """
    field_map = field_map or {}
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        name = field_map.get(field, field)
        form.add_error(name if name in form.fields else None, errors)


def masked_query(query: QueryDict) -> QueryDict:
    """A query string's parameters with every card number masked: what a link, an address bar or a
    saved view may carry of a request (the request itself may have been refused for one)."""
    safe = QueryDict(mutable=True)
    for key, values in query.lists():
        safe.setlist(masked(key), [masked(value) for value in values])
    return safe


def full_path_without_card_numbers(request) -> str:
    """`request.get_full_path()` with card numbers masked in its query string."""
    query = masked_query(request.GET).urlencode()
    return f"{request.path}?{query}" if query else request.path


def wants_fragment(request) -> bool:
    """An htmx request gets the swapped part alone; a history restore after a cache miss needs the page."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.history_restore_request


def results_only(request) -> bool:
    """An htmx request aimed at the results block gets that block alone."""
    return bool(getattr(request, "htmx", False)) and request.htmx.target == "results"


def page_of(request, rows, per_page: int) -> Page:
    """The page the request asks for; a missing or wrong number gives the first or last page."""
    return Paginator(rows, per_page).get_page(request.GET.get("page"))


class PageNumbers:
    """Page arithmetic for a page dataclass with `count`, `count_capped`, `number`, `per_page` and `on_page`.

    For lists that count only up to a cap (`count_capped`): the last page is then unknown, so
    there is always a next page and no link claims to be the last.
    """

    count: int
    count_capped: bool
    number: int
    per_page: int

    @property
    def on_page(self) -> int:
        raise NotImplementedError

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.count_capped or self.number < self.num_pages

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.on_page else 0

    @property
    def end_index(self) -> int:
        return self.start_index + self.on_page - 1 if self.on_page else 0
