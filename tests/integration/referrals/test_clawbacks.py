"""Pro-rata clawbacks through on_payment_changed: duplicates, arrival order, before and after payout."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_adjustments, referral_payout_lines
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.payment_state import PaymentFacts, RefundStatus
from payments.referrals import AuditAction, CommissionConflict, CommissionService, NothingToPay
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


async def test_a_clawback_larger_than_the_next_payout_waits_and_so_does_the_payout(
    engine: AsyncEngine,
) -> None:
    """Paid 1 000, then refunded in full: 1 000 owed back. A new 500 is not sent while that is owed (the
    referrer would hold 500 of ours); it is paid, net, once later earnings cover the clawback."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await _pay_out(engine, service)
    await hooks.deliver(refund("re_all", 10_000))
    await Webhooks(engine, service, snapshot("ord_2", amount=5_000, user_id="user_2")).deliver(paid(5_000))

    await service.release_due(AFTER_HOLD)
    with pytest.raises(NothingToPay):
        await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)
    second = await commission_of(engine, "ord_2")
    with pytest.raises(CommissionConflict, match="owes back more"):
        await service.mark_commission_paid(second.id, "admin:alice", AFTER_HOLD)
    assert (await commission_of(engine, "ord_2")).status.value == "approved"

    later = AFTER_HOLD + timedelta(days=1)
    third = Webhooks(engine, service, snapshot("ord_3", amount=10_000, user_id="user_3"))
    await third.deliver(paid(), now=later)
    await service.release_due(later + timedelta(days=31))
    payout = await service.pay_referrer("ref_1", "admin:alice", later + timedelta(days=31))
    assert [(line.commissions_amount, line.adjustments_amount, line.net_amount) for line in payout.lines] == [
        (1_500, -1_000, 500)
    ]
    with pytest.raises(NothingToPay):
        await service.pay_referrer("ref_1", "admin:alice", later + timedelta(days=31))


async def test_a_refund_that_failed_after_payout_is_not_sent_while_a_larger_clawback_is_owed(
    engine: AsyncEngine,
) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    big = Webhooks(engine, service, snapshot("ord_big", amount=20_000, user_id="u1"))
    small = Webhooks(engine, service, snapshot("ord_small", amount=10_000, user_id="u2"))
    await big.deliver(paid(20_000))
    await small.deliver(paid(10_000))
    await service.release_due(AFTER_HOLD)
    assert (await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)).lines[0].net_amount == 3_000
    await big.deliver(refund("re_big", 20_000), now=AFTER_HOLD)  # -2 000
    await small.deliver(refund("re_small", 10_000), now=AFTER_HOLD)  # -1 000
    await small.deliver(refund("re_small", 10_000, RefundStatus.FAILED), now=AFTER_HOLD)  # +1 000
    with pytest.raises(NothingToPay):
        await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)


async def test_paying_one_commission_nets_the_clawbacks_owed_in_its_currency(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    first = Webhooks(engine, service, snapshot("ord_1", user_id="u1"))
    await first.deliver(paid())
    await _pay_out(engine, service)
    await first.deliver(refund("re_1", 5_000), now=AFTER_HOLD)  # -500 owed back
    second = Webhooks(engine, service, snapshot("ord_2", user_id="u2"))
    await second.deliver(paid(), now=AFTER_HOLD)
    due = AFTER_HOLD + timedelta(days=31)
    await service.release_due(due)

    c2 = await service.mark_commission_paid((await commission_of(engine, "ord_2")).id, "admin:alice", due)
    async with engine.connect() as conn:
        line = (
            (
                await conn.execute(
                    select(referral_payout_lines).where(referral_payout_lines.c.payout_id == c2.payout_id)
                )
            )
            .mappings()
            .one()
        )
        unsettled = (
            await conn.scalars(
                select(referral_adjustments.c.amount).where(referral_adjustments.c.payout_id.is_(None))
            )
        ).all()
    assert (c2.status.value, line["net_amount"], list(unsettled)) == ("paid", 500, [])


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
