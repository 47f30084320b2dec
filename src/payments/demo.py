"""``payments demo``: the whole flow offline, end to end, printing each step.

A throwaway SQLite database, the Stripe emulator as a child process, and the real service (HTTP app,
webhooks, refunds, referrals) in this process. The customer "pays" through the emulator's test helper,
exactly what its hosted page does when a person types 4242 4242 4242 4242.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from payments import bootstrap
from payments.api.http.app import create_app
from payments.config import EMULATOR_API_KEY, Settings
from payments.domain.money import Money
from payments.migrations_runner import upgrade_to_head
from payments.observability.logging import configure_logging
from payments.referrals.access import issue_referrer_token
from payments.runner import register_webhook, start_emulator

ORDER = "ord_demo_1"


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo() -> int:
    # The demo's own lines are the story; the service's info logs would drown them.
    configure_logging("warning")
    with tempfile.TemporaryDirectory(prefix="payments-demo-") as tmp:
        emulator = start_emulator(0)
        try:
            return asyncio.run(_demo(Path(tmp), emulator.url))
        finally:
            emulator.stop()


async def _wait_for(check: Callable[[], Awaitable[bool]], what: str) -> None:
    try:
        async with asyncio.timeout(20):
            while not await check():  # noqa: ASYNC110 - the state lives behind an HTTP API
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise RuntimeError(f"demo: timed out waiting for {what}") from None


async def _demo(tmp: Path, emulator_url: str) -> int:
    port = _free_port()
    database_url = f"sqlite+aiosqlite:///{tmp / 'demo.db'}"
    await asyncio.to_thread(upgrade_to_head, database_url)
    secret = await register_webhook(emulator_url, f"http://127.0.0.1:{port}/v1/webhooks/stripe")
    # Fresh secrets for this run: the console's admin credential and the key of referrer links.
    admin_token, jwt_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    settings = Settings(
        database_url=database_url,
        api_token=SecretStr(admin_token),
        jwt_secret=SecretStr(jwt_secret),
        stripe_api_base=emulator_url,
        stripe_api_key=SecretStr(EMULATOR_API_KEY),
        stripe_webhook_secrets=[SecretStr(secret)],
        http_port=port,
        commission_hold_days=30,
    )
    container = bootstrap.build(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve())
    await _wait_for(lambda: _started(server), "the service to start")
    shown: set[int] = set()

    async def show_diffs() -> None:
        for row in await container.history.of_order(ORDER):
            if row["seq"] not in shown:
                shown.add(row["seq"])
                _say(
                    f"    order state diff #{row['seq']}: {row['from_state']} -> {row['to_state']}  "
                    f"paid={Money(row['amount_paid'], row['currency']).format()}  "
                    f"refunded={Money(row['amount_refunded'], row['currency']).format()}  "
                    f"cause={row['cause_event_type']}"
                )

    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {admin_token}"},
        ) as api:
            _say("1. Orders asks for payment of order ord_demo_1 (120.00 EUR), referred by ref_alice")
            payment = (
                await api.post(
                    "/v1/payments",
                    json={
                        "order_id": ORDER,
                        "user_id": "u_bob",
                        "amount": 12_000,
                        "currency": "eur",
                        "referrer_id": "ref_alice",
                        "description": "Espresso machine",
                    },
                )
            ).json()
            _say(f"   created {payment['id']} status={payment['status']}")
            _say(f"   checkout page: {payment['checkout_url']}")

            async def status_is(*wanted: str) -> bool:
                return (await api.get(f"/v1/payments/{payment['id']}")).json()["status"] in wanted

            _say("2. The customer pays on the hosted page with 4242 4242 4242 4242")
            async with httpx.AsyncClient(base_url=emulator_url) as emu:
                await emu.post(
                    f"/_emulator/checkout/sessions/{payment['stripe_checkout_session_id']}/pay",
                    json={"card": "4242424242424242"},
                )
            await _wait_for(lambda: status_is("succeeded"), "the payment to succeed")
            _say("   webhooks verified and processed once: payment succeeded")
            await show_diffs()

            _say("3. Support refunds 30.00 EUR of it")
            refund = (await api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount": 3000})).json()
            _say(f"   refund {refund['id']} at Stripe: {refund['stripe_refund_id']}")
            await _wait_for(lambda: status_is("partially_refunded"), "the refund to apply")
            await show_diffs()

            _say("4. The referral commission (10 % of what was kept, held 30 days)")
            report = (await api.get("/v1/referrers/ref_alice/report")).json()
            for item in report["commissions"]:
                _say(
                    f"   commission {item['id']}: {item['status']} "
                    f"{Money(item['amount'], item['currency']).format()} "
                    f"(was {Money(item['original_amount'], item['currency']).format()} before the refund)"
                )
            _say("5. The referrer's report")
            for total in report["totals"]:
                _say(
                    f"   {total['status']:>9}: {total['count']} commission(s), "
                    f"{Money(total['amount'], total['currency']).format()}"
                )
            for net in report["net"]:
                _say(
                    f"   net {Money(net['net'], net['currency']).format()} = gross "
                    f"{Money(net['gross'], net['currency']).format()} - clawed back "
                    f"{Money(net['clawed_back'], net['currency']).format()}"
                )
        _say("done: created -> paid -> partial refund -> commission -> report")
        base = f"http://127.0.0.1:{port}"
        link = issue_referrer_token(
            "ref_alice", jwt_secret, lifetime=timedelta(minutes=15), now=container.clock()
        )
        _say("Open the pages:")
        _say(f"  operator console    {base}/console   (admin credential: {admin_token})")
        _say(f"  referrer dashboard  {base}/referrer/signin?token={link}")
        if sys.stdin.isatty():
            # A person is watching: keep serving so the two links work, until Ctrl-C.
            _say("serving until Ctrl-C")
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        return 0
    finally:
        server.should_exit = True
        await serving
        await container.close()


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
