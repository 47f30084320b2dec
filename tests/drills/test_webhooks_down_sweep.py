"""Drill: every webhook delivery is refused (past Stripe's three days of retries, as far as we know);
housekeeping's sweep of the Events API alone brings every payment to its right state, each event once.

Two replicas run, each with its housekeeping sweep (the watermark's lease lets one sweep at a time).
The emulator's endpoint signs with a secret the service does not know, so every delivery is answered
400 and nothing of it is stored: whatever the service knows, it learnt from the sweep.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import stripe
from sqlalchemy import select

from payments.adapters.db.tables import order_state_diffs, stripe_events
from tests.drills.conftest import TOKEN, DrillDb
from tests.support.drill_infra import Replica
from tests.support.processes import eventually, start_emulator

pytestmark = pytest.mark.drill


@pytest.fixture
def emulator_url() -> Iterator[str]:
    proc, url = start_emulator()
    yield url
    proc.stop()


EXPECTED = {
    "paid": ("succeeded", 0, ["paid"]),
    "partial": ("partially_refunded", 2500, ["paid", "partially_refunded"]),
    "refunded": ("refunded", 10_000, ["paid", "partially_refunded", "refunded"]),
    "disputed": ("disputed", 0, ["paid", "disputed"]),
}


async def test_the_sweep_alone_settles_every_payment_when_no_webhook_gets_through(
    drill_db: DrillDb, emulator_url: str
) -> None:
    client = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emulator_url}, max_network_retries=0
    )
    env = {
        **drill_db.env(),
        "PAYMENTS_STRIPE_API_BASE": emulator_url,
        "PAYMENTS_EVENT_SWEEP_SECONDS": "2",
    }
    replicas = [Replica(f"replica{n}", env, drill_db.workdir) for n in (1, 2)]
    for replica in replicas:
        await asyncio.to_thread(replica.start)
    # Registered as an operator would, but with the wrong secret on our side: every delivery fails.
    client.v1.webhook_endpoints.create(
        params={"url": f"{replicas[0].url}/v1/webhooks/stripe", "enabled_events": ["*"]}
    )
    try:
        payments: dict[str, dict] = {}
        async with (
            httpx.AsyncClient(base_url=replicas[0].url, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            httpx.AsyncClient(base_url=emulator_url) as emu,
        ):
            for name in EXPECTED:
                order = f"ord_{name}_{uuid.uuid4().hex[:6]}"
                created = await http.post(
                    "/v1/payments",
                    json={"order_id": order, "user_id": "u", "amount": 10_000, "currency": "eur"},
                )
                assert created.status_code == 201, created.text
                payment = created.json()
                paid = await emu.post(
                    f"/_emulator/checkout/sessions/{payment['stripe_checkout_session_id']}/pay",
                    json={"card": "4242424242424242"},
                )
                assert paid.status_code == 200, paid.text
                payments[name] = payment
            intents = {
                name: client.v1.checkout.sessions.retrieve(p["stripe_checkout_session_id"]).payment_intent
                for name, p in payments.items()
            }
            # What the Dashboard would do while our endpoint is down.
            client.v1.refunds.create(params={"payment_intent": intents["partial"], "amount": 2500})
            client.v1.refunds.create(params={"payment_intent": intents["refunded"], "amount": 4000})
            client.v1.refunds.create(params={"payment_intent": intents["refunded"]})
            charge = client.v1.payment_intents.retrieve(str(intents["disputed"])).latest_charge
            assert (await emu.post(f"/_emulator/charges/{charge}/dispute", json={})).status_code == 200

            async def settled() -> bool:
                for name, (status, refunded, _) in EXPECTED.items():
                    now = (await http.get(f"/v1/payments/{payments[name]['id']}")).json()
                    if (now["status"], now["amount_refunded"]) != (status, refunded):
                        return False
                return True

            await eventually(settled, timeout=90, interval=0.5, what="the sweep to settle every payment")

            deliveries = (await emu.get("/_emulator/deliveries")).json()["data"]
            assert deliveries, "the emulator never tried to deliver"
            assert {d["status_code"] for d in deliveries} == {400}, "a delivery got through"

        async with drill_db.engine.connect() as conn:
            ledger = (await conn.execute(select(stripe_events.c.id, stripe_events.c.status))).all()
            diffs = (
                await conn.execute(
                    select(
                        order_state_diffs.c.order_id,
                        order_state_diffs.c.seq,
                        order_state_diffs.c.from_state,
                        order_state_diffs.c.to_state,
                        order_state_diffs.c.cause_event_id,
                    ).order_by(order_state_diffs.c.order_id, order_state_diffs.c.seq)
                )
            ).all()
        assert Counter(status for _, status in ledger)["failed"] == 0, ledger
        assert len({event_id for event_id, _ in ledger}) == len(ledger)
        for name, (_, _, states) in EXPECTED.items():
            history = [(d.from_state, d.to_state) for d in diffs if d.order_id == payments[name]["order_id"]]
            # Listing a charge's refunds late may merge two refunds into one step; never anything else.
            heard = [to for _, to in history]
            assert heard[0] == "paid" and heard[-1] == states[-1], (name, history)
            assert [s for s in states if s in heard] == heard, (name, history)
            assert history[0][0] == "pending"
            assert all(a[1] == b[0] for a, b in itertools.pairwise(history))
        # One diff per change, each caused by a distinct event: nothing applied twice.
        causes = [d.cause_event_id for d in diffs]
        assert all(c in {event_id for event_id, _ in ledger} for c in causes)
    finally:
        for replica in replicas:
            replica.stop()
