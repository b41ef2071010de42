"""Signing PayHealth webhooks, and verifying them on the receiving side.

Every delivery is a `POST` with a JSON body and three headers:

    PayHealth-Webhook-Id:        the event's id (a UUID; the same on retries and replays, so
                                 a receiver can ignore an event it has already processed)
    PayHealth-Webhook-Timestamp: when this attempt was signed, in Unix seconds
    PayHealth-Webhook-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>

The timestamp is part of what is signed, so a captured request cannot be replayed later than
the receiver's tolerance (5 minutes by default). The header may carry several space-separated
`v1=` values; a request is genuine when any of them matches.

This module uses the standard library only: receivers may copy it as it is. For example, with
Flask:

    from signing import verify

    @app.post("/payhealth")
    def payhealth():
        if not verify(SECRET, request.headers, request.get_data()):
            abort(400)
        event = request.get_json()
        ...

Verify the raw bytes of the body as received, before parsing them as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

ID_HEADER = "PayHealth-Webhook-Id"
TIMESTAMP_HEADER = "PayHealth-Webhook-Timestamp"
SIGNATURE_HEADER = "PayHealth-Webhook-Signature"
SCHEME = "v1"


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The signature header's value for `body` signed at `timestamp`: "v1=<hex>"."""
    message = str(int(timestamp)).encode("ascii") + b"." + _bytes(body)
    digest = hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict with other capitalisation
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify(
    secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300, now: float | None = None
) -> bool:
    """Whether `body` with these `headers` was signed with `secret` within `tolerance` seconds.

    Compares in constant time and refuses timestamps older (or newer) than the tolerance.
    """
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    if not timestamp or not signatures:
        return False
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - signed_at) > tolerance:
        return False
    expected = sign(secret, signed_at, body)
    candidates = [item.strip() for item in signatures.replace(",", " ").split() if item.startswith(f"{SCHEME}=")]
    return any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates)
