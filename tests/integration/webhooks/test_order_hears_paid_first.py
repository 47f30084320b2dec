"""Orders hears ``paid`` first and once, whatever order a refunded, disputed payment's events come in."""

from __future__ import annotations

import itertools

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import stripe_events as se
from tests.support.service import running_service

STEPS = ("succeeded", "refund_1", "refund_2", "dispute")
AFTER_PAID = {"partially_refunded", "refunded", "disputed"}


async def test_every_permutation_begins_pending_to_paid_once_and_chains_forward(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        finals = set()
        for n, order in enumerate(itertools.permutations(STEPS)):
            order_id = f"ord_pf{n}"
            pid = await svc.add_payment(order_id)
            pi, ch = f"pi_pf{n}", f"ch_pf{n}"
            r1 = se.refund(f"re_pf{n}a", pi, ch, 3000, created=1_764_000_100)
            r2 = se.refund(f"re_pf{n}b", pi, ch, 2000, created=1_764_000_200)
            events = {
                "succeeded": se.event(
                    "payment_intent.succeeded", {**se.payment_intent(pi, pid, order_id), "latest_charge": ch}
                ),
                "refund_1": se.event("refund.created", r1),
                # The second refund is seen only on the charge, in the current API shape (no `refunds`);
                # the service lists the charge's refunds from Stripe: the emulator is not running here,
                # so this event carries them embedded, as older API versions do (both shapes: see
                # test_payload_shapes).
                "refund_2": se.event("charge.refunded", se.charge(ch, pi, refunds=[r1, r2])),
                "dispute": se.event("charge.dispute.created", se.dispute(f"dp_pf{n}", ch, pi)),
            }
            for step in order:
                assert (await svc.deliver(events[step])).status_code == 200
            history = await svc.history(order_id)
            states = [(h[0], h[1]) for h in history]
            assert states[0] == ("pending", "paid"), (order, states)
            assert history[0][2:] == (10_000, 0), (order, history)
            assert [to for _, to in states].count("paid") == 1, (order, states)
            assert all(a[1] == b[0] for a, b in itertools.pairwise(states)), (order, states)
            assert all(to in AFTER_PAID for _, to in states[1:]), (order, states)
            finals.add(history[-1][1:])
        assert finals == {("disputed", 10_000, 5000)}
