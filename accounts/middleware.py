"""Show every time in the viewer's own zone (their profile, else the desk default), and read
what every page asks of the viewer (profile, groups, permissions) in one query."""

import json
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Concat, JSONObject
from django.utils import timezone

from accounts.models import Profile
from payhealth.db import from_json, json_of


def _permission_names(permissions):
    """ "app_label.codename" of each permission, as `ModelBackend` names them."""
    return (
        permissions.annotate(perm_name=Concat("content_type__app_label", Value("."), "codename"))
        .order_by()
        .values("perm_name")
    )


_PRELOAD_SENTINEL = -2_000_000_002  # the user id the cached SQL is compiled with (a 32-bit id)
_preload_queries: dict[bool, tuple[str, list, int]] = {}


def _preload_query(*, with_permissions: bool) -> tuple[str, list, int]:
    """The SQL of `user_preload`, compiled once per process (with or without the permission
    names): building and compiling it with the ORM cost more than running it, on every page.
    Returns the SQL, its parameters and the index of the user id among them."""
    if with_permissions in _preload_queries:
        return _preload_queries[with_permissions]
    profile = Profile.objects.filter(user=OuterRef("pk")).values(json=json_of(Profile))[:1]
    groups = Group.objects.filter(user=OuterRef("pk")).order_by("id").values(row=JSONObject(id="id", name="name"))
    annotations = {"preload_profile": Subquery(profile), "preload_groups": ArraySubquery(groups)}
    if with_permissions:
        annotations["preload_user_perms"] = ArraySubquery(
            _permission_names(Permission.objects.filter(user=OuterRef("pk")))
        )
        annotations["preload_group_perms"] = ArraySubquery(
            _permission_names(Permission.objects.filter(group__user=OuterRef("pk"))).distinct()
        )
    query = get_user_model().objects.filter(pk=_PRELOAD_SENTINEL).values(**annotations).query
    sql, params = query.sql_with_params()
    params = list(params)
    _preload_queries[with_permissions] = compiled = (sql, params, params.index(_PRELOAD_SENTINEL))
    return compiled


def user_preload(user) -> None:
    """Fill the caches Django reads the viewer's profile, groups and permissions from, with one query.

    Every page asks for them: the time zone and language (profile), the role shown in the header
    (groups) and the permission checks of the view and its template (`ModelBackend`'s
    `_user_perm_cache`, `_group_perm_cache` and `_perm_cache`, which it would otherwise fill with a
    query each). A superuser's permissions are every permission: `ModelBackend` reads them itself.
    The query's SQL is compiled once per process (`_preload_query`).
    """
    if getattr(user, "_preloaded", False) or not user.is_authenticated:
        return
    user._preloaded = True
    with_permissions = user.is_active and not user.is_superuser
    sql, params, at = _preload_query(with_permissions=with_permissions)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params[:at], user.pk, *params[at + 1 :]])
        row = cursor.fetchone()
        columns = [column.name for column in cursor.description]
    if row is None:
        return
    loaded = dict(zip(columns, row, strict=True))
    profile = from_json(Profile, loaded["preload_profile"])
    if profile is not None:
        user.profile = profile  # also caches the user on the profile, as select_related did
    else:
        user._state.fields_cache["profile"] = None  # no profile yet: Django's own "none" cache
    group_list = user.groups.all()
    groups = [json.loads(row) if isinstance(row, str) else row for row in loaded["preload_groups"] or []]
    group_list._result_cache = [Group(id=row["id"], name=row["name"]) for row in groups]
    group_list._prefetch_done = True
    user._prefetched_objects_cache = {**getattr(user, "_prefetched_objects_cache", {}), "groups": group_list}
    if with_permissions:
        user._user_perm_cache = set(loaded["preload_user_perms"] or [])
        user._group_perm_cache = set(loaded["preload_group_perms"] or [])
        user._perm_cache = user._user_perm_cache | user._group_perm_cache


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = settings.PAYHEALTH_TIME_ZONE
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_preload(user)
            profile = getattr(user, "profile", None)
            if profile is not None:
                name = profile.timezone
        request.timezone_name = name
        with timezone.override(zoneinfo.ZoneInfo(name)):
            return self.get_response(request)
