"""Housekeeping prunes settled events past retention and keeps what an operator still needs."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import stripe_events
from payments.housekeeping import run_once
from tests.support import stripe_events as se
from tests.support.service import running_service


async def test_old_settled_events_are_pruned_failed_and_recent_ones_kept(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        for event_id in ("evt_old_done", "evt_new_done", "evt_old_failed"):
            await svc.deliver(
                se.event("customer.created", {"id": "cus_1", "object": "customer"}, event_id=event_id)
            )
        async with engine.begin() as conn:
            await conn.execute(
                update(stripe_events)
                .where(stripe_events.c.id.in_(["evt_old_done", "evt_old_failed"]))
                .values(received_at=stripe_events.c.received_at - timedelta(days=91))
            )
            # Failed past housekeeping's automatic retries: it waits for an operator.
            await conn.execute(
                update(stripe_events)
                .where(stripe_events.c.id == "evt_old_failed")
                .values(status="failed", attempts=5)
            )
        done = await run_once(svc.container)
        assert done["events_pruned"] == 1
        async with engine.connect() as conn:
            left = set((await conn.execute(select(stripe_events.c.id))).scalars())
        assert left == {"evt_new_done", "evt_old_failed"}
