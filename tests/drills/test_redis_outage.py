"""Drill: the Redis the service uses for locks and "seen" markers dies mid-stream and comes back empty.

Redis is only an optimisation (the ledger row and the database lock are the truth), so with it gone the
service must keep answering 2xx and still process every event exactly once; when it is back (with none
of its markers) the database still catches every duplicate, and the service uses Redis again.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.drills.conftest import SECRET, DrillDb
from tests.support.drill_infra import Hold, PrivateRedis, Replica, reach, together
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


async def test_redis_stopped_and_started_mid_stream(drill_db: DrillDb) -> None:
    seed = drill_seed()
    plan = make_plan(seed, PAYMENTS, "r")
    await insert_payments(drill_db.engine, plan)
    redis = PrivateRedis()
    redis.start()
    replicas = [
        Replica(f"replica{n}", drill_db.env(PAYMENTS_REDIS_URL=redis.url), drill_db.workdir) for n in range(2)
    ]
    total = len(plan.deliveries)
    down_at, up_at = total // 4, total * 3 // 5
    held_down, held_up = Hold(down_at + 30, what="stopping Redis"), Hold(up_at + 30, what="starting Redis")
    sender = ResendingSender(
        plan,
        SECRET,
        lambda: [r.url for r in replicas],
        deadline_s=120,
        gate=all_gates(held_down.gate, held_up.gate),
    )
    markers_before_stop = 0

    async def outage() -> None:
        nonlocal markers_before_stop
        await reach(sender, down_at)
        markers_before_stop = redis.keys("stripe:evt:done:*")
        await asyncio.to_thread(redis.stop)
        held_down.release()
        await reach(sender, up_at)
        await asyncio.to_thread(redis.start)
        assert redis.keys("stripe:evt:*") == 0, "Redis came back with its keys: no real outage"
        held_up.release()

    try:
        await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
        await together(sender.run(), outage())
        context = f"markers before the stop={markers_before_stop}; {sender.stats.summary()}"
        print(f"\n{plan.describe()}\n{context}")
        assert markers_before_stop > 0, f"the service was not using Redis before the outage; {context}"
        # Redis is an optimisation: its outage must never turn a delivery away.
        assert sender.stats.server_errors == 0, f"5xx answers because Redis was down; {context}"
        sender.check_answers()
        print((await assert_exactly_once(drill_db.url, plan, context=context)).summary())

        # Redis back: a duplicate delivery leaves a fresh marker (the cooldown after errors is a few s).
        async def marker_again() -> bool:
            assert await sender.send_one(plan.deliveries[0]) == "200"
            return redis.keys(f"stripe:evt:done:{plan.deliveries[0]}") > 0

        await eventually(marker_again, timeout=20, interval=0.5, what="the service to use Redis again")
        await assert_exactly_once(drill_db.url, plan, timeout=0, context="after Redis came back")
    finally:
        for replica in replicas:
            replica.stop()
        redis.stop()
