"""Production: SECRET_KEY is required, cookies are secure, debug is off unless DEBUG says so."""

from payhealth import config
from payhealth.settings.base import *  # noqa: F403

if not SECRET_KEY:  # noqa: F405
    raise config.ConfigError("SECRET_KEY is required in production (a long random string)")
DEBUG = config.env_bool("DEBUG", False)
SESSION_COOKIE_SECURE = config.env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
