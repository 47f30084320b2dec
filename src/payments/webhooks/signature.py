"""Stripe webhook signature verification and event parsing.

The ``Stripe-Signature`` scheme is ``t=<unix>,v1=<hex hmac-sha256(secret, f"{t}.{body}")>``.
We reimplement the check instead of calling ``stripe.WebhookSignature.verify_header`` because the
SDK (16.x) only accepts one secret per call (rotation would re-parse the header per secret), only
rejects *old* timestamps, reports every failure as the same exception type without a machine
readable reason, and decodes the body to ``str`` before hashing (a non-UTF-8 body would blow up
before the signature is checked). ``stripe.Webhook.construct_event`` is avoided for the same
reasons plus the ~8x cost of building ``StripeObject`` trees; a plain ``json.loads`` dict is all the
webhook pipeline needs. Wire compatibility with the SDK is pinned by the round-trip tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

from payments.errors import Malformed

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SignatureError",
    "sign_payload",
    "verify_and_parse",
]

DEFAULT_TOLERANCE_SECONDS = 300
_SCHEME = "v1"
# Real headers are ~150 bytes (a few more with several v1 entries during secret rotation); the
# cap bounds the parsing work an unauthenticated caller can make us do.
_MAX_HEADER_LENGTH = 4096
# Unix seconds fit in 11 digits for the next few millennia; the cap also keeps int() away from
# CPython's 4300-digit conversion limit, which would surface as an unrelated ValueError.
_MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Malformed):
    """A webhook was rejected; ``code`` is a stable reason code safe to log and count.

    Codes: ``missing_header``, ``malformed_header``, ``no_v1_signature``, ``bad_signature``,
    ``timestamp_out_of_tolerance``, ``no_secret_configured``, ``malformed_payload``.
    ``message`` is for humans and never contains a secret or a signature value.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.args = (f"{code}: {message}",)


def _expected_signature(payload: bytes, secret: str, timestamp: int) -> bytes:
    # Hashing the raw bytes is identical to the SDK's f"{t}.{payload.decode()}" for any UTF-8
    # body, and lets a non-UTF-8 body fail signature-first rather than at decode time.
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii"), hashlib.sha256)
    mac.update(payload)
    return mac.hexdigest().encode("ascii")


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """Build a ``Stripe-Signature`` header value the way Stripe does (tests, benchmarks, demo)."""
    signature = _expected_signature(payload, secret, timestamp).decode("ascii")
    return f"t={timestamp},{_SCHEME}={signature}"


def _parse_header(header: str) -> tuple[int, list[bytes]]:
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError("malformed_header", "Stripe-Signature header is too long")

    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise SignatureError("malformed_header", "Stripe-Signature header has an item without key=value")
        if key == "t":
            if timestamp is not None:
                raise SignatureError("malformed_header", "Stripe-Signature header has more than one t=")
            # int() would also accept "+1", " 1", "1_0" and non-ASCII digits; Stripe only sends
            # plain ASCII digits, so anything else is treated as tampering.
            if not (value.isascii() and value.isdigit()) or len(value) > _MAX_TIMESTAMP_DIGITS:
                raise SignatureError("malformed_header", "Stripe-Signature t= is not a unix timestamp")
            timestamp = int(value)
        elif key == _SCHEME:
            # Bytes because hmac.compare_digest raises TypeError on non-ASCII str.
            signatures.append(value.encode("utf-8", "surrogatepass"))
        # Other schemes (v0 test-mode signatures, future schemes) are ignored, as Stripe advises.

    if timestamp is None:
        raise SignatureError("malformed_header", "Stripe-Signature header has no t= timestamp")
    if not signatures:
        raise SignatureError("no_v1_signature", f"Stripe-Signature header has no {_SCHEME} signature")
    return timestamp, signatures


def _parse_event(payload: bytes) -> dict[str, Any]:
    try:
        # Explicit decode: json.loads(bytes) would silently accept UTF-16/UTF-32 bodies.
        event = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignatureError("malformed_payload", "webhook body is not UTF-8 JSON") from exc
    if not isinstance(event, dict):
        raise SignatureError("malformed_payload", "webhook body is not a JSON object")
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise SignatureError("malformed_payload", "webhook body lacks a string 'id' or 'type'")
    return event


def verify_and_parse(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance_seconds: int,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify ``Stripe-Signature`` for the raw request body and return the parsed event.

    ``secrets`` may hold several endpoint secrets during rotation; any one of them verifying the
    body is enough. The timestamp must be within ``tolerance_seconds`` of ``now`` in *both*
    directions. Raises :class:`SignatureError` with a reason code on any failure.
    """
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must be >= 0")
    # Blank entries come from unset env vars; treating them as secrets would let anyone sign with "".
    usable_secrets = [s for s in secrets if s.strip()]
    if not usable_secrets:
        raise SignatureError("no_secret_configured", "no webhook signing secret is configured")
    if header is None or not header.strip():
        raise SignatureError("missing_header", "Stripe-Signature header is missing")

    timestamp, candidates = _parse_header(header)

    matched = False
    for secret in usable_secrets:
        expected = _expected_signature(payload, secret, timestamp)
        for candidate in candidates:
            # No short-circuit: the work done must not depend on which secret/candidate matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("bad_signature", "no configured secret produced a matching v1 signature")

    # Checked after the MAC so that the timestamp we judge is one Stripe actually signed.
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise SignatureError(
            "timestamp_out_of_tolerance",
            f"signature timestamp is {current - timestamp}s from now (tolerance {tolerance_seconds}s)",
        )

    return _parse_event(payload)
