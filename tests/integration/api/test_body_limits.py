"""Every body is bounded while it streams in; the service token is checked before a body is read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from payments import bootstrap
from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine
from payments.api.http.app import create_app
from payments.api.http.limits import body_limit_for
from tests.integration.api.asgi_calls import call, chunks_of
from tests.support.service import TOKEN, service_settings

MIB = 1024 * 1024
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest_asyncio.fixture
async def app(sqlite_url: str) -> AsyncIterator[Any]:
    engine = create_engine(sqlite_url)
    await schema.reset(engine)
    yield create_app(bootstrap.build(service_settings(), engine=engine))
    await engine.dispose()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/webhooks/stripe", {"stripe-signature": "t=1,v1=00", "content-type": "application/json"}),
        ("/v1/payments", {**AUTH, "content-type": "application/json"}),
        ("/v1/referrers/ref_1/ban", {**AUTH, "content-type": "application/json"}),
    ],
)
async def test_a_chunked_body_is_refused_once_it_passes_the_limit(
    app: Any, path: str, headers: dict[str, str]
) -> None:
    limit = body_limit_for(path)
    answer = await call(app, "POST", path, chunks_of(32 * MIB, size=16 * 1024), headers)
    assert answer.status == 413, answer.body
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert answer.headers["connection"] == "close"
    # Read up to the chunk that crossed the limit, not one more.
    assert limit < answer.pulled <= limit + 16 * 1024


async def test_an_unknown_route_does_not_read_the_body(app: Any) -> None:
    answer = await call(app, "POST", "/no/such/route", chunks_of(32 * MIB))
    assert answer.status == 404
    assert answer.pulled == 0


async def test_a_declared_oversized_body_is_refused_before_reading_a_byte(app: Any) -> None:
    headers = {"stripe-signature": "t=1,v1=00", "content-length": str(32 * MIB)}
    answer = await call(app, "POST", "/v1/webhooks/stripe", chunks_of(32 * MIB), headers)
    assert answer.status == 413
    assert answer.pulled == 0


async def test_a_body_under_the_limit_reaches_the_route(app: Any) -> None:
    answer = await call(
        app, "POST", "/v1/webhooks/stripe", chunks_of(100 * 1024, size=10 * 1024), {"stripe-signature": "x"}
    )
    assert answer.status == 400  # read whole, then refused for its signature
    assert answer.json()["error"]["code"] == "malformed_header"
    assert answer.pulled == 100 * 1024


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/payments"),
        ("POST", "/v1/payments/pay_1/refunds"),
        ("POST", "/v1/commissions/com_1/decision"),
        ("POST", "/v1/referrers/ref_1/ban"),
        ("POST", "/v1/referrers/ref_1/payouts"),
    ],
)
@pytest.mark.parametrize("token", [None, "wrong-token"])
async def test_no_valid_token_means_401_before_the_body_is_read(
    app: Any, method: str, path: str, token: str | None
) -> None:
    headers = {"content-type": "application/json", "content-length": "3000"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    answer = await call(app, method, path, iter([b"{not json" + b"x" * 2991]), headers)
    assert answer.status == 401, answer.body
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.pulled == 0


async def test_with_the_token_a_malformed_body_is_still_a_422(app: Any) -> None:
    answer = await call(
        app, "POST", "/v1/payments", iter([b"{not json"]), {**AUTH, "content-type": "application/json"}
    )
    assert answer.status == 422


async def test_an_answer_given_without_reading_the_body_closes_the_connection(app: Any) -> None:
    answer = await call(
        app,
        "POST",
        "/v1/payments",
        chunks_of(1024),
        {"content-type": "application/json", "content-length": "1024"},
    )
    assert answer.status == 401
    assert answer.headers["connection"] == "close"
    healthz = await call(app, "GET", "/healthz", iter([]))
    assert "connection" not in healthz.headers
