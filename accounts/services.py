"""Writes for accounts."""

from django.db import transaction

from accounts.models import Profile


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
