"""A refund whose Stripe call never answered: retried under its key only inside Stripe's idempotency
window; after it, looked up among the PaymentIntent's refunds before anything is sent again."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import refunds_repo
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.errors import UpstreamError
from payments.refunds.service import RefundPayment, RefundService
from payments.stripe_port import GatewayError, GatewayErrorKind, Refund
from tests.support import stripe_events as se
from tests.support.clock import NOW
from tests.support.service import Service, running_service


@dataclass
class Clock:
    """Starts at the real time (webhook signatures are checked against it), then moves when told."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class FakeStripe:
    """Stripe as far as refunds go. ``lose_answers`` makes Stripe refund but the answer never arrive
    (a timeout after Stripe acted); ``refuse_calls`` fails before Stripe acts."""

    lose_answers: int = 0
    refuse_calls: int = 0
    made: list[Refund] = field(default_factory=list)
    keys: dict[str, Refund] = field(default_factory=dict)  # what Stripe still remembers
    creates: list[str] = field(default_factory=list)  # idempotency keys, in call order
    lists: int = 0

    async def create_refund(
        self, *, payment_intent_id: str, amount: int, reason: str | None, metadata: dict[str, str],
        idempotency_key: str,
    ) -> Refund:  # fmt: skip
        self.creates.append(idempotency_key)
        if self.refuse_calls:
            self.refuse_calls -= 1
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "timeout")
        refund = self.keys.get(idempotency_key)
        if refund is None:
            refund = Refund(
                id=f"re_{len(self.made) + 1}",
                amount=amount,
                currency="eur",
                status="succeeded",
                payment_intent_id=payment_intent_id,
                charge_id="ch_1",
                created=int(NOW.timestamp()),
                metadata=metadata,
            )
            self.made.append(refund)
            self.keys[idempotency_key] = refund
        if self.lose_answers:
            self.lose_answers -= 1
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "timeout")
        return refund

    async def list_refunds(self, payment_intent_id: str) -> list[Refund]:
        self.lists += 1
        return [r for r in reversed(self.made) if r.payment_intent_id == payment_intent_id]

    def forget_keys(self) -> None:
        """What Stripe does to idempotency keys 24 hours after their first use."""
        self.keys.clear()


async def _stuck_refund(svc: Service, stripe: FakeStripe, clock: Clock) -> tuple[RefundService, str]:
    pid = await svc.add_payment("ord_stuck")
    await svc.deliver(
        se.event("checkout.session.completed", se.session("cs_stuck", pid, "ord_stuck", "pi_stuck"))
    )
    refunds = RefundService(SqlPaymentStore(svc.engine), stripe, svc.container.orchestrator, clock)  # type: ignore[arg-type]
    with pytest.raises(UpstreamError):
        await refunds.refund(RefundPayment(payment_id=pid, amount=4_000))
    async with svc.engine.connect() as conn:
        stuck = await refunds_repo.requested_before(conn, clock() + timedelta(seconds=1))
    assert len(stuck) == 1
    return refunds, stuck[0].id


async def _refund_row(svc: Service, refund_id: str) -> refunds_repo.RefundRecord:
    async with svc.engine.connect() as conn:
        record = await refunds_repo.get(conn, refund_id)
    assert record is not None
    return record


async def test_inside_the_window_the_retry_reuses_the_key(engine: AsyncEngine) -> None:
    clock, stripe = Clock(), FakeStripe(lose_answers=1)
    async with running_service(engine, clock=clock) as svc:
        refunds, refund_id = await _stuck_refund(svc, stripe, clock)
        start = clock.now
        clock.now = start + timedelta(hours=2)
        assert await refunds.retry_requested() == 1
        assert stripe.creates == [f"{refund_id}:refund", f"{refund_id}:refund"]
        assert (stripe.lists, len(stripe.made)) == (0, 1)
        row = await _refund_row(svc, refund_id)
        assert (row.status, row.stripe_refund_id) == ("succeeded", "re_1")


async def test_past_the_window_the_refund_stripe_made_is_found_and_not_sent_again(
    engine: AsyncEngine,
) -> None:
    clock, stripe = Clock(), FakeStripe(lose_answers=1)
    async with running_service(engine, clock=clock) as svc:
        refunds, refund_id = await _stuck_refund(svc, stripe, clock)
        start = clock.now
        clock.now = start + timedelta(hours=25)
        stripe.forget_keys()  # a retry under the old key would now refund a second time
        assert await refunds.retry_requested() == 1
        assert stripe.creates == [f"{refund_id}:refund"]  # nothing sent after the first attempt
        assert (stripe.lists, len(stripe.made)) == (1, 1)
        row = await _refund_row(svc, refund_id)
        assert (row.status, row.stripe_refund_id) == ("succeeded", "re_1")
        assert (await svc.payment(row.payment_id)).amount_refunded == 4_000


async def test_past_the_window_a_refund_stripe_never_made_is_sent_under_a_new_key(
    engine: AsyncEngine,
) -> None:
    clock, stripe = Clock(), FakeStripe(refuse_calls=1)
    async with running_service(engine, clock=clock) as svc:
        refunds, refund_id = await _stuck_refund(svc, stripe, clock)
        start = clock.now
        clock.now = start + timedelta(hours=30)
        stripe.forget_keys()
        assert await refunds.retry_requested() == 1
        assert stripe.lists == 1
        assert stripe.creates == [f"{refund_id}:refund", f"{refund_id}:refund:1"]
        assert len(stripe.made) == 1
        row = await _refund_row(svc, refund_id)
        assert (row.status, row.stripe_refund_id) == ("succeeded", "re_1")
