"""Template tags of the page shell (templates/base.html)."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.contrib.auth.context_processors import PermWrapper
from django.template.loader import get_template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

# Rendered main navigations, by what they depend on. A few languages, roles and pages: bounded
# anyway, so an unusual set of permissions cannot grow it without end.
_NAV_CACHE: dict[tuple, str] = {}
_NAV_CACHE_SIZE = 512


@register.simple_tag(takes_context=True)
def main_nav(context) -> SafeString:
    """The main navigation (includes/main_nav.html), rendered once per process for each language,
    set of permissions and current page: it depends on nothing else, and every signed-in page
    (each htmx swap of a whole page too) wrote its forty-odd links and permission tests again."""
    user = context["user"]
    perms = context.get("perms") or PermWrapper(user)
    match = getattr(context.get("request"), "resolver_match", None)
    current, namespace = (match.url_name, match.namespace) if match else (None, None)
    # A superuser has every permission without reading them (ModelBackend would query them all).
    granted = None if user.is_superuser else frozenset(user.get_all_permissions())
    key = (get_language(), user.is_active, user.is_superuser, granted, current, namespace)
    html = _NAV_CACHE.get(key)
    if html is None:
        html = get_template("includes/main_nav.html").render(
            {"user": user, "perms": perms, "current": current, "namespace": namespace}
        )
        if not settings.DEBUG:  # a template edited while the development server runs shows at once
            if len(_NAV_CACHE) >= _NAV_CACHE_SIZE:
                _NAV_CACHE.clear()
            _NAV_CACHE[key] = html
    return mark_safe(html)  # rendered by the template engine, which escaped it
