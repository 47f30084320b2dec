"""Guessing the console's credential: five wrong tries close the sign-in for that client (429 with
Retry-After, the right credential included); another client still signs in; nothing logs the guess."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from payments.api.http.app import create_app
from tests.support.service import TOKEN, running_service


def _client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    return httpx.AsyncClient(transport=transport, base_url="http://service")


async def test_the_sixth_try_is_429_even_right_and_another_client_is_unaffected(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        app = create_app(svc.container)
        async with _client(app, "198.51.100.7") as guesser, _client(app, "203.0.113.9") as operator:
            with capture_logs() as logs:
                for n in range(5):
                    wrong = await guesser.post("/console/signin", data={"token": f"guess-{n}"})
                    assert wrong.status_code == 401, n
                refused = await guesser.post("/console/signin", data={"token": TOKEN})
            assert refused.status_code == 429
            assert "set-cookie" not in refused.headers
            assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
            assert "try again in 15 min" in refused.text
            other = await operator.post("/console/signin", data={"token": TOKEN})
            assert other.status_code == 303 and "payments_console=" in other.headers["set-cookie"]
    logged = repr(logs)
    assert "guess-" not in logged and TOKEN not in logged and "198.51.100.7" not in logged
    assert [e["event"] for e in logs].count("console.signin_refused") == 5
    assert any(e["event"] == "console.signin_throttled" for e in logs)


async def test_a_success_clears_the_count(engine: AsyncEngine) -> None:
    async with (
        running_service(engine) as svc,
        _client(create_app(svc.container), "198.51.100.8") as person,
    ):
        for _ in range(4):
            assert (await person.post("/console/signin", data={"token": "typo"})).status_code == 401
        assert (await person.post("/console/signin", data={"token": TOKEN})).status_code == 303
        for _ in range(4):
            assert (await person.post("/console/signin", data={"token": "typo"})).status_code == 401
        assert (await person.post("/console/signin", data={"token": TOKEN})).status_code == 303
