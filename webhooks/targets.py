"""Where webhooks may go: public hosts only, checked when a subscription is saved and again at
every attempt.

A subscriber chooses the URL and reads what comes back, so an unchecked URL lets them make
PayHealth's own servers call the services beside it (Redis, PostgreSQL, a cloud metadata
endpoint) and read the answer. So the host is resolved and every address it resolves to is
classified: a loopback, link-local, private, multicast, unspecified or reserved address (IPv4 or
IPv6, an IPv4 address carried inside an IPv6 one included) refuses the URL, and so do local names
(`localhost`, `*.internal` such as `metadata.google.internal`, `*.local`, names of one label that
only an intranet resolver knows) before any lookup.

PAYHEALTH_WEBHOOK_ALLOWED_HOSTS names the exceptions: a host name listed there (or under a listed
`.domain`) is trusted wherever it resolves; an address inside a listed network passes the address
check.

At delivery the connection goes to the addresses that were checked (`Target.addresses`), with the
name kept for the Host header, TLS SNI and the certificate check; nothing looks the name up a
second time, so a name that resolved to a public address when it was saved and resolves to
127.0.0.1 now (DNS rebinding) is refused now.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payhealth.config import host_entry

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LOCAL_NAMES = frozenset({"localhost"})
# RFC 6761 (.localhost), RFC 6762 (.local), RFC 8375 (.home.arpa), ICANN's private-use .internal
# (Google Cloud's metadata server is metadata.google.internal), and the distributions' .localdomain.
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # carrier-grade NAT, shared address space (cloud metadata at 100.100.100.200)
        "fc00::/7",  # unique local
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits

KINDS = {
    "unspecified": gettext_lazy("an unspecified address"),
    "loopback": gettext_lazy("a loopback address"),
    "link-local": gettext_lazy("a link-local address"),
    "multicast": gettext_lazy("a multicast address"),
    "private": gettext_lazy("a private address"),
    "reserved": gettext_lazy("a reserved address"),
}


class RefusedTarget(Exception):  # noqa: N818 - a refusal, raised for the caller to report
    """The URL's host is one PayHealth does not send webhooks to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart, with the addresses that were checked: connect to these only."""

    scheme: str
    host: str  # ASCII (IDNA) name or IP literal without brackets: the Host header and TLS name
    port: int
    path: str  # the request target: path and query
    addresses: tuple[str, ...]


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_kind(ip: IPAddress) -> str | None:
    """Why PayHealth does not send to `ip` (a key of KINDS), or None for a public address."""
    if ip.version == 6 and (inner := embedded_ipv4(ip)) is not None:
        return address_kind(inner)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in network for network in PRIVATE_NETWORKS):
        return "private"
    if ip.is_reserved or ip.is_private or not ip.is_global:  # documentation, benchmarking, 240/4, ...
        return "reserved"
    return None


def is_local_name(name: str) -> bool:
    """A name only this machine or its intranet resolves: never a public receiver."""
    return name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES) or "." not in name


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]
    domains: tuple[str, ...]  # ".example.com": the domain and every name under it
    networks: tuple[IPNetwork, ...]

    def names_host(self, name: str) -> bool:
        return name in self.names or any(name == domain[1:] or name.endswith(domain) for domain in self.domains)

    def admits(self, ip: IPAddress) -> bool:
        candidates = [ip]
        if ip.version == 6 and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        return any(candidate in network for candidate in candidates for network in self.networks)


@lru_cache(maxsize=8)
def _allow_list(entries: tuple[str, ...]) -> AllowList:
    parsed = [host_entry(entry) for entry in entries]
    names = [entry for entry in parsed if isinstance(entry, str)]
    return AllowList(
        names=frozenset(name for name in names if not name.startswith(".")),
        domains=tuple(name for name in names if name.startswith(".")),
        networks=tuple(entry for entry in parsed if not isinstance(entry, str)),
    )


def allow_list() -> AllowList:
    """PAYHEALTH_WEBHOOK_ALLOWED_HOSTS, parsed (checked at start-up by payhealth.config)."""
    return _allow_list(tuple(settings.PAYHEALTH_WEBHOOK_ALLOWED_HOSTS))


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, each once (raises
    socket.gaierror when it resolves to none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refused(reason: str) -> RefusedTarget:
    hint = _("An administrator can allow it in PAYHEALTH_WEBHOOK_ALLOWED_HOSTS.")
    return RefusedTarget(f"{reason} {hint}")


def checked_addresses(host: str, port: int, *, lookup: bool = True) -> tuple[str, ...]:
    """The addresses of `host` that a webhook may be sent to: all it resolves to, each allowed.

    Raises RefusedTarget when the name is local or any address is not public (one bad address
    is enough: the resolver may hand out either), socket.gaierror when the name does not
    resolve. With `lookup=False`, only what can be told without DNS is checked (names and
    literal addresses) and a name gives no addresses.
    """
    allowed = allow_list()
    literal = _literal(host)
    if literal is None:
        name = host.rstrip(".")
        if allowed.names_host(name):
            return tuple(resolve(host, port)) if lookup else ()
        if is_local_name(name):
            raise _refused(
                _("“%(host)s” is a local or internal name; PayHealth sends webhooks to public hosts only.")
                % {"host": host}
            )
        if not lookup:
            return ()
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        kind = address_kind(ip)
        if kind is not None and not allowed.admits(ip):
            if literal is not None:
                reason = _("“%(host)s” is %(kind)s; PayHealth sends webhooks to public addresses only.")
            else:
                reason = _("“%(host)s” resolves to %(kind)s; PayHealth sends webhooks to public addresses only.")
            raise _refused(reason % {"host": host, "kind": KINDS[kind]})
    return tuple(addresses)


def split_url(url: str) -> tuple[str, str, int, str]:
    """scheme, ASCII host, port and request target of an http(s) URL; ValueError if it has none."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {url!r}")
    try:
        host = parts.hostname.encode("idna").decode("ascii") if not _literal(parts.hostname) else parts.hostname
    except UnicodeError:
        raise ValueError(f"not a valid host name: {parts.hostname!r}") from None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path


def webhook_target(url: str) -> Target:
    """The target of a delivery attempt, resolved and checked now (see the module doc).

    Raises RefusedTarget, socket.gaierror (the name does not resolve now) or ValueError."""
    scheme, host, port, path = split_url(url)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=checked_addresses(host, port))


def url_refused_without_lookup(url: str) -> bool:
    """Whether `url` is refused by what can be told without DNS (its name or literal address)."""
    try:
        _scheme, host, port, _path = split_url(url)
        checked_addresses(host, port, lookup=False)
    except RefusedTarget:
        return True
    except ValueError:
        return False
    return False


def validate_webhook_target(url: str) -> None:
    """Refuse a subscription's URL whose host is not public now (a form and API field error).

    A name that does not resolve yet (a receiver not deployed yet) is accepted: every attempt
    checks it again before connecting."""
    try:
        _scheme, host, port, _path = split_url(url)
        checked_addresses(host, port)
    except RefusedTarget as refused:
        raise ValidationError(str(refused), code="refused_target") from None
    except (OSError, ValueError):  # no address now, or not a URL (the URL validator says so)
        return
