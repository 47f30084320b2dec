"""Who a referrer token belongs to: HS256 JWTs whose ``sub`` is the referrer id.

A token must name this service's audience and issuer (a token minted for another service with a shared
secret is not ours), carry ``exp`` and ``iat``, and live at most ``max_lifetime_seconds``: both its own
span (exp - iat) and how far ``exp`` lies ahead of now are bounded, so a token with ``exp`` in year 9999
is refused even if it claims a recent ``iat``. A referrer token that lived for ever could not be revoked
short of rotating the secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import SecretStr

from payments.errors import Unauthenticated


class InvalidReferrerToken(Unauthenticated):
    """The token is missing, malformed, wrongly signed, expired or names nobody."""

    code = "invalid_token"


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    audience: str = "payments:referrer"
    issuer: str = "payments"
    max_lifetime_seconds: int = 24 * 3600
    leeway_seconds: int = 30


_REQUIRED = ["sub", "exp", "iat", "aud", "iss"]


def _key(secret: str | SecretStr | None) -> str:
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not key:
        raise InvalidReferrerToken("referrer tokens are not configured (PAYMENTS_JWT_SECRET is unset)")
    return key


def referrer_from_token(
    token: str,
    secret: str | SecretStr | None,
    policy: TokenPolicy = TokenPolicy(),
    *,
    now: datetime | None = None,
) -> str:
    """The referrer id in a valid token.

    Only HS256 is accepted, so a token cannot choose its own algorithm (``none`` or an asymmetric one
    verified with the shared secret).
    """
    key = _key(secret)
    moment = (now or datetime.now(UTC)).timestamp()
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            audience=policy.audience,
            issuer=policy.issuer,
            options={"require": _REQUIRED},
            leeway=policy.leeway_seconds,
        )
    except jwt.ExpiredSignatureError:
        raise InvalidReferrerToken("the token has expired") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidReferrerToken(f"the token has no {exc.claim!r} claim") from None
    except jwt.InvalidAudienceError:
        raise InvalidReferrerToken("the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidReferrerToken("the token is from another issuer") from None
    except jwt.InvalidTokenError:
        raise InvalidReferrerToken("the token is invalid") from None
    issued, expires = claims["iat"], claims["exp"]
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        raise InvalidReferrerToken("the token's iat and exp must be numbers")
    longest = policy.max_lifetime_seconds
    if expires - issued > longest or expires > moment + longest + policy.leeway_seconds:
        raise InvalidReferrerToken(f"the token lives longer than {longest} seconds")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidReferrerToken("the token names no referrer")
    return subject


def issue_referrer_token(
    referrer_id: str,
    secret: str | SecretStr | None,
    policy: TokenPolicy = TokenPolicy(),
    *,
    lifetime: timedelta | None = None,
    now: datetime | None = None,
) -> str:
    """A token ``referrer_from_token`` accepts (the sign-in link carries one); at most the policy's
    maximum lifetime, which is also the default."""
    if not referrer_id.strip():
        raise ValueError("a referrer token must name a referrer")
    seconds = policy.max_lifetime_seconds if lifetime is None else int(lifetime.total_seconds())
    if not 0 < seconds <= policy.max_lifetime_seconds:
        raise ValueError(f"the lifetime must be between 1 and {policy.max_lifetime_seconds} seconds")
    issued = int((now or datetime.now(UTC)).timestamp())
    claims = {
        "sub": referrer_id,
        "aud": policy.audience,
        "iss": policy.issuer,
        "iat": issued,
        "exp": issued + seconds,
    }
    return jwt.encode(claims, _key(secret), algorithm="HS256")


__all__ = ["InvalidReferrerToken", "TokenPolicy", "issue_referrer_token", "referrer_from_token"]
