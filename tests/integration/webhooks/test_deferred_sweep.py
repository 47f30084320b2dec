"""Housekeeping's sweep applies a deferred event whose payment got linked in a racing transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import payments, stripe_events
from tests.support import stripe_events as se
from tests.support.service import running_service


async def _status(engine: AsyncEngine, event_id: str) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(select(stripe_events.c.status).where(stripe_events.c.id == event_id)))


async def test_sweep_applies_recent_deferred_events_once_their_payment_is_linked(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        paid_id = await svc.add_payment("ord_sw1")
        await svc.deliver(
            se.event("checkout.session.completed", se.session("cs_sw1", paid_id, "ord_sw1", None))
        )
        early = se.event(
            "refund.created", se.refund("re_sw1", "pi_sw1", "ch_sw1", 1000), event_id="evt_sw_early"
        )
        assert (await svc.deliver(early)).status_code == 200
        assert await _status(engine, "evt_sw_early") == "deferred"
        stale = se.event(
            "refund.created", se.refund("re_sw2", "pi_sw2", "ch_sw2", 500), event_id="evt_sw_stale"
        )
        await svc.deliver(stale)
        other = await svc.add_payment("ord_sw2")
        async with engine.begin() as conn:
            # The link committed by a transaction that could not see the deferral (the race), and one
            # deferred event old enough to be about someone else's payment.
            await conn.execute(
                update(payments).where(payments.c.id == paid_id).values(stripe_payment_intent_id="pi_sw1")
            )
            await conn.execute(
                update(payments).where(payments.c.id == other).values(stripe_payment_intent_id="pi_sw2")
            )
            await conn.execute(
                update(stripe_events)
                .where(stripe_events.c.id == "evt_sw_stale")
                .values(received_at=stripe_events.c.received_at - timedelta(hours=2))
            )
        assert await svc.container.webhooks.sweep_deferred() == 1
        assert await _status(engine, "evt_sw_early") == "processed"
        assert await _status(engine, "evt_sw_stale") == "deferred"
        payment = await svc.payment(paid_id)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 1000)
        assert await svc.container.webhooks.sweep_deferred() == 0
