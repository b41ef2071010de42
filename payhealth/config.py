"""Reading configuration from the environment.

Every variable PayHealth understands is read here, through one of these functions, so that a
malformed value stops start-up with a one-line message naming the variable instead of falling
back silently to a default (a typo in production must never become the embedded database).
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    """A configuration variable is present but unusable; the message names it."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ConfigError(f"{name}={number} is out of range ({minimum} to {maximum})")
    return number


def require_longer(name: str, value: int, *, than: int) -> None:
    """A stuck threshold must exceed the task time limit: a row younger than the limit may still
    belong to a live task, and taking it back would send it twice."""
    if value <= than:
        raise ConfigError(
            f"{name}={value} must be longer than PAYHEALTH_TASK_TIME_LIMIT={than} (seconds): "
            "a task may still be working on a row that young"
        )


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ConfigError(f"{name}={value!r} has an empty item (use a comma-separated list)")
    return items


# A host name as DNS spells it (letters, digits, hyphens; dots between labels), optionally with a
# leading dot: ".example.com" is that domain and every name under it, as in Django's ALLOWED_HOSTS.
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def host_entry(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | str:
    """One item of a host allow-list: an IP network (a bare address is a network of one, an IPv6
    address may keep its brackets), or a lower-case host name without its trailing dot (non-ASCII
    names in their IDNA form). Raises ValueError for anything else."""
    text = value.strip().lower()
    try:
        return ipaddress.ip_network(text.removeprefix("[").removesuffix("]"), strict=False)
    except ValueError:
        pass
    domain = text.startswith(".")
    try:
        name = text.removeprefix(".").rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(value) from None
    if not name or len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise ValueError(value)
    return f".{name}" if domain else name


def env_hosts(name: str, default: list[str]) -> list[str]:
    """Comma-separated host names, IP addresses and CIDR networks (see `host_entry`); empty is none."""
    if _raw(name) == "":
        return []
    items = env_list(name, default)
    for item in items:
        try:
            host_entry(item)
        except ValueError:
            raise ConfigError(
                f"{name} has {item!r}, which is neither a host name, an IP address nor a CIDR network"
            ) from None
    return items


def env_timezone(name: str, default: str) -> str:
    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={value!r} is not an IANA time zone (e.g. America/Mexico_City)") from None
    return value


def database_config(name: str, url: str, *, prepared: bool = True) -> dict:
    """A Django DATABASES entry from a PostgreSQL URL; any other engine is refused. `prepared`:
    whether the queries compiled once are prepared on each connection (see below)."""
    import dj_database_url

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ConfigError(f"{name} must be a postgresql:// URL, got scheme {parts.scheme or 'none'!r}")
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ConfigError(f"{name} is not a valid database URL: {exc}") from None
    if not config.get("NAME"):
        raise ConfigError(f"{name} names no database (postgresql://user@host:5432/DBNAME)")
    if not config.get("HOST") and "host" not in (config.get("OPTIONS") or {}):
        raise ConfigError(f"{name} names no host")
    config["ENGINE"] = "django.db.backends.postgresql"
    # psycopg prepares a statement on its first run, but only for cursors that bind on the
    # server (`payhealth.db.prepared_cursor`, for the queries compiled once); Django's cursors
    # bind on the client and never prepare. None: nothing is prepared (a pooler that cannot
    # keep prepared statements).
    config.setdefault("OPTIONS", {})["prepare_threshold"] = 0 if prepared else None
    return config


BROKER_SCHEMES = {"redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem", "sqs"}


def _check_server(name: str, parts) -> None:
    """A URL naming a server has a host and, if any, a numeric port."""
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"{name} names no host")


def broker_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in BROKER_SCHEMES:
        raise ConfigError(
            f"{name} has unsupported scheme {parts.scheme or 'none'!r} (use one of {', '.join(sorted(BROKER_SCHEMES))})"
        )
    if parts.scheme in {"redis", "rediss", "amqp", "amqps", "pyamqp"}:
        _check_server(name, parts)
    return url


@dataclass(frozen=True)
class EmailConfig:
    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: int = 30
    file_path: str = ""


_EMAIL_SCHEMES = {
    "smtp": ("django.core.mail.backends.smtp.EmailBackend", 25, False, False),
    "submission": ("django.core.mail.backends.smtp.EmailBackend", 587, True, False),
    "smtp+tls": ("django.core.mail.backends.smtp.EmailBackend", 587, True, False),
    "smtps": ("django.core.mail.backends.smtp.EmailBackend", 465, False, True),
    "smtp+ssl": ("django.core.mail.backends.smtp.EmailBackend", 465, False, True),
    "console": ("django.core.mail.backends.console.EmailBackend", 0, False, False),
    "locmem": ("django.core.mail.backends.locmem.EmailBackend", 0, False, False),
}


def email_config(name: str, url: str) -> EmailConfig:
    """Parse smtp://user:password@host:port (smtp+tls://, smtps://, console://, locmem://)."""
    parts = urlsplit(url)
    if parts.scheme not in _EMAIL_SCHEMES:
        raise ConfigError(
            f"{name} has unsupported scheme {parts.scheme or 'none'!r} (use one of {', '.join(sorted(_EMAIL_SCHEMES))})"
        )
    backend, default_port, use_tls, use_ssl = _EMAIL_SCHEMES[parts.scheme]
    if not backend.endswith("smtp.EmailBackend"):
        return EmailConfig(backend=backend)
    if not parts.hostname:
        raise ConfigError(f"{name} names no host (smtp://user:password@host:port)")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port") from None
    query = parse_qs(parts.query)
    timeout_values = query.get("timeout", ["15"])
    try:
        timeout = int(timeout_values[0])
    except ValueError:
        raise ConfigError(f"{name} has an invalid timeout={timeout_values[0]!r}") from None
    return EmailConfig(
        backend=backend,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        timeout=timeout,
    )


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    folder: str = "INBOX"
    ssl: bool = True


_IMAP_SCHEMES = {"imaps": (993, True), "imap": (143, False)}


def imap_config(name: str, url: str) -> ImapConfig | None:
    """Parse imaps://user:password@host:port/FOLDER (imap:// for a server on loopback); empty is None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in _IMAP_SCHEMES:
        raise ConfigError(f"{name} has unsupported scheme {parts.scheme or 'none'!r} (use imaps:// or imap://)")
    default_port, use_ssl = _IMAP_SCHEMES[parts.scheme]
    if not parts.hostname:
        raise ConfigError(f"{name} names no host (imaps://user:password@host/INBOX)")
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port") from None
    if not parts.username:
        raise ConfigError(f"{name} names no user (imaps://user:password@host/INBOX)")
    return ImapConfig(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.strip("/")) or "INBOX",
        ssl=use_ssl,
    )


_THROTTLE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def throttle_rate(name: str, value: str) -> str:
    """A DRF throttle rate such as `1200/min`: a positive count, a slash and a period."""
    count, _sep, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _THROTTLE_PERIODS:
        raise ConfigError(f"{name}={value!r} is not a rate like 1200/min (periods: s, min, hour, day)")
    return value


def cache_config(name: str, url: str) -> dict:
    """`redis://host:port/db` → Django's Redis cache; empty → this process's memory."""
    if not url:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "payhealth"}
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ConfigError(f"{name} has unsupported scheme {parts.scheme or 'none'!r} (use redis or rediss)")
    _check_server(name, parts)
    return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}


def source_database_url(name: str, url: str) -> str:
    """A postgresql:// URL naming a host and a database (a read-only source such as a warehouse),
    or the empty string (no source)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ConfigError(f"{name} must be a postgresql:// URL, got scheme {parts.scheme or 'none'!r}")
    _check_server(name, parts)
    if not parts.path.strip("/"):
        raise ConfigError(f"{name} names no database (postgresql://user@host:5432/DBNAME)")
    return url


_SQL_NOISE = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", re.DOTALL)
_SQL_PLACEHOLDER = re.compile(r"(?<![:\w]):(start|end)\b")


def select_query(name: str, text: str) -> str:
    """One SELECT (or WITH … SELECT) statement using the :start and :end placeholders.

    Comments, quoted strings and quoted names are set aside first, so a `;` inside them is not a
    second statement; dollar-quoted strings are refused as a whole (a query needs none). The
    statement still runs in a read-only transaction: this check gives a clear message at start-up,
    the transaction is what keeps the source unwritten.
    """
    bare = _SQL_NOISE.sub(" ", text).strip()
    if "$" in bare:
        raise ConfigError(f"{name} may not use dollar quoting or $n parameters; use :start and :end")
    bare = bare.removesuffix(";").strip()
    if not bare:
        raise ConfigError(f"{name} is empty")
    if ";" in bare:
        raise ConfigError(f"{name} holds more than one statement; give a single SELECT")
    first = re.match(r"\(*\s*([A-Za-z]+)", bare)
    if first is None or first.group(1).upper() not in {"SELECT", "WITH"}:
        raise ConfigError(f"{name} must be a single SELECT or WITH … SELECT statement")
    placeholders = set(_SQL_PLACEHOLDER.findall(bare))
    for placeholder in ("start", "end"):
        if placeholder not in placeholders:
            raise ConfigError(f"{name} does not use :{placeholder} (the window is start ≤ bucket_start < end)")
    return text.strip().removesuffix(";").strip()
