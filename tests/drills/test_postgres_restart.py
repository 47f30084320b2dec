"""Drill: PostgreSQL stops mid-stream and starts again.

While it is down, webhooks are answered 5xx (never a 2xx for an event that could not be stored, never a
4xx that would make Stripe give up), so Stripe keeps them; once it is back, every event is processed
exactly once.

This stops the machine's shared PostgreSQL cluster: other tests running at the same moment on a
developer's machine see it too (CI runs the drills alone). It is always started again, pass or fail.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.drills.conftest import SECRET, TOKEN, DrillDb
from tests.support.drill_infra import Hold, Replica, pg_ctl, pg_ready, pg_start_and_wait, reach, together
from tests.support.drill_stream import (
    ResendingSender,
    all_gates,
    assert_exactly_once,
    drill_seed,
    insert_payments,
    make_plan,
)
from tests.support.processes import eventually

pytestmark = pytest.mark.drill

PAYMENTS = 80


async def test_postgres_restart_mid_stream_gives_5xx_then_exactly_once(drill_db: DrillDb) -> None:
    seed = drill_seed()
    plan = make_plan(seed, PAYMENTS, "p")
    await insert_payments(drill_db.engine, plan)
    replica = Replica("service", drill_db.env(), drill_db.workdir)
    down_at = len(plan.deliveries) // 3
    # Fresh deliveries wait at down_at until PostgreSQL is down, then 20 more go out into the outage: had
    # they been let through while it was stopping, a fast enough service acked all 20 before it died and
    # the drill waited for 5xx answers that could not come.
    held_for_stop = Hold(down_at, timeout=90, what="PostgreSQL to stop")
    held = Hold(down_at + 20, timeout=90, what="the PostgreSQL restart")
    sender = ResendingSender(
        plan, SECRET, lambda: [replica.url], deadline_s=150, gate=all_gates(held_for_stop.gate, held.gate)
    )
    window: dict[str, float] = {}
    readyz: list[int] = []

    async def outage() -> None:
        await reach(sender, down_at)
        try:
            await asyncio.to_thread(pg_ctl, "stop")
            window["down"] = time.monotonic()
            errors = sender.stats.server_errors
            held_for_stop.release()
            await eventually(
                lambda: sender.stats.server_errors >= errors + 20,
                timeout=20,
                what="20 5xx answers while PostgreSQL is down",
            )
            async with httpx.AsyncClient(timeout=10) as client:
                readyz.append((await client.get(f"{replica.url}/readyz")).status_code)
            window["up"] = time.monotonic()
        finally:
            await asyncio.to_thread(pg_start_and_wait)
        held.release()

    try:
        await asyncio.to_thread(replica.start)
        await together(sender.run(), outage())
        during = sender.stats.outcomes_between(window["down"], window["up"])
        context = f"while down: {dict(during)}, /readyz {readyz}; {sender.stats.summary()}"
        print(f"\n{plan.describe()}\n{context}")
        assert sum(n for label, n in during.items() if label.startswith("5")) >= 1, context
        assert all(label.startswith("5") for label in during), (
            f"non-5xx answers while PostgreSQL was down; {context}"
        )
        assert readyz == [503], f"/readyz did not say the service is not ready; {context}"
        sender.check_answers()
        settled = await assert_exactly_once(drill_db.url, plan, context=context)
        print(settled.summary())
        # The same process serves every path again, not only the webhooks whose retries drew fresh
        # connections: a read through a service's unit of work must not meet a connection that died.
        async with httpx.AsyncClient(
            base_url=replica.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client:
            for planned in plan.payments:
                answer = await client.get(f"/v1/payments/{planned.payment_id}")
                assert answer.status_code == 200, f"{planned.payment_id}: {answer.status_code} {answer.text}"
    finally:
        if not pg_ready():
            await asyncio.to_thread(pg_start_and_wait)
        replica.stop()
