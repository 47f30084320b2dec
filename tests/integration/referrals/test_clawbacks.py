"""Pro-rata clawbacks through on_payment_changed: duplicates, arrival order, before and after payout."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.payment_state import PaymentFacts, RefundStatus
from payments.referrals import AuditAction, CommissionService, NothingToPay
from tests.integration.referrals.support import (
    SETTINGS,
    Webhooks,
    adjustment_amounts,
    commission_of,
    paid,
    refund,
    snapshot,
)
from tests.support.clock import NOW

REFUNDS = [("re_1", 3_000), ("re_2", 3_000), ("re_3", 4_000)]
AFTER_HOLD = NOW + timedelta(days=31)


async def _pay_out(engine: AsyncEngine, service: CommissionService, referrer: str = "ref_1") -> None:
    await service.release_due(AFTER_HOLD)
    await service.pay_referrer(referrer, "admin:alice", AFTER_HOLD)


async def test_each_refund_applied_three_times_leaves_700_400_0(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid(), times=3)
    assert (await commission_of(engine, "ord_1")).amount == 1_000

    seen = []
    for refund_id, amount in REFUNDS:
        await hooks.deliver(refund(refund_id, amount), times=3)
        seen.append((await commission_of(engine, "ord_1")).amount)

    assert seen == [700, 400, 0]
    commission = await commission_of(engine, "ord_1")
    audit = await service.get_audit(commission.id)
    assert [e.action for e in audit] == [AuditAction.ACCRUED] + [AuditAction.ADJUSTED] * 3
    assert [e.after["amount"] for e in audit if e.after] == [1_000, 700, 400, 0]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_refund_facts_in_any_arrival_order_end_at_zero(engine: AsyncEngine, seed: int) -> None:
    """Stripe may report a refund pending then succeeded, and may report it before the payment itself."""
    rng = random.Random(seed)
    facts: list[PaymentFacts] = [paid()]
    for refund_id, amount in REFUNDS:
        facts += [refund(refund_id, amount, RefundStatus.PENDING), refund(refund_id, amount)]
    rng.shuffle(facts)
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())

    for fact in facts:
        await hooks.deliver(fact, times=3)

    commission = await commission_of(engine, "ord_1")
    assert (commission.original_amount, commission.amount, commission.status.value) == (1_000, 0, "pending")


async def test_after_payout_refunds_become_adjustments_netted_in_the_next_payout(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await _pay_out(engine, service)
    first = await commission_of(engine, "ord_1")
    assert (first.status.value, first.amount) == ("paid", 1_000)

    for refund_id, amount in REFUNDS:
        await hooks.deliver(refund(refund_id, amount), times=3)

    after_refunds = await commission_of(engine, "ord_1")
    assert (after_refunds.status.value, after_refunds.amount) == ("paid", 1_000)
    assert await adjustment_amounts(engine, first.id) == [-300, -300, -400]

    await Webhooks(engine, service, snapshot("ord_2", amount=20_000, user_id="user_2")).deliver(paid(20_000))
    await service.release_due(AFTER_HOLD)
    payout = await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)

    (line,) = payout.lines
    assert (line.currency, line.commissions_amount, line.adjustments_amount, line.net_amount) == (
        "eur",
        2_000,
        -1_000,
        1_000,
    )
    assert (line.commission_count, line.adjustment_count) == (1, 3)
    settled = await service.get_adjustments(first.id)
    assert {a.payout_id for a in settled} == {payout.id}


async def test_a_refund_that_fails_after_payout_gives_the_clawback_back(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await _pay_out(engine, service)
    await hooks.deliver(refund("re_1", 3_000, RefundStatus.PENDING))
    await hooks.deliver(refund("re_1", 3_000, RefundStatus.FAILED), times=3)

    commission = await commission_of(engine, "ord_1")
    assert await adjustment_amounts(engine, commission.id) == [-300, 300]


async def test_a_refund_that_fails_before_payout_restores_the_amount(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(refund("re_1", 3_000))
    assert (await commission_of(engine, "ord_1")).amount == 700

    await hooks.deliver(refund("re_1", 3_000, RefundStatus.FAILED), times=2)

    assert (await commission_of(engine, "ord_1")).amount == 1_000


async def test_a_clawback_larger_than_the_next_payout_waits(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await _pay_out(engine, service)
    await hooks.deliver(refund("re_all", 10_000))
    await Webhooks(engine, service, snapshot("ord_2", amount=5_000, user_id="user_2")).deliver(paid(5_000))

    await service.release_due(AFTER_HOLD)
    payout = await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)
    assert [(line.commissions_amount, line.adjustments_amount, line.net_amount) for line in payout.lines] == [
        (500, 0, 500)
    ]
    with pytest.raises(NothingToPay):
        await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)


async def test_repeating_the_same_before_and_after_changes_nothing(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(refund("re_1", 3_000))
    commission = await commission_of(engine, "ord_1")
    audit_before = await service.get_audit(commission.id)

    before = hooks.payment
    for fact in itertools.repeat(PaymentFacts(), 3):
        await hooks.deliver(fact)

    assert hooks.payment == before
    assert await commission_of(engine, "ord_1") == commission
    assert await service.get_audit(commission.id) == audit_before


async def test_refunding_all_that_was_received_on_a_mismatched_payment_leaves_nothing(
    engine: AsyncEngine,
) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid(9_000))
    assert (await commission_of(engine, "ord_1")).status.value == "held"

    await hooks.deliver(refund("re_1", 9_000))

    assert (await commission_of(engine, "ord_1")).amount == 0
