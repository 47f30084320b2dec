"""Drives the commission service the way the webhook path does: merged facts, before/after snapshots."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_adjustments
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.config import Settings
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import DisputePhase, PaymentFacts, PaymentStatus, RefundFact, RefundStatus
from payments.domain.state_diff import Cause
from payments.referrals import Commission, CommissionService
from tests.support.clock import NOW

SETTINGS = Settings(
    commission_rate_bps=1_000,
    commission_min_amount=100,
    commission_hold_days=30,
    referral_velocity_per_hour=20,
)


def snapshot(
    order_id: str = "ord_1",
    *,
    amount: int = 10_000,
    currency: str = "eur",
    referrer_id: str | None = "ref_1",
    user_id: str = "user_1",
    email: str | None = "buyer@example.com",
    facts: PaymentFacts | None = None,
) -> PaymentSnapshot:
    empty = PaymentSnapshot(
        payment_id=f"pay_{order_id}",
        order_id=order_id,
        user_id=user_id,
        amount=amount,
        currency=currency,
        referrer_id=referrer_id,
        customer_email=email,
        status=PaymentStatus.OPEN,
        facts=PaymentFacts(),
    )
    return empty.with_facts(facts or PaymentFacts())


def paid(
    amount: int = 10_000, *, fingerprint: str = "fp_buyer", risk: str = "normal", currency: str = "eur"
) -> PaymentFacts:
    return PaymentFacts(
        succeeded=True,
        amount_received=amount,
        currency_received=currency,
        card_fingerprint=fingerprint,
        risk_level=risk,
    )


def refund(refund_id: str, amount: int, status: RefundStatus = RefundStatus.SUCCEEDED) -> PaymentFacts:
    return PaymentFacts(refunds={refund_id: RefundFact(amount, status, 1)})


def dispute(dispute_id: str, phase: DisputePhase) -> PaymentFacts:
    return PaymentFacts(disputes={dispute_id: phase})


class Webhooks:
    """One payment's facts as the webhook path merges them, each event delivered ``times`` times."""

    def __init__(self, engine: AsyncEngine, service: CommissionService, payment: PaymentSnapshot) -> None:
        self.engine = engine
        self.service = service
        self.payment = payment
        self._events = 0

    async def deliver(
        self, fact: PaymentFacts, *, times: int = 1, now: datetime | None = None
    ) -> PaymentSnapshot:
        """Events of one payment are a second apart, the first at NOW, unless ``now`` says otherwise."""
        now = now or NOW + timedelta(seconds=self._events)
        self._events += 1
        before = self.payment
        after = before.with_facts(before.facts.merge(fact))
        cause = Cause(f"evt_{self.payment.order_id}_{self._events}", "test.event")
        for _ in range(times):
            # The webhook path's transaction: asyncpg and a savepoint on PostgreSQL, SQLAlchemy on SQLite.
            async with SqlPaymentStore(self.engine)() as tx:
                await self.service.on_payment_changed(tx, before, after, cause, now)
        self.payment = after
        return after


async def commission_of(engine: AsyncEngine, order_id: str) -> Commission:
    async with SqlPaymentStore(engine)() as uow:
        found: Commission | None = await uow.referrals.commissions.get_by_order(order_id)
    assert found is not None, f"no commission for {order_id}"
    return found


async def adjustment_amounts(engine: AsyncEngine, commission_id: str) -> list[int]:
    """Signed adjustment amounts, oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(referral_adjustments.c.amount, referral_adjustments.c.created_at)
            .where(referral_adjustments.c.commission_id == commission_id)
            .order_by(referral_adjustments.c.created_at)
        )
        return [int(r.amount) for r in rows]
