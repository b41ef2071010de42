"""The signature scheme receivers implement: HMAC-SHA256 over "<timestamp>.<body>"."""

import hashlib
import hmac

from webhooks.signing import sign, verify

SECRET = "whsec_test"
BODY = b'{"type":"ping"}'


def headers(timestamp, signature):
    return {"PayHealth-Webhook-Timestamp": str(timestamp), "PayHealth-Webhook-Signature": signature}


def test_sign_is_hex_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(b"whsec_test", b'1700000000.{"type":"ping"}', hashlib.sha256).hexdigest()

    assert sign(SECRET, 1700000000, BODY) == f"v1={expected}"
    assert sign(SECRET, 1700000000, BODY.decode()) == f"v1={expected}"


def test_verify_accepts_a_fresh_signature_with_any_header_case():
    signed = sign(SECRET, 1700000000, BODY)
    lower = {k.lower(): v for k, v in headers(1700000000, signed).items()}

    assert verify(SECRET, headers(1700000000, signed), BODY, now=1700000100) is True
    assert verify(SECRET, lower, BODY, now=1700000100) is True


def test_verify_accepts_any_of_several_signatures():
    signed = sign(SECRET, 1700000000, BODY)

    assert verify(SECRET, headers(1700000000, f"v1=deadbeef {signed}"), BODY, now=1700000000) is True


def test_verify_refuses_a_stale_or_future_timestamp():
    signed = sign(SECRET, 1700000000, BODY)

    assert verify(SECRET, headers(1700000000, signed), BODY, now=1700000301) is False
    assert verify(SECRET, headers(1700000000, signed), BODY, now=1699999699) is False
    assert verify(SECRET, headers(1700000000, signed), BODY, tolerance=600, now=1700000301) is True


def test_verify_refuses_a_tampered_body_a_wrong_secret_or_missing_headers():
    signed = sign(SECRET, 1700000000, BODY)

    assert verify(SECRET, headers(1700000000, signed), b'{"type":"pong"}', now=1700000000) is False
    assert verify("whsec_other", headers(1700000000, signed), BODY, now=1700000000) is False
    assert verify(SECRET, headers(1700000001, signed), BODY, now=1700000000) is False  # timestamp is signed
    assert verify(SECRET, {}, BODY, now=1700000000) is False
    assert verify(SECRET, headers("soon", signed), BODY, now=1700000000) is False
