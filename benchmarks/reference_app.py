"""The bare reference endpoint: verify the HMAC, insert two rows in one transaction, answer 200.

The floor any webhook receiver pays on this machine (HTTP parsing, one HMAC, one PostgreSQL round trip
of a transaction); the service's throughput is tracked as a ratio of this.
Run: uvicorn --factory benchmarks.reference_app:create --loop uvloop --http httptools
(PAYMENTS_DATABASE_URL and PAYMENTS_STRIPE_WEBHOOK_SECRETS as for the service).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import asyncpg

CREATE = """
CREATE TABLE IF NOT EXISTS bench_ref_events (id text PRIMARY KEY, type text NOT NULL, payload text NOT NULL);
CREATE TABLE IF NOT EXISTS bench_ref_effects (event_id text NOT NULL, at timestamptz NOT NULL DEFAULT now());
"""


def create() -> Any:
    dsn = os.environ["PAYMENTS_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    secret = os.environ["PAYMENTS_STRIPE_WEBHOOK_SECRETS"].split(",")[0].encode()
    pool: asyncpg.Pool | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal pool
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=10)
                    async with pool.acquire() as conn:
                        await conn.execute(CREATE)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if pool is not None:
                        await pool.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = await read_body(receive)
        header = dict(scope["headers"]).get(b"stripe-signature", b"").decode()
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        expected = hmac.new(secret, parts.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("v1", "")):
            await answer(send, 400, b'{"error":"bad signature"}')
            return
        event = json.loads(body)
        assert pool is not None
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO bench_ref_events VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                event["id"],
                event["type"],
                body.decode(),
            )
            await conn.execute("INSERT INTO bench_ref_effects (event_id) VALUES ($1)", event["id"])
        await answer(send, 200, b'{"received":true}')

    return app


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def answer(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
