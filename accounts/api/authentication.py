"""Personal API tokens sent as `Authorization: Bearer ph_<prefix>_<secret>`."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, throttling

from accounts.services import api_token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """A token acts as its user with exactly the user's roles; `request.auth` is the ApiToken."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the token as 'Authorization: Bearer <token>'."))
        try:
            raw = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(_("The token contains invalid characters.")) from error
        token = api_token_authenticate(raw)
        if token is None or not token.user.is_active:
            refused = WrongTokenThrottle()
            if not refused.allow_request(request, None):
                raise exceptions.Throttled(refused.wait())
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class WrongTokenThrottle(throttling.SimpleRateThrottle):
    """Wrong tokens spend the anonymous rate of their address (PAYHEALTH_API_THROTTLE_ANON); past
    it they get 429 instead of 401. Authentication fails before the API's throttles are asked, so
    without this nothing would count them. A token's secret is 256 random bits, so this is about
    load, not about guessing ever succeeding."""

    scope = "anon"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "wrong-token", "ident": self.get_ident(request)}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`ph_…`), created on the API tokens page.",
        }
