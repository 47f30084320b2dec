"""Signed, expiring cookie sessions for the pages, and the CSRF tokens bound to them.

A session is ``base64url(json) . base64url(HMAC-SHA256)``: the server keeps no session store and can still
refuse a forged, altered or expired cookie. The key is derived from ``PAYMENTS_SESSION_SECRET`` or, when
that is unset, from the admin credential (then the referrer JWT secret); rotating it signs everyone out.
The role is inside the signed payload, so a referrer's cookie never opens the console whatever its name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments.config import Settings

ADMIN = "admin"
REFERRER = "referrer"
MAX_COOKIE = 1024  # a session we issued is ~200 bytes; anything longer is refused before decoding

CONSOLE_LIFETIME = timedelta(hours=1)
REFERRER_LIFETIME = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class Session:
    role: str
    subject: str
    expires: int  # unix seconds
    nonce: str


def session_key(settings: Settings) -> bytes | None:
    """None when nothing secret is configured: then no session can be issued or accepted."""
    for secret in (settings.session_secret, settings.api_token, settings.jwt_secret):
        if secret is not None and secret.get_secret_value():
            material = secret.get_secret_value().encode()
            return hmac.new(material, b"payments.pages.session.v1", hashlib.sha256).digest()
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, key: bytes, clock: Callable[[], datetime]) -> None:
        self._key = key
        self._clock = clock

    def issue(self, role: str, subject: str, lifetime: timedelta) -> tuple[str, Session]:
        session = Session(
            role=role,
            subject=subject,
            expires=int((self._clock() + lifetime).timestamp()),
            nonce=secrets.token_urlsafe(16),
        )
        body = _b64(
            json.dumps(
                {"r": session.role, "s": session.subject, "e": session.expires, "n": session.nonce},
                separators=(",", ":"),
            ).encode()
        )
        return f"{body}.{self._sign(b'session:' + body.encode())}", session

    def read(self, cookie: str | None, role: str) -> Session | None:
        """The session in a cookie we issued for ``role`` and that has not expired; else None."""
        if not cookie or len(cookie) > MAX_COOKIE or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(b"session:" + body.encode())):
            return None
        try:
            data = json.loads(_unb64(body))
            session = Session(role=data["r"], subject=data["s"], expires=data["e"], nonce=data["n"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        if not (
            isinstance(session.role, str)
            and isinstance(session.subject, str)
            and isinstance(session.expires, int)
            and isinstance(session.nonce, str)
        ):
            return None
        if session.role != role or session.expires <= int(self._clock().timestamp()):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.role}:{session.subject}:{session.nonce}".encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def _sign(self, data: bytes) -> str:
        return _b64(hmac.new(self._key, data, hashlib.sha256).digest())
