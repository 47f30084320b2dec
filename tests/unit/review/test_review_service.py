"""ReviewService on the in-memory store and Stripe: a payment of the wrong amount is accepted or refunded."""

from __future__ import annotations

import pytest

from payments.checkout.service import CreatePayment, PaymentService
from payments.domain.payment_state import PaymentFacts, RefundFact, RefundStatus
from payments.domain.stripe_facts import EventFacts, RefundSeen
from payments.errors import FailedPrecondition, InvalidRequest, UpstreamRefused
from payments.refunds.service import RefundService
from payments.review.service import MAX_REVIEW_REFUNDS, ReviewService
from payments.stripe_port import GatewayErrorKind
from payments.webhooks.orchestrator import PaymentOrchestrator
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, apply_facts
from tests.support.service import service_settings


class World:
    def __init__(self) -> None:
        self.store, self.stripe, self.clock = FakeStore(), FakeStripeGateway(), FakeClock()
        orchestrator = PaymentOrchestrator()
        refunds = RefundService(self.store, self.stripe, orchestrator, self.clock)
        self.review = ReviewService(self.store, refunds, orchestrator, self.clock)

    async def underpaid(self, order_id: str) -> str:
        """Asked 10 000, Stripe took 9 000: the payment waits for a person."""
        payments = PaymentService(self.store, self.stripe, service_settings(), self.clock)
        payment = (await payments.create_payment(CreatePayment(order_id, "u_1", 10_000, "eur"))).payment
        short = PaymentFacts(succeeded=True, amount_received=9_000, currency_received="eur")
        found = EventFacts(payment_intent_id=f"pi_{order_id}", facts=short)
        await apply_facts(self.store, payment.id, found, f"evt_{order_id}", self.clock())
        assert self.store.tables.payment(payment.id).status == "needs_review"
        return payment.id

    def heard(self, order_id: str) -> list[tuple[str, str, int, int]]:
        """What Orders hears: (from, to, paid, refunded) per diff."""
        return [
            (d.from_state, d.to_state, d.amount_paid, d.amount_refunded)
            for d in self.store.tables.diffs_of(order_id)
        ]


async def test_accepting_makes_the_payment_paid_with_what_stripe_received() -> None:
    w = World()
    pid = await w.underpaid("ord_a")
    assert await w.review.waiting() == 1
    accepted = await w.review.review(pid, "accept")
    assert accepted.status == "succeeded"
    assert w.heard("ord_a") == [("pending", "needs_review", 9_000, 0), ("needs_review", "paid", 9_000, 0)]
    assert await w.review.waiting() == 0
    assert w.stripe.calls_to("create_refund") == []


async def test_refunding_gives_back_all_stripe_took_and_a_second_decision_changes_nothing() -> None:
    w = World()
    pid = await w.underpaid("ord_b")
    refunded = await w.review.review(pid, "refund")
    assert refunded.status == "refunded"
    assert [r.amount for r in w.stripe.refunds] == [9_000]
    assert w.heard("ord_b") == [
        ("pending", "needs_review", 9_000, 0),
        ("needs_review", "refunded", 9_000, 9_000),
    ]
    with pytest.raises(FailedPrecondition) as again:
        await w.review.review(pid, "accept")
    assert again.value.code == "payment_not_in_review"
    assert len(w.stripe.refunds) == 1 and len(w.heard("ord_b")) == 2


async def test_an_unknown_decision_is_refused_and_changes_nothing() -> None:
    w = World()
    pid = await w.underpaid("ord_c")
    with pytest.raises(InvalidRequest) as refused:
        await w.review.review(pid, "maybe")
    assert refused.value.field == "decision"
    assert w.store.tables.payment(pid).status == "needs_review"


async def test_a_refund_decision_after_the_reviews_refund_failed_sends_a_new_refund() -> None:
    w = World()
    pid = await w.underpaid("ord_rf")
    assert (await w.review.review(pid, "refund")).status == "refunded"
    (first,) = w.stripe.refunds
    sent_back = EventFacts(  # refund.failed: the card network returned it
        payment_intent_id="pi_ord_rf",
        refunds=(RefundSeen(first.id, None, 9_000, "eur", RefundStatus.FAILED, None),),
        facts=PaymentFacts(refunds={first.id: RefundFact(9_000, RefundStatus.FAILED, 1)}),
    )
    await apply_facts(w.store, pid, sent_back, "evt_refund_failed", w.clock())
    assert w.store.tables.payment(pid).status == "needs_review"

    again = await w.review.review(pid, "refund")
    assert again.status == "refunded"
    assert [r.amount for r in w.stripe.refunds] == [9_000, 9_000]
    with pytest.raises(FailedPrecondition):  # decided: a repeated decision changes nothing
        await w.review.review(pid, "refund")
    assert len(w.stripe.refunds) == 2


async def test_the_reviews_refund_of_money_taken_in_another_currency_is_recorded_in_that_currency() -> None:
    w = World()
    payments = PaymentService(w.store, w.stripe, service_settings(), w.clock)
    payment = (await payments.create_payment(CreatePayment("ord_usd", "u_1", 10_000, "eur"))).payment
    usd = PaymentFacts(succeeded=True, amount_received=10_000, currency_received="usd")
    await apply_facts(
        w.store, payment.id, EventFacts(payment_intent_id="pi_ord_usd", facts=usd), "evt_1", w.clock()
    )
    assert w.store.tables.payment(payment.id).status == "needs_review"

    await w.review.review(payment.id, "refund")
    (refund,) = w.store.tables.refunds_of(payment.id)
    assert (refund.amount, refund.currency) == (10_000, "usd")


async def test_refunds_stripe_refuses_outright_are_tried_anew_up_to_a_bound_then_named() -> None:
    w = World()
    pid = await w.underpaid("ord_refused")
    for _ in range(MAX_REVIEW_REFUNDS):
        w.stripe.fail_next("create_refund", GatewayErrorKind.INVALID, code="charge_disputed")
        with pytest.raises(UpstreamRefused):
            await w.review.review(pid, "refund")
    assert len(w.store.tables.refunds_of(pid)) == MAX_REVIEW_REFUNDS
    with pytest.raises(FailedPrecondition, match="refund it from Stripe"):
        await w.review.review(pid, "refund")
    assert w.store.tables.payment(pid).status == "needs_review"
