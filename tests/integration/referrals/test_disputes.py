"""Disputes: opened → held; won → back where it was; lost → reversed (or a negative adjustment once paid)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.payment_state import DisputePhase
from payments.referrals import AuditAction, CommissionConflict, CommissionService
from tests.integration.referrals.support import (
    SETTINGS,
    Webhooks,
    adjustment_amounts,
    commission_of,
    dispute,
    paid,
    refund,
    snapshot,
)
from tests.support.clock import NOW

AFTER_HOLD = NOW + timedelta(days=31)


async def test_a_dispute_opened_then_won_restores_the_commission(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await service.release_due(AFTER_HOLD)

    await hooks.deliver(dispute("dp_1", DisputePhase.OPEN), times=3)
    held = await commission_of(engine, "ord_1")
    assert (held.status.value, held.reason, held.status_before_hold) == ("held", "dispute_open", "approved")

    await hooks.deliver(dispute("dp_1", DisputePhase.WON), times=3)
    restored = await commission_of(engine, "ord_1")
    assert (restored.status.value, restored.reason, restored.amount) == ("approved", None, 1_000)
    actions = [e.action for e in await service.get_audit(restored.id)]
    assert actions == [AuditAction.ACCRUED, AuditAction.RELEASED, AuditAction.HELD, AuditAction.RESTORED]


async def test_a_dispute_opened_then_lost_reverses_the_commission(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(dispute("dp_1", DisputePhase.OPEN))
    await hooks.deliver(dispute("dp_1", DisputePhase.LOST), times=3)

    reversed_ = await commission_of(engine, "ord_1")
    assert (reversed_.status.value, reversed_.amount, reversed_.original_amount) == ("reversed", 0, 1_000)
    assert reversed_.reason == "dispute_lost"
    actions = [e.action for e in await service.get_audit(reversed_.id)]
    assert actions == [AuditAction.ACCRUED, AuditAction.HELD, AuditAction.REVERSED]


async def test_a_refund_while_disputed_still_shrinks_the_held_commission(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(dispute("dp_1", DisputePhase.OPEN))
    await hooks.deliver(refund("re_1", 5_000))
    await hooks.deliver(dispute("dp_1", DisputePhase.WON))

    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.amount) == ("pending", 500)


async def test_a_dispute_lost_after_payout_claws_back_what_remains(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(refund("re_1", 3_000))
    await service.release_due(AFTER_HOLD)
    await service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)

    await hooks.deliver(dispute("dp_1", DisputePhase.OPEN))
    assert (await commission_of(engine, "ord_1")).status.value == "paid"
    await hooks.deliver(dispute("dp_1", DisputePhase.LOST), times=3)

    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.amount) == ("paid", 700)
    assert await adjustment_amounts(engine, commission.id) == [-700]
    audit = await service.get_audit(commission.id)
    assert (audit[-1].action, audit[-1].reason) == (AuditAction.REVERSED, "dispute_lost")


async def test_an_admin_cannot_decide_a_commission_held_by_its_dispute(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    await hooks.deliver(dispute("dp_1", DisputePhase.OPEN))
    commission = await commission_of(engine, "ord_1")
    with pytest.raises(CommissionConflict):
        await service.decide_held(commission.id, True, "admin:alice", NOW)
