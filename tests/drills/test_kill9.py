"""Drill: ``kill -9`` of service processes at random moments of a stream of 2 000 events with duplicates.

Two replicas share the database; 20 times in the stream one of them is killed (requests in flight cut,
transactions half done) and started again. Stripe's side re-sends whatever was not acknowledged. At the
end every event has been processed exactly once: one ledger row each, all ``processed``; every payment in
the state its events make; each order's diffs a gap-free, double-free chain; one commission per referred
order, at the amount its refunds leave.

``DRILL_SEED`` replays a run; ``DRILL_KILL_PAYMENTS`` changes the size (400 payments: ~2 000 events,
~4 000 deliveries).
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from tests.drills.conftest import SECRET, DrillDb
from tests.support.drill_infra import Killer, Replica, kill_thresholds, together
from tests.support.drill_stream import (
    ResendingSender,
    assert_exactly_once,
    drill_seed,
    insert_payments,
    make_plan,
)

pytestmark = pytest.mark.drill

PAYMENTS = int(os.environ.get("DRILL_KILL_PAYMENTS", "400"))
KILLS = 20


async def test_kill9_at_random_moments_loses_and_doubles_nothing(drill_db: DrillDb) -> None:
    seed = drill_seed()
    plan = make_plan(seed, PAYMENTS, "k")
    rng = random.Random(seed)
    await insert_payments(drill_db.engine, plan)
    replicas = [Replica(f"replica{n}", drill_db.env(), drill_db.workdir) for n in range(2)]
    sender = ResendingSender(
        plan,
        SECRET,
        lambda: [r.url for r in replicas if r.up] or [r.url for r in replicas],
        concurrency=8,
        deadline_s=200,
    )
    killer = Killer(replicas, kill_thresholds(rng, len(plan.deliveries), KILLS), rng, sender)
    sender.gate = killer.gate
    try:
        await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
        await together(sender.run(), killer.run())  # the killer also waits for its restarts
        kills = [(k.replica[-1], k.dispatched, k.in_flight) for k in killer.kills]
        context = f"kills (replica, at delivery, in flight)={kills}; {sender.stats.summary()}"
        print(f"\n{plan.describe()}\n{context}")
        assert len(killer.kills) == KILLS, context
        assert all(k.dispatched < len(plan.deliveries) for k in killer.kills), (
            f"a kill after the stream; {context}"
        )
        assert sender.stats.cut_in_flight > 0, f"no kill cut a request in flight; {context}"
        sender.check_answers()
        settled = await assert_exactly_once(drill_db.url, plan, context=context)
        print(settled.summary())
    finally:
        await asyncio.gather(*killer.restarts, return_exceptions=True)
        for replica in replicas:
            replica.stop()
