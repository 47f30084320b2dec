"""A refused token answers through the one error model: the body every error has, 401, and how to sign."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.referrals.access import issue_referrer_token
from tests.support.service import running_service


async def test_no_service_token_is_the_error_models_unauthorized(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get("/v1/payments/pay_any", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    expected = {"error": {"code": "unauthorized", "message": "a valid service token is required"}}
    assert answer.json() == expected


async def test_a_bad_referrer_token_says_invalid_token_as_grpc_does(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        url = "/v1/referrers/ref_a/report"
        anonymous = await svc.http.get(url, headers={"Authorization": ""})
        forged = issue_referrer_token("ref_a", "not-the-secret-but-long-enough-for-hs256")
        refused = await svc.http.get(url, headers={"Authorization": f"Bearer {forged}"})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert anonymous.json() == {"error": {"code": "unauthorized", "message": "a valid token is required"}}
    # The referral service's own InvalidReferrerToken, its code and message, not a generic 401.
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.json() == {"error": {"code": "invalid_token", "message": "the token is invalid"}}
