"""RefundService on the in-memory store and Stripe: partial, repeated, never more than paid, never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.checkout.service import CreatePayment, PaymentService
from payments.domain.payment_state import PaymentFacts
from payments.domain.stripe_facts import EventFacts
from payments.errors import FailedPrecondition, UpstreamError, UpstreamRefused
from payments.records import REQUESTED
from payments.refunds.service import RefundPayment, RefundService
from payments.stripe_port import GatewayErrorKind
from payments.webhooks.orchestrator import PaymentOrchestrator
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, apply_facts, chain
from tests.support.service import service_settings

SETTINGS = service_settings()


class World:
    def __init__(self) -> None:
        self.store, self.stripe, self.clock = FakeStore(), FakeStripeGateway(), FakeClock()
        self.refunds = RefundService(self.store, self.stripe, PaymentOrchestrator(), self.clock)

    async def paid_payment(self, order_id: str = "ord_r", amount: int = 2500) -> str:
        payments = PaymentService(self.store, self.stripe, SETTINGS, self.clock)
        payment = (
            await payments.create_payment(
                CreatePayment(order_id=order_id, user_id="u_1", amount=amount, currency="eur")
            )
        ).payment
        paid = PaymentFacts(succeeded=True, amount_received=amount, currency_received="eur")
        found = EventFacts(payment_intent_id=f"pi_{order_id}", facts=paid)
        await apply_facts(self.store, payment.id, found, f"evt_paid_{order_id}", self.clock())
        return payment.id

    def status(self, payment_id: str) -> str:
        return self.store.tables.payment(payment_id).status


async def test_a_partial_refund_then_the_rest_refund_the_payment_in_full() -> None:
    w = World()
    pid = await w.paid_payment()
    first, created = await w.refunds.refund(RefundPayment(payment_id=pid, amount=1000))
    assert created and (first.amount, first.status) == (1000, "succeeded") and first.stripe_refund_id
    assert w.status(pid) == "partially_refunded"
    rest, _ = await w.refunds.refund(RefundPayment(payment_id=pid))  # no amount: what remains
    assert (rest.amount, rest.status) == (1500, "succeeded")
    assert w.status(pid) == "refunded"
    assert [r.amount for r in w.stripe.refunds] == [1000, 1500]
    assert all(r.payment_intent_id == "pi_ord_r" for r in w.stripe.refunds)
    assert chain(w.store, "ord_r") == [
        (1, "pending", "paid"),
        (2, "paid", "partially_refunded"),
        (3, "partially_refunded", "refunded"),
    ]
    with pytest.raises(FailedPrecondition) as nothing_left:
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=1))
    assert nothing_left.value.code == "already_refunded"


async def test_the_same_idempotency_key_answers_the_same_refund_without_a_second_stripe_call() -> None:
    w = World()
    pid = await w.paid_payment()
    first, created = await w.refunds.refund(RefundPayment(payment_id=pid, amount=700, idempotency_key="k"))
    again, created_again = await w.refunds.refund(
        RefundPayment(payment_id=pid, amount=700, idempotency_key="k")
    )
    assert created and not created_again and again.id == first.id
    assert len(w.stripe.calls_to("create_refund")) == 1
    assert len(w.store.tables.refunds_of(pid)) == 1


async def test_a_refund_above_what_remains_is_refused_before_stripe_hears_of_it() -> None:
    w = World()
    pid = await w.paid_payment()
    await w.refunds.refund(RefundPayment(payment_id=pid, amount=2000))
    with pytest.raises(FailedPrecondition) as over:
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=501))
    assert over.value.code == "over_refund"
    assert len(w.stripe.calls_to("create_refund")) == 1
    assert [r.amount for r in w.store.tables.refunds_of(pid)] == [2000]


async def test_a_lost_stripe_answer_leaves_the_refund_requested_and_the_retry_refunds_once() -> None:
    w = World()
    pid = await w.paid_payment()
    w.stripe.fail_next("create_refund", GatewayErrorKind.UNAVAILABLE, after_effect=True)
    with pytest.raises(UpstreamError) as failed:
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=1000))
    assert failed.value.retryable
    (stuck,) = w.store.tables.refunds_of(pid)
    assert stuck.status == REQUESTED and w.status(pid) == "succeeded"
    # The requested refund still holds its amount against an over-refund meanwhile.
    with pytest.raises(FailedPrecondition):
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=1501))
    w.clock.advance(timedelta(minutes=2))
    assert await w.refunds.retry_requested() == 1
    assert w.store.tables.refunds[stuck.id].status == "succeeded"
    assert w.status(pid) == "partially_refunded"
    assert len(w.stripe.refunds) == 1  # the retry reused the key: Stripe answered the refund it had made


async def test_past_stripes_key_window_the_retry_finds_the_refund_stripe_made_instead_of_sending_again() -> (
    None
):
    w = World()
    pid = await w.paid_payment()
    w.stripe.fail_next("create_refund", GatewayErrorKind.UNAVAILABLE, after_effect=True)
    with pytest.raises(UpstreamError):
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=1000))
    w.clock.advance(timedelta(hours=25))
    assert await w.refunds.retry_requested() == 1
    assert len(w.stripe.calls_to("list_refunds")) == 1
    assert len(w.stripe.calls_to("create_refund")) == 1 and len(w.stripe.refunds) == 1
    assert [r.status for r in w.store.tables.refunds_of(pid)] == ["succeeded"]


async def test_a_refund_stripe_refuses_is_marked_failed_and_frees_its_amount() -> None:
    w = World()
    pid = await w.paid_payment()
    w.stripe.fail_next("create_refund", GatewayErrorKind.INVALID, code="charge_disputed")
    with pytest.raises(UpstreamRefused) as refused:  # 422 naming Stripe's refusal, not 502 "retry"
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=2500))
    assert refused.value.code == "stripe_invalid_request"
    assert [r.status for r in w.store.tables.refunds_of(pid)] == ["failed"]
    full, _ = await w.refunds.refund(RefundPayment(payment_id=pid, amount=2500))
    assert full.status == "succeeded" and w.status(pid) == "refunded"


async def test_an_unpaid_payment_has_nothing_to_refund() -> None:
    w = World()
    payments = PaymentService(w.store, w.stripe, SETTINGS, w.clock)
    open_payment = (await payments.create_payment(CreatePayment("ord_o", "u_1", 900, "eur"))).payment
    with pytest.raises(FailedPrecondition) as refused:
        await w.refunds.refund(RefundPayment(payment_id=open_payment.id))
    assert refused.value.code == "payment_not_refundable"
    assert w.stripe.calls_to("create_refund") == []


async def test_a_replay_past_stripes_key_window_asks_stripe_before_refunding_again() -> None:
    """The first call's answer was lost and Stripe has forgotten its key: the replay lists Stripe's
    refunds, finds the one it made, and makes no second."""
    w = World()
    pid = await w.paid_payment()
    w.stripe.fail_next("create_refund", GatewayErrorKind.UNAVAILABLE, after_effect=True)
    with pytest.raises(UpstreamError):
        await w.refunds.refund(RefundPayment(payment_id=pid, amount=1000, idempotency_key="k"))
    (stuck,) = w.store.tables.refunds_of(pid)
    assert stuck.status == REQUESTED
    w.clock.advance(timedelta(hours=25))
    w.stripe.forget_idempotency_keys()
    replayed, created = await w.refunds.refund(
        RefundPayment(payment_id=pid, amount=1000, idempotency_key="k")
    )
    assert (replayed.id, created, replayed.status) == (stuck.id, False, "succeeded")
    assert len(w.stripe.refunds) == 1


async def test_a_refused_retry_does_not_stop_the_other_stuck_refunds() -> None:
    w = World()
    pid = await w.paid_payment()
    for _ in range(2):  # two refunds whose Stripe call never got through
        w.stripe.fail_next("create_refund", GatewayErrorKind.UNAVAILABLE)
        with pytest.raises(UpstreamError):
            await w.refunds.refund(RefundPayment(payment_id=pid, amount=1000))
    w.clock.advance(timedelta(minutes=2))
    w.stripe.fail_next("create_refund", GatewayErrorKind.INVALID, code="charge_disputed")
    assert await w.refunds.retry_requested() == 2
    assert sorted(r.status for r in w.store.tables.refunds_of(pid)) == ["failed", "succeeded"]
