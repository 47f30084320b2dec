"""An in-process service on a given engine: the real app, routers and services, no network."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import bootstrap
from payments.adapters.db import payments_repo
from payments.adapters.db.tables import order_state_diffs, payments, refunds, stripe_events
from payments.adapters.stripe_gateway.client import StripeGateway
from payments.api.http.app import create_app
from payments.config import Settings
from payments.domain.payment_state import PaymentFacts
from tests.support import stripe_events as se
from tests.support.clock import NOW

SECRET = "whsec_test_current"
TOKEN = "test-service-token"


@dataclass
class Service:
    container: bootstrap.Container
    http: httpx.AsyncClient
    engine: AsyncEngine

    async def deliver(self, evt: dict[str, Any], *, secret: str = SECRET) -> httpx.Response:
        body, header = se.signed(evt, secret)
        return await self.http.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header})

    async def add_payment(
        self,
        order_id: str,
        *,
        amount: int = 10_000,
        currency: str = "eur",
        mode: str = "checkout",
        referrer_id: str | None = None,
        user_id: str = "u_1",
        session_id: str | None = None,
    ) -> str:
        payment_id = f"pay_{order_id}"
        async with self.engine.begin() as conn:
            await payments_repo.insert_payment(
                conn,
                {
                    "id": payment_id,
                    "order_id": order_id,
                    "user_id": user_id,
                    "amount": amount,
                    "currency": currency,
                    "mode": mode,
                    "status": "open",
                    "amount_refunded": 0,
                    "referrer_id": referrer_id,
                    "terms_hash": "t",
                    "facts": PaymentFacts().to_json(),
                    "stripe_checkout_session_id": session_id,
                    "version": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                },
            )
        return payment_id

    async def add_requested_refund(self, payment_id: str, refund_id: str, amount: int) -> None:
        """A refund row as our API writes it before calling Stripe (reserved, no Stripe id yet)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(refunds).values(
                    id=refund_id,
                    payment_id=payment_id,
                    amount=amount,
                    currency="eur",
                    status="requested",
                    source="api",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )

    async def payment(self, payment_id: str) -> payments_repo.PaymentRecord:
        async with self.engine.connect() as conn:
            record = await payments_repo.get(conn, payment_id)
        assert record is not None
        return record

    async def history(self, order_id: str) -> list[tuple[str, str, int, int]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(
                    order_state_diffs.c.from_state,
                    order_state_diffs.c.to_state,
                    order_state_diffs.c.amount_paid,
                    order_state_diffs.c.amount_refunded,
                )
                .where(order_state_diffs.c.order_id == order_id)
                .order_by(order_state_diffs.c.seq)
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    async def count(self, table: Any) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    async def row_counts(self) -> tuple[int, int, int]:
        return (
            await self.count(stripe_events),
            await self.count(order_state_diffs),
            await self.count(payments),
        )


def service_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "stripe_webhook_secrets": [SecretStr(SECRET)],
        "api_token": SecretStr(TOKEN),
        "stripe_api_base": "http://127.0.0.1:9",
        "stripe_api_key": SecretStr("sk_test_emulator"),
        "jwt_secret": SecretStr("jwt-test-secret-long-enough-for-hs256"),
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_service(
    engine: AsyncEngine,
    *,
    clock: Callable[[], datetime] = bootstrap.utc_now,
    gateway: StripeGateway | None = None,
    **overrides: Any,
) -> AsyncIterator[Service]:
    container = bootstrap.build(service_settings(**overrides), engine=engine, clock=clock, gateway=gateway)
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://service", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield Service(container=container, http=client, engine=engine)
    if container.store is not None:
        await container.store.close()
    close_gateway = getattr(container.gateway, "close", None)  # the fakes hold no connection
    if close_gateway is not None:
        await close_gateway()
    if container._export_engine is not None:
        await container._export_engine.dispose()
    if container.redis is not None:
        await container.redis.close()
