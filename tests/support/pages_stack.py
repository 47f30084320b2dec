"""A real ``payments serve`` (SQLite file), the emulator and a fake Orders over HTTP, for the pages'
browser tests and the screenshot script; data planted through the service's own code paths."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import stripe
from pydantic import SecretStr
from sqlalchemy import update

from payments import bootstrap
from payments.adapters.db.events_repo import record_failure
from payments.adapters.db.tables import order_state_diffs
from payments.config import Settings
from payments.records import IncomingEvent
from tests.support import stripe_events as se
from tests.support.orders_server import HttpOrdersServer
from tests.support.processes import Proc, free_port, start_emulator, start_service, wait_until

TOKEN = "pages-admin-credential-for-tests"
JWT_SECRET = "pages-jwt-secret-long-enough-for-hs256"


@dataclass
class PagesStack:
    base: str
    emulator_url: str
    env: dict[str, str]
    orders: HttpOrdersServer
    webhook_secret: str
    service: Proc

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

    def settings(self) -> Settings:
        return Settings(
            database_url=self.env["PAYMENTS_DATABASE_URL"],
            stripe_api_base=self.emulator_url,
            stripe_api_key=SecretStr("sk_test_emulator"),
            api_token=SecretStr(TOKEN),
            jwt_secret=SecretStr(JWT_SECRET),
        )

    def run(self, work: Any) -> Any:
        """Run ``work(container)`` against the service's database, in this process."""

        async def go() -> Any:
            container = bootstrap.build(self.settings())
            try:
                return await work(container)
            finally:
                await container.close()

        # On a thread of its own: Playwright's sync API keeps an event loop running on this one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "payments.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    # -- planting work for the console ------------------------------------------------------------------
    def create_payment(self, order_id: str, amount: int = 10_000, **extra: Any) -> dict[str, Any]:
        with self.api() as api:
            response = api.post(
                "/v1/payments",
                json={
                    "order_id": order_id,
                    "user_id": f"u_{order_id}",
                    "amount": amount,
                    "currency": "eur",
                    **extra,
                },
            )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def pay(self, payment: dict[str, Any]) -> None:
        session = payment["stripe_checkout_session_id"]
        httpx.post(
            f"{self.emulator_url}/_emulator/checkout/sessions/{session}/pay",
            json={"card": "4242424242424242"},
        ).raise_for_status()
        wait_until(
            lambda: self.payment(payment["id"])["status"] == "succeeded", what="the payment to succeed"
        )

    def payment(self, payment_id: str) -> dict[str, Any]:
        with self.api() as api:
            return dict(api.get(f"/v1/payments/{payment_id}").json())

    def plant_failed_event(self, payment: dict[str, Any]) -> str:
        """The completed-session event of an open payment, stored failed as after a database blip."""
        evt = se.event(
            "checkout.session.completed",
            se.session(
                payment["stripe_checkout_session_id"],
                payment["id"],
                payment["order_id"],
                None,
                amount=payment["amount"],
            ),
        )
        payload = se.signed(evt, "unused")[0].decode()

        async def store(c: bootstrap.Container) -> None:
            async with c.engine.begin() as conn:
                await record_failure(
                    conn, IncomingEvent.of(evt, payload), c.clock(), "OperationalError: db restarting"
                )

        self.run(store)
        return str(evt["id"])

    def push_outbox_back(self, hours: int) -> None:
        async def push(c: bootstrap.Container) -> None:
            async with c.engine.begin() as conn:
                await conn.execute(
                    update(order_state_diffs)
                    .where(order_state_diffs.c.delivered_at.is_(None))
                    .values(next_attempt_at=c.clock() + timedelta(hours=hours))
                )

        self.run(push)

    def deliver(self, evt: dict[str, Any]) -> None:
        body, header = se.signed(evt, self.webhook_secret)
        response = httpx.post(
            f"{self.base}/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
        )
        assert response.status_code == 200, response.text


@contextmanager
def pages_stack(workdir: Path) -> Iterator[PagesStack]:
    emulator, emulator_url = start_emulator()
    orders = HttpOrdersServer()
    orders.__enter__()
    service: Proc | None = None
    try:
        port = free_port()
        client = stripe.StripeClient(
            "sk_test_emulator", base_addresses={"api": emulator_url}, max_network_retries=0
        )
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": f"http://127.0.0.1:{port}/v1/webhooks/stripe", "enabled_events": ["*"]}
        )
        env = {
            "PAYMENTS_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'pages.db'}",
            "PAYMENTS_STRIPE_API_BASE": emulator_url,
            "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
            "PAYMENTS_STRIPE_WEBHOOK_SECRETS": str(endpoint.secret),
            "PAYMENTS_API_TOKEN": TOKEN,
            "PAYMENTS_JWT_SECRET": JWT_SECRET,
            "PAYMENTS_HTTP_PORT": str(port),
            "PAYMENTS_ORDERS_URL": orders.url,
            "PAYMENTS_OUTBOX_POLL_SECONDS": "0.1",
        }
        service, base = start_service(env, workdir, workdir / "service.log")
        yield PagesStack(base, emulator_url, env, orders, str(endpoint.secret), service)
    finally:
        if service is not None:
            service.stop()
        orders.__exit__(None, None, None)
        emulator.stop()
