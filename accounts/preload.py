"""What every request asks of its user (profile, groups, permissions), read in one query.

Every page and API call asks for them: the time zone and language (profile), the role shown in
the header (groups) and the permission checks of the view and its template (`ModelBackend`'s
`_user_perm_cache`, `_group_perm_cache` and `_perm_cache`, which it would otherwise fill with a
query each). A superuser's permissions are every permission: `ModelBackend` reads them itself.

Two queries carry them: `user_preload` (a signed-in session's user, by id, from the middleware)
and `token_with_user` (a Bearer token's row, its user and the same columns, from the token's
prefix). Each is compiled once per process: building and compiling these ORM queries cost more
than running them, on every request.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Concat, JSONObject

from accounts.models import ApiToken, Profile
from payhealth.db import Compiled, compiled, from_json, json_of, prepared_row

# The values the cached SQL is compiled with, replaced by the real one at each run.
_USER_SENTINEL = -2_000_000_002  # a user id (a 32-bit id no row has)
_PREFIX_SENTINEL = "\x1fprefix-sentinel"  # a token prefix (no prefix holds a control character)


def _permission_names(permissions):
    """ "app_label.codename" of each permission, as `ModelBackend` names them."""
    return (
        permissions.annotate(perm_name=Concat("content_type__app_label", Value("."), "codename"))
        .order_by()
        .values("perm_name")
    )


def _preload_columns(user: str, *, with_permissions: bool) -> dict:
    """The preload's columns for the user whose id is the outer query's column `user`."""
    profile = Profile.objects.filter(user=OuterRef(user)).values(json=json_of(Profile))[:1]
    groups = Group.objects.filter(user=OuterRef(user)).order_by("id").values(row=JSONObject(id="id", name="name"))
    columns = {"preload_profile": Subquery(profile), "preload_groups": ArraySubquery(groups)}
    if with_permissions:
        columns["preload_user_perms"] = ArraySubquery(_permission_names(Permission.objects.filter(user=OuterRef(user))))
        columns["preload_group_perms"] = ArraySubquery(
            _permission_names(Permission.objects.filter(group__user=OuterRef(user))).distinct()
        )
    return columns


def _compiled_query(kind: str, *, with_permissions: bool) -> Compiled:
    """The SQL of one of the two queries, compiled once per process (payhealth.db.compiled)."""
    if kind == "user":
        return compiled(
            ("accounts:preload", kind, with_permissions),
            lambda: (
                get_user_model()
                .objects.filter(pk=_USER_SENTINEL)
                .values(**_preload_columns("pk", with_permissions=with_permissions))
            ),
            _USER_SENTINEL,
        )
    return compiled(
        ("accounts:preload", kind, with_permissions),
        lambda: (
            ApiToken.objects.filter(prefix=_PREFIX_SENTINEL, revoked_at__isnull=True)
            .order_by()
            .values(
                token=json_of(ApiToken, related={"user": (get_user_model(), ())}),
                **_preload_columns("user_id", with_permissions=with_permissions),
            )[:1]
        ),
        _PREFIX_SENTINEL,
    )


def _fetch(kind: str, value, *, with_permissions: bool) -> dict | None:
    query = _compiled_query(kind, with_permissions=with_permissions)
    return prepared_row(query.sql, query.bind(value))


def _fill(user, loaded: dict) -> None:
    """Put the preload's columns where Django reads them from."""
    user._preloaded = True
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
    if "preload_user_perms" in loaded and user.is_active and not user.is_superuser:
        user._user_perm_cache = set(loaded["preload_user_perms"] or [])
        user._group_perm_cache = set(loaded["preload_group_perms"] or [])
        user._perm_cache = user._user_perm_cache | user._group_perm_cache


def user_preload(user) -> None:
    """Fill the caches Django reads a signed-in user's profile, groups and permissions from, with
    one query (nothing when already done, or for an anonymous user)."""
    if getattr(user, "_preloaded", False) or not user.is_authenticated:
        return
    user._preloaded = True
    loaded = _fetch("user", user.pk, with_permissions=user.is_active and not user.is_superuser)
    if loaded is not None:
        _fill(user, loaded)


def token_with_user(prefix: str) -> ApiToken | None:
    """The active token with this prefix, its user cached on it and preloaded as `user_preload`
    leaves a user, in one query; None when there is none."""
    loaded = _fetch("token", prefix, with_permissions=True)
    if loaded is None:
        return None
    token = from_json(ApiToken, loaded["token"])
    _fill(token.user, loaded)
    return token
