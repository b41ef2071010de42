"""Show every time in the viewer's own zone (their profile, else the desk default), and read
what every page asks of the viewer (profile, groups, permissions) in one query."""

import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef, Value
from django.db.models.functions import Concat, JSONObject
from django.utils import timezone


def _permission_names(permissions):
    """ "app_label.codename" of each permission, as `ModelBackend` names them."""
    return (
        permissions.annotate(perm_name=Concat("content_type__app_label", Value("."), "codename"))
        .order_by()
        .values("perm_name")
    )


def user_preload(user) -> None:
    """Fill the caches Django reads the viewer's profile, groups and permissions from, with one query.

    Every page asks for them: the time zone and language (profile), the role shown in the header
    (groups) and the permission checks of the view and its template (`ModelBackend`'s
    `_user_perm_cache`, `_group_perm_cache` and `_perm_cache`, which it would otherwise fill with a
    query each). A superuser's permissions are every permission: `ModelBackend` reads them itself.
    """
    if getattr(user, "_preloaded", False) or not user.is_authenticated:
        return
    user._preloaded = True
    users = get_user_model().objects.filter(pk=user.pk).select_related("profile")
    groups = Group.objects.filter(user=OuterRef("pk")).order_by("id").values(row=JSONObject(id="id", name="name"))
    annotations = {"preload_groups": ArraySubquery(groups)}
    if user.is_active and not user.is_superuser:
        annotations["preload_user_perms"] = ArraySubquery(
            _permission_names(Permission.objects.filter(user=OuterRef("pk")))
        )
        annotations["preload_group_perms"] = ArraySubquery(
            _permission_names(Permission.objects.filter(group__user=OuterRef("pk"))).distinct()
        )
    loaded = users.annotate(**annotations).first()
    if loaded is None:
        return
    try:
        user.profile = loaded.profile
    except get_user_model().profile.RelatedObjectDoesNotExist:
        user._state.fields_cache["profile"] = None  # no profile yet: Django's own "none" cache
    group_list = user.groups.all()
    group_list._result_cache = [Group(id=row["id"], name=row["name"]) for row in loaded.preload_groups]
    group_list._prefetch_done = True
    user._prefetched_objects_cache = {**getattr(user, "_prefetched_objects_cache", {}), "groups": group_list}
    if "preload_user_perms" in annotations:
        user._user_perm_cache = set(loaded.preload_user_perms)
        user._group_perm_cache = set(loaded.preload_group_perms)
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
