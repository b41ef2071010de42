"""Production: SECRET_KEY is required, debug is off unless DEBUG says so, and the site is HTTPS
only (secure cookies, a redirect from plain HTTP, HSTS) unless SECURE_COOKIES=false says it is a
plain-HTTP trial. The API answers JSON only (no browsable API)."""

from payhealth import config
from payhealth.settings.base import *  # noqa: F403

if not SECRET_KEY:  # noqa: F405
    raise config.ConfigError("SECRET_KEY is required in production (a long random string)")
DEBUG = config.env_bool("DEBUG", False)

SECURE_COOKIES = config.env_bool("SECURE_COOKIES", True)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# HTTPS only: plain HTTP is redirected, and browsers are told to use nothing else for this host
# (and its subdomains) for PAYHEALTH_HSTS_SECONDS. Behind a proxy that terminates TLS, set
# PAYHEALTH_TRUSTED_PROXY=true (payhealth/settings/base.py), or every request looks like plain HTTP.
SECURE_SSL_REDIRECT = SECURE_COOKIES
SECURE_HSTS_SECONDS = (
    config.env_int("PAYHEALTH_HSTS_SECONDS", 365 * 24 * 3600, minimum=0, maximum=2 * 365 * 24 * 3600)
    if SECURE_COOKIES
    else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# Silenced checks of `manage.py check --deploy`, each with its reason:
# - security.W021 (SECURE_HSTS_PRELOAD off): asking browsers to preload HSTS binds the whole
#   registered domain and every subdomain for months; that is the domain owner's decision, not
#   something PayHealth's host may declare for them.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
