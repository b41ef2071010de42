"""Writes for accounts: people's accounts, preferences and personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, Profile
from accounts.preload import token_with_user

TOKEN_PREFIX = "ph_"
# last_used_at is written at most this often per token, so reads don't all become writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def account_save(*, user, actor, roles=None):
    """A superuser saves a person's account (the admin's user pages).

    Staff status follows superuser status and nothing else: the admin is for superusers, and a
    desk role is never staff. What a person may do on the desk comes from their roles (the groups
    of `accounts.roles`), never from permissions given one by one. `roles`, when given, are the
    role groups the person holds afterwards.
    """
    if not actor.is_superuser:
        raise PermissionDenied(_("Only superusers manage accounts."))
    user.is_staff = user.is_superuser
    user.full_clean(exclude=["password"])
    user.save()
    if roles is not None:
        user.groups.set(roles)
    user.user_permissions.clear()
    return user


def profile_for(*, user) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile


@transaction.atomic
def profile_update(*, user, timezone: str, language: str) -> Profile:
    profile = profile_for(user=user)
    profile.timezone = timezone
    profile.language = language
    profile.full_clean()
    profile.save(update_fields=["timezone", "language"])
    return profile


@transaction.atomic
def profile_queue_columns_update(*, user, columns) -> Profile:
    """Save the optional columns `user` wants in the incident queue (a list of known keys; None
    goes back to the default columns). Unknown or repeated keys are refused."""
    profile = Profile.objects.select_for_update().get(pk=profile_for(user=user).pk)
    profile.queue_columns = None if columns is None else list(columns)
    profile.full_clean(validate_constraints=False)
    profile.save(update_fields=["queue_columns"])
    return profile


@transaction.atomic
def profile_language_set(*, user, language: str) -> Profile:
    """Remember the language a person chose with the switch at the top of the page."""
    profile = profile_for(user=user)
    if profile.language != language:
        profile.language = language
        profile.full_clean()
        profile.save(update_fields=["language"])
    return profile


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the plain token, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name, e.g. what will use it.")}, code="required")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, prefix=prefix, digest=token_digest(secret))
    token.full_clean(exclude=["digest"], validate_constraints=False)  # the unique name: IntegrityError below
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError as error:  # the same name raced in from another request
        raise ValidationError({"name": _("You already have an active token with this name.")}) from error
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor) -> ApiToken:
    """Revoke a token at once; only its owner (or a superuser) may."""
    if actor.pk != token.user_id and not actor.is_superuser:
        raise PermissionDenied(_("Only the token's owner can revoke it."))
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
    return locked


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token matching `raw` (`ph_<prefix>_<secret>`), or None; constant-time compare.
    Its user comes preloaded with their profile, groups and permissions (`accounts.preload`)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, _sep, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    token = token_with_user(prefix)  # with its user's profile, groups and permissions: one query
    if token is None or not secrets.compare_digest(token.digest, token_digest(secret)):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
