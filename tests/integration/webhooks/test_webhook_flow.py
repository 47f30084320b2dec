"""Webhooks end to end inside one process, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support import stripe_events as se
from tests.support.service import running_service


async def test_completed_checkout_marks_the_payment_paid_once(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_a")
        evt = se.event("checkout.session.completed", se.session("cs_a", pid, "ord_a", "pi_a"))
        first = await svc.deliver(evt)
        assert first.status_code == 200, first.text
        assert first.json() == {"received": True, "duplicate": False}
        for _ in range(3):
            again = await svc.deliver(evt)
            assert again.json() == {"received": True, "duplicate": True}
        assert await svc.container.idempotency.is_duplicate_event(evt["id"])
        assert not await svc.container.idempotency.is_duplicate_event("evt_never_seen")
        payment = await svc.payment(pid)
        assert payment.status == "succeeded"
        assert payment.stripe_payment_intent_id == "pi_a"
        assert await svc.history("ord_a") == [("pending", "paid", 10_000, 0)]


async def test_unknown_type_and_unknown_payment_are_recorded_without_effect(
    engine: AsyncEngine,
) -> None:
    # (An event of the other livemode is not ignored but refused: tests/integration/webhooks/test_livemode.)
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_b")
        ignored = [
            se.event("customer.created", {"id": "cus_1", "object": "customer"}),
            se.event("checkout.session.completed", se.session("cs_x", "pay_nope", "ord_x", None)),
        ]
        for evt in ignored:
            response = await svc.deliver(evt)
            assert response.status_code == 200
        assert (await svc.payment(pid)).status == "open"
        events, diffs, _ = await svc.row_counts()
        assert (events, diffs) == (2, 0)


async def test_a_refund_before_the_completion_is_kept_and_applied(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_c")
        early = se.event("refund.created", se.refund("re_c1", "pi_c", "ch_c", 3000))
        assert (await svc.deliver(early)).status_code == 200
        assert (await svc.payment(pid)).status == "open"
        await svc.deliver(se.event("checkout.session.completed", se.session("cs_c", pid, "ord_c", "pi_c")))
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 3000)
        assert await svc.history("ord_c") == [
            ("pending", "paid", 10_000, 0),
            ("paid", "partially_refunded", 10_000, 3000),
        ]


async def test_dashboard_refunds_thirty_thirty_rest_each_delivered_three_times(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_d")
        await svc.deliver(se.event("checkout.session.completed", se.session("cs_d", pid, "ord_d", "pi_d")))
        refunds: list[dict] = []
        expected = [(3000, "partially_refunded"), (6000, "partially_refunded"), (10_000, "refunded")]
        for n, (amount, (total, status)) in enumerate(zip([3000, 3000, 4000], expected, strict=True)):
            refund = se.refund(f"re_d{n}", "pi_d", "ch_d", amount, created=1_764_000_100 + n)
            refunds.append(refund)
            events = [
                se.event("refund.created", {**refund, "status": "pending"}),
                se.event("charge.refunded", se.charge("ch_d", "pi_d", refunds=list(refunds))),
                se.event("refund.updated", refund),
            ]
            for evt in events * 3:
                assert (await svc.deliver(evt)).status_code == 200
            payment = await svc.payment(pid)
            assert (payment.amount_refunded, payment.status) == (total, status)
        assert [h[1:] for h in await svc.history("ord_d")] == [
            ("paid", 10_000, 0),
            ("partially_refunded", 10_000, 3000),
            ("partially_refunded", 10_000, 6000),
            ("refunded", 10_000, 10_000),
        ]


async def test_refund_failed_undoes_the_refund_in_any_order(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_e")
        await svc.deliver(se.event("checkout.session.completed", se.session("cs_e", pid, "ord_e", "pi_e")))
        refund = se.refund("re_e", "pi_e", "ch_e", 2500)
        await svc.deliver(se.event("refund.failed", {**refund, "status": "failed"}))
        await svc.deliver(se.event("refund.created", refund))
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("succeeded", 0)


async def test_amount_mismatch_needs_review_and_order_is_not_paid(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_f", amount=10_000)
        await svc.deliver(
            se.event("checkout.session.completed", se.session("cs_f", pid, "ord_f", "pi_f", amount=9_000))
        )
        assert (await svc.payment(pid)).status == "needs_review"
        # Orders hears it, with what Stripe took, and not as paid.
        assert await svc.history("ord_f") == [("pending", "needs_review", 9_000, 0)]


async def test_delayed_payment_then_async_success_or_failure(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        ok, ko = await svc.add_payment("ord_g1"), await svc.add_payment("ord_g2")
        for pid, order, outcome in ((ok, "ord_g1", "succeeded"), (ko, "ord_g2", "failed")):
            s = se.session(f"cs_{order}", pid, order, f"pi_{order}", payment_status="unpaid")
            await svc.deliver(se.event("checkout.session.completed", s))
            assert (await svc.payment(pid)).status == "processing"
            paid = {**s, "payment_status": "paid" if outcome == "succeeded" else "unpaid"}
            await svc.deliver(se.event(f"checkout.session.async_payment_{outcome}", paid))
        assert (await svc.payment(ok)).status == "succeeded"
        assert (await svc.payment(ko)).status == "failed"
        assert await svc.history("ord_g2") == [("pending", "payment_failed", 0, 0)]


async def test_expired_session(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_h")
        await svc.deliver(
            se.event(
                "checkout.session.expired",
                se.session("cs_h", pid, "ord_h", None, payment_status="unpaid", status="expired"),
            )
        )
        assert (await svc.payment(pid)).status == "expired"
        assert await svc.history("ord_h") == [("pending", "expired", 0, 0)]


async def test_payment_intent_mode_failure_then_success(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_i", mode="payment_intent")
        failed = se.payment_intent(
            "pi_i", pid, "ord_i", status="requires_payment_method", mode="payment_intent"
        )
        await svc.deliver(se.event("payment_intent.payment_failed", failed))
        assert (await svc.payment(pid)).status == "failed"
        await svc.deliver(
            se.event(
                "payment_intent.succeeded", se.payment_intent("pi_i", pid, "ord_i", mode="payment_intent")
            )
        )
        assert (await svc.payment(pid)).status == "succeeded"


async def test_checkout_decline_leaves_the_session_open(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_j")
        declined = se.payment_intent("pi_j", pid, "ord_j", status="requires_payment_method")
        await svc.deliver(se.event("payment_intent.payment_failed", declined))
        assert (await svc.payment(pid)).status == "open"


async def test_dispute_opened_won_and_lost(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        for order, outcome, final in (("ord_k1", "won", "succeeded"), ("ord_k2", "lost", "disputed")):
            pid = await svc.add_payment(order)
            await svc.deliver(
                se.event("checkout.session.completed", se.session(f"cs_{order}", pid, order, f"pi_{order}"))
            )
            dp = se.dispute(f"dp_{order}", f"ch_{order}", f"pi_{order}")
            await svc.deliver(se.event("charge.dispute.created", dp))
            assert (await svc.payment(pid)).status == "disputed"
            await svc.deliver(se.event("charge.dispute.closed", {**dp, "status": outcome}))
            assert (await svc.payment(pid)).status == final


ORDERING_EVENTS = ("completed", "charge", "refund", "dispute")


@pytest.mark.parametrize("order", list(itertools.permutations(ORDERING_EVENTS)), ids="-".join)
async def test_every_arrival_order_ends_in_the_same_state(
    engine: AsyncEngine, order: tuple[str, ...]
) -> None:
    async with running_service(engine) as svc:
        order_id = "ord_" + "".join(o[:2] for o in order)
        pid = await svc.add_payment(order_id)
        pi, ch = f"pi_{order_id}", f"ch_{order_id}"
        refund = se.refund(f"re_{order_id}", pi, ch, 2500)
        events = {
            "completed": [
                se.event("checkout.session.completed", se.session(f"cs_{order_id}", pid, order_id, pi))
            ],
            "charge": [se.event("charge.succeeded", se.charge(ch, pi))],
            "refund": [
                se.event("refund.created", refund),
                se.event("charge.refunded", se.charge(ch, pi, refunds=[refund])),
            ],
            "dispute": [se.event("charge.dispute.created", se.dispute(f"dp_{order_id}", ch, pi))],
        }
        for name in order:
            for evt in events[name]:
                assert (await svc.deliver(evt)).status_code == 200
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("disputed", 2500)
        history = await svc.history(order_id)
        assert history[-1] == (history[-1][0], "disputed", 10_000, 2500)
        assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(history))
        assert history[0][0] == "pending"
