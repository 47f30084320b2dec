import time

import jwt
import pytest
from pydantic import SecretStr

from payments.referrals.access import InvalidReferrerToken, referrer_from_token

SECRET = "s3cret-for-tests-only-32-bytes-long!"


def token(claims: dict[str, object], secret: str | None = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_a_valid_token_names_its_referrer() -> None:
    assert (
        referrer_from_token(token({"sub": "ref_1", "exp": int(time.time()) + 60}), SecretStr(SECRET))
        == "ref_1"
    )


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken, match="expired"):
        referrer_from_token(token({"sub": "ref_1", "exp": int(time.time()) - 3600}), SECRET)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = token(
        {"sub": "ref_1", "exp": int(time.time()) + 60}, secret="another-secret-of-32-bytes-length!!"
    )
    with pytest.raises(InvalidReferrerToken, match="invalid"):
        referrer_from_token(other, SECRET)


def test_an_unsigned_token_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token(
            token({"sub": "ref_1", "exp": int(time.time()) + 60}, secret=None, algorithm="none"), SECRET
        )


def test_a_token_without_expiry_is_refused_unless_allowed() -> None:
    no_exp = token({"sub": "ref_1"})
    with pytest.raises(InvalidReferrerToken, match="exp"):
        referrer_from_token(no_exp, SECRET)
    assert referrer_from_token(no_exp, SECRET, require_expiry=False) == "ref_1"


def test_a_token_naming_nobody_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token(token({"sub": " ", "exp": int(time.time()) + 60}), SECRET)


def test_no_secret_configured_refuses_every_token() -> None:
    with pytest.raises(InvalidReferrerToken, match="not configured"):
        referrer_from_token(token({"sub": "ref_1", "exp": int(time.time()) + 60}), None)


def test_garbage_is_refused() -> None:
    with pytest.raises(InvalidReferrerToken):
        referrer_from_token("not.a.token", SECRET)
