import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from pydantic import SecretStr

from payments.referrals.access import (
    InvalidReferrerToken,
    TokenPolicy,
    issue_referrer_token,
    referrer_from_token,
)

SECRET = "s3cret-for-tests-only-32-bytes-long!"
POLICY = TokenPolicy()


def token(claims: dict[str, object], secret: str | None = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def claims(**overrides: Any) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "ref_1",
        "aud": POLICY.audience,
        "iss": POLICY.issuer,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_a_valid_token_names_its_referrer() -> None:
    assert referrer_from_token(token(claims()), SecretStr(SECRET)) == "ref_1"
    assert referrer_from_token(issue_referrer_token("ref_2", SECRET), SECRET) == "ref_2"


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken, match="expired"):
        referrer_from_token(token(claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)), SECRET)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = token(claims(), secret="another-secret-of-32-bytes-length!!")
    with pytest.raises(InvalidReferrerToken, match="invalid"):
        referrer_from_token(other, SECRET)


def test_an_unsigned_token_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token(token(claims(), secret=None, algorithm="none"), SECRET)


@pytest.mark.parametrize("claim", ["exp", "iat", "aud", "iss", "sub"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    with pytest.raises(InvalidReferrerToken, match=claim):
        referrer_from_token(token(claims(**{claim: None})), SECRET)


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"aud": "payments:admin"}, "audience"),
        ({"aud": ["another-service"]}, "audience"),
        ({"iss": "someone-else"}, "issuer"),
    ],
)
def test_a_token_for_another_audience_or_from_another_issuer_is_refused(
    override: dict[str, object], why: str
) -> None:
    with pytest.raises(InvalidReferrerToken, match=why):
        referrer_from_token(token(claims(**override)), SECRET)


def test_a_token_that_expires_in_year_9999_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken, match="longer than"):
        referrer_from_token(token(claims(exp=253402300799)), SECRET)


def test_a_token_living_longer_than_the_maximum_is_refused_even_if_it_claims_a_late_iat() -> None:
    now = int(time.time())
    too_long = token(claims(iat=now, exp=now + POLICY.max_lifetime_seconds + 3600))
    with pytest.raises(InvalidReferrerToken, match="longer than"):
        referrer_from_token(too_long, SECRET)
    # iat pushed forward to shrink exp - iat: a token issued in the future is refused too.
    future_iat = token(claims(iat=now + 3 * 24 * 3600, exp=now + 3 * 24 * 3600 + 600))
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token(future_iat, SECRET)
    at_the_limit = token(claims(iat=now, exp=now + POLICY.max_lifetime_seconds))
    assert referrer_from_token(at_the_limit, SECRET) == "ref_1"


def test_issuing_refuses_a_lifetime_past_the_maximum() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        issue_referrer_token("ref_1", SECRET, lifetime=timedelta(seconds=POLICY.max_lifetime_seconds + 1))


def test_a_token_naming_nobody_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token(token(claims(sub=" ")), SECRET)


def test_no_secret_configured_refuses_every_token() -> None:
    with pytest.raises(InvalidReferrerToken, match="not configured"):
        referrer_from_token(token(claims()), None)


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token("not.a.token", SECRET)
