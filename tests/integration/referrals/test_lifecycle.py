"""Release after the hold, admin decisions, single payment, bans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.referrals import AuditAction, CommissionConflict, CommissionNotFound, CommissionService
from tests.integration.referrals.support import SETTINGS, Webhooks, commission_of, paid, snapshot
from tests.support.clock import NOW


async def test_release_due_approves_only_commissions_past_their_hold(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot("ord_old")).deliver(paid(), now=NOW - timedelta(days=31))
    await Webhooks(engine, service, snapshot("ord_new", user_id="user_2")).deliver(paid())

    assert await service.release_due(NOW) == 1
    assert await service.release_due(NOW) == 0

    assert (await commission_of(engine, "ord_old")).status.value == "approved"
    assert (await commission_of(engine, "ord_new")).status.value == "pending"


async def test_mark_paid_needs_an_approved_commission(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot()).deliver(paid())
    commission = await commission_of(engine, "ord_1")

    with pytest.raises(CommissionConflict):
        await service.mark_commission_paid(commission.id, "admin:alice", NOW)
    await service.release_due(NOW + timedelta(days=30))
    paid_ = await service.mark_commission_paid(commission.id, "admin:alice", NOW + timedelta(days=30))

    assert (paid_.status.value, paid_.payout_id is not None) == ("paid", True)
    assert await commission_of(engine, "ord_1") == paid_
    last = (await service.get_audit(commission.id))[-1]
    assert (last.action, last.actor) == (AuditAction.PAID, "admin:alice")


async def test_unknown_commission_is_not_found(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    with pytest.raises(CommissionNotFound):
        await service.mark_commission_paid("com_missing", "admin:alice", NOW)
    assert await service.get_commission("com_missing") is None


@pytest.mark.parametrize(("approve", "status"), [(True, "pending"), (False, "refused")])
async def test_an_admin_decides_a_held_commission(engine: AsyncEngine, approve: bool, status: str) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot()).deliver(paid(risk="elevated"))
    held = await commission_of(engine, "ord_1")
    assert held.status.value == "held"

    decided = await service.decide_held(held.id, approve, "admin:bob", NOW + timedelta(hours=1))

    assert decided.status.value == status
    assert await commission_of(engine, "ord_1") == decided
    last = (await service.get_audit(held.id))[-1]
    assert (last.action.value, last.actor) == ("approved" if approve else "refused", "admin:bob")


async def test_approving_a_held_commission_after_its_hold_period_approves_it(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot()).deliver(paid(risk="elevated"))
    held = await commission_of(engine, "ord_1")
    decided = await service.decide_held(held.id, True, "admin:bob", NOW + timedelta(days=40))
    assert decided.status.value == "approved"


async def test_banning_cancels_unpaid_commissions_and_leaves_paid_ones(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot("ord_a")).deliver(paid(), now=NOW - timedelta(days=40))
    await service.release_due(NOW - timedelta(days=5))
    await service.pay_referrer("ref_1", "admin:alice", NOW - timedelta(days=5))
    await Webhooks(engine, service, snapshot("ord_b", user_id="user_2")).deliver(paid())
    await Webhooks(engine, service, snapshot("ord_c", user_id="user_3")).deliver(paid(risk="elevated"))

    assert await service.ban_referrer("ref_1", "admin:alice", "self-dealing ring", NOW) == 2
    assert await service.ban_referrer("ref_1", "admin:alice", "again", NOW) == 0

    assert (await commission_of(engine, "ord_a")).status.value == "paid"
    for order in ("ord_b", "ord_c"):
        canceled = await commission_of(engine, order)
        assert (canceled.status.value, canceled.reason) == ("canceled", "banned_referrer")
        assert (await service.get_audit(canceled.id))[-1].action is AuditAction.CANCELED
