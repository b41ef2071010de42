"""Show every time in the viewer's own zone (their profile, else the desk default), and read
what every page asks of the viewer (profile, groups, permissions) in one query (`accounts.preload`)."""

import zoneinfo

from django.conf import settings
from django.utils import timezone

from accounts.preload import user_preload


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
