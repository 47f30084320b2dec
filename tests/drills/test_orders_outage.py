"""Drill: the Orders service is down for the whole stream, then comes back.

Diffs wait in the outbox (the relay backs off); once Orders answers again and an operator runs
``payments outbox retry``, each diff reaches Orders exactly once, and each order's diffs in seq order.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.drills.conftest import SECRET, DrillDb
from tests.support.drill_infra import Replica, payments_cli
from tests.support.drill_stream import (
    ResendingSender,
    assert_exactly_once,
    drill_seed,
    insert_payments,
    make_plan,
)
from tests.support.orders_server import GrpcOrdersServer
from tests.support.processes import eventually

pytestmark = pytest.mark.drill

PAYMENTS = 80


async def test_orders_down_during_the_stream_then_each_diff_once_in_order(drill_db: DrillDb) -> None:
    seed = drill_seed()
    plan = make_plan(seed, PAYMENTS, "o")
    await insert_payments(drill_db.engine, plan)
    async with GrpcOrdersServer() as orders:
        orders.behaviour.failing = True
        env = drill_db.env(PAYMENTS_ORDERS_URL=orders.url, PAYMENTS_OUTBOX_POLL_SECONDS="0.1")
        replica = Replica("service", env, drill_db.workdir)
        try:
            await asyncio.to_thread(replica.start)
            sender = ResendingSender(plan, SECRET, lambda: [replica.url], deadline_s=120)
            await sender.run()
            sender.check_answers()
            settled = await assert_exactly_once(drill_db.url, plan, context="Orders down")
            print(settled.summary())
            diffs = {d.id: d for rows in settled.state.diffs.values() for d in rows}
            assert orders.calls, "the relay never tried Orders while it was down"
            assert not orders.behaviour.applied, "Orders applied something while it was down"

            orders.behaviour.failing = False
            retries = 0
            for retries in range(1, 3):
                # A relay round that failed just before Orders came back may push its messages' next
                # attempt past this retry (its backoff); an operator then runs the command again.
                done = await asyncio.to_thread(payments_cli, ["outbox", "retry"], env)
                assert done.returncode == 0, done.stdout + done.stderr
                try:
                    await eventually(
                        lambda: len(orders.behaviour.applied) >= len(diffs),
                        timeout=20,
                        what="every diff applied by Orders",
                    )
                    break
                except AssertionError:
                    if retries == 2:
                        raise
            await assert_exactly_once(
                drill_db.url, plan, timeout=20, expect_delivered=True, context="Orders up"
            )
        finally:
            replica.stop()

    applied = orders.behaviour.applied
    context = (
        f"{plan.describe()}; diffs={len(diffs)} calls={len(orders.calls)} applied={len(applied)} "
        f"outbox retry runs={retries}"
    )
    print(f"\n{context}")
    assert sorted(c.key for c in applied) == sorted(diffs), f"applied keys are not the diffs' ids; {context}"
    assert all(c.key == c.body_key for c in orders.calls), f"metadata and body keys differ; {context}"
    for call in applied:
        d = diffs[call.key]
        assert (
            call.diff["order_id"],
            call.diff["seq"],
            call.diff["to_state"],
            call.diff["amount_refunded"],
        ) == (d.order_id, d.seq, d.to_state, d.amount_refunded), (
            f"Orders got another diff than stored; {context}"
        )
    expected = {order: list(range(1, len(rows) + 1)) for order, rows in settled.state.diffs.items()}
    assert orders.behaviour.applied_seqs() == expected, f"diffs applied out of order; {context}"
