"""Who a referrer token belongs to: HS256 JWTs whose ``sub`` is the referrer id."""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt
from pydantic import SecretStr

from payments.errors import Unauthenticated


class InvalidReferrerToken(Unauthenticated):
    """The token is missing, malformed, wrongly signed, expired or names nobody."""

    code = "invalid_token"


def referrer_from_token(
    token: str, secret: str | SecretStr | None, *, require_expiry: bool = True, leeway_seconds: int = 30
) -> str:
    """The referrer id in a valid token.

    Only HS256 is accepted, so a token cannot choose its own algorithm (``none`` or an asymmetric one
    verified with the shared secret). Tokens must carry ``exp`` unless ``require_expiry`` is off: a
    referrer token that never expires cannot be revoked short of rotating the secret.
    """
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not key:
        raise InvalidReferrerToken("referrer tokens are not configured (PAYMENTS_JWT_SECRET is unset)")
    required = ["sub", "exp"] if require_expiry else ["sub"]
    try:
        claims = jwt.decode(
            token, key, algorithms=["HS256"], options={"require": required}, leeway=leeway_seconds
        )
    except jwt.ExpiredSignatureError:
        raise InvalidReferrerToken("the token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidReferrerToken(f"the token has no {exc.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise InvalidReferrerToken("the token is invalid") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidReferrerToken("the token names no referrer")
    return subject


def issue_referrer_token(
    referrer_id: str, secret: str | SecretStr, *, lifetime: timedelta, now: datetime
) -> str:
    """A referrer token with the claims ``referrer_from_token`` demands (the sign-in link carries one)."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not key:
        raise InvalidReferrerToken("referrer tokens are not configured (PAYMENTS_JWT_SECRET is unset)")
    claims = {"sub": referrer_id, "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
    return jwt.encode(claims, key, algorithm="HS256")
