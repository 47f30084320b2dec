"""One event, 50 deliveries from 8 concurrent senders to two service processes on one PostgreSQL.

Run with Redis answering, with Redis stopped, and again "a day later" (Redis forgot, the signature is
fresh): one transition and one outbox message every time.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import stripe

from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support import stripe_events as se
from tests.support.processes import Proc, free_port, start_service, wait_until

SECRET = "whsec_exactly_once"
TOKEN = "tok"


@dataclass
class Pair:
    urls: list[str]
    procs: list[Proc]
    redis: subprocess.Popen[bytes]
    redis_port: int
    emulator_url: str


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    wait_until(
        lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0,
        what="redis to start",
    )
    return proc


@pytest_asyncio.fixture(scope="module")
async def pair(
    emulator_url: str, pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pair]:
    db = await pg_databases.create("once")
    await asyncio.to_thread(upgrade_to_head, db)
    redis_port = free_port()
    redis = _start_redis(redis_port)
    workdir: Path = tmp_path_factory.mktemp("pair")
    env = {
        "PAYMENTS_DATABASE_URL": db,
        "PAYMENTS_STRIPE_API_BASE": emulator_url,
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": SECRET,
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    started = [start_service(env, workdir, workdir / f"service{n}.log") for n in range(2)]
    pair = Pair([u for _, u in started], [p for p, _ in started], redis, redis_port, emulator_url)
    yield pair
    for proc, _ in started:
        proc.stop()
    pair.redis.terminate()  # the test may have replaced the first server with a new one
    pair.redis.wait()


async def _new_payment(pair: Pair) -> dict:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        answer = await client.post(
            f"{pair.urls[0]}/v1/payments",
            json={
                "order_id": f"ord_{uuid.uuid4().hex[:10]}",
                "user_id": "u",
                "amount": 7000,
                "currency": "eur",
            },
        )
        assert answer.status_code == 201, answer.text
        return answer.json()


async def _storm(pair: Pair, evt: dict, sends: int = 50, senders: int = 8) -> list[dict]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(sends):
        queue.put_nowait(n)
    answers: list[dict] = []

    async def sender() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while not queue.empty():
                n = queue.get_nowait()
                body, header = se.signed(evt, SECRET)
                response = await client.post(
                    f"{pair.urls[n % 2]}/v1/webhooks/stripe",
                    content=body,
                    headers={"Stripe-Signature": header},
                )
                assert response.status_code == 200, response.text
                answers.append(response.json())

    await asyncio.gather(*(sender() for _ in range(senders)))
    return answers


async def _history(pair: Pair, order_id: str) -> list[dict]:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return (await client.get(f"{pair.urls[1]}/v1/orders/{order_id}/history")).json()


def _completed(payment: dict, pair: Pair) -> dict:
    session = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": pair.emulator_url}
    ).v1.checkout.sessions.retrieve(payment["stripe_checkout_session_id"])
    assert session.metadata["payment_id"] == payment["id"]
    return se.event(
        "checkout.session.completed",
        se.session(
            session.id, payment["id"], payment["order_id"], "pi_" + uuid.uuid4().hex[:12], amount=7000
        ),
    )


async def test_fifty_concurrent_deliveries_make_one_transition(pair: Pair) -> None:
    payment = await _new_payment(pair)
    evt = _completed(payment, pair)
    answers = await _storm(pair, evt)
    assert sum(not a["duplicate"] for a in answers) == 1
    history = await _history(pair, payment["order_id"])
    assert [(h["from_state"], h["to_state"]) for h in history] == [("pending", "paid")]

    # A day later: Redis has forgotten (flushed), the signature is fresh; the database still knows.
    subprocess.run(["redis-cli", "-p", str(pair.redis_port), "flushall"], check=True, capture_output=True)
    late = await _storm(pair, evt, sends=10, senders=4)
    assert all(a["duplicate"] for a in late)
    assert len(await _history(pair, payment["order_id"])) == 1


async def test_the_same_with_redis_stopped(pair: Pair) -> None:
    pair.redis.terminate()
    pair.redis.wait()
    try:
        payment = await _new_payment(pair)
        evt = _completed(payment, pair)
        answers = await _storm(pair, evt)
        assert sum(not a["duplicate"] for a in answers) == 1
        history = await _history(pair, payment["order_id"])
        assert [(h["from_state"], h["to_state"]) for h in history] == [("pending", "paid")]
    finally:
        pair.redis = _start_redis(pair.redis_port)
