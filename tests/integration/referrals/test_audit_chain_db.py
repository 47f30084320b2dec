"""The audit chain as stored: tampering with a row is found and named; concurrent appends never fork."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_audit_log
from payments.referrals import CommissionService
from tests.integration.referrals.support import SETTINGS, Webhooks, paid, refund, snapshot


async def _chain_of_five(engine: AsyncEngine, service: CommissionService) -> list[str]:
    hooks = Webhooks(engine, service, snapshot())
    await hooks.deliver(paid())
    for i in range(4):
        await hooks.deliver(refund(f"re_{i}", 1_000))
    async with engine.connect() as conn:
        return list(
            (await conn.scalars(select(referral_audit_log.c.id).order_by(referral_audit_log.c.seq))).all()
        )


async def test_an_untouched_chain_verifies(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS)
    ids = await _chain_of_five(engine, service)
    async with engine.connect() as conn:
        verdict = await service.verify_audit_chain(conn)
    assert (verdict.ok, verdict.count, verdict.first_bad_entry_id, len(ids)) == (True, 5, None, 5)


@pytest.mark.parametrize(
    "change",
    [
        {"reason": "nothing to see"},
        {"after": {"amount": 1_000}},
        {"actor": "admin:mallory"},
        {"action": "paid"},
    ],
    ids=["reason", "after", "actor", "action"],
)
async def test_changing_one_row_fails_verification_and_names_it(
    engine: AsyncEngine, change: dict[str, object]
) -> None:
    service = CommissionService(SETTINGS)
    ids = await _chain_of_five(engine, service)
    async with engine.begin() as conn:
        await conn.execute(
            update(referral_audit_log).where(referral_audit_log.c.id == ids[2]).values(**change)
        )
    async with engine.connect() as conn:
        verdict = await service.verify_audit_chain(conn)
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[2])
    assert verdict.reason


@pytest.mark.parametrize("index", [0, 2, 4], ids=["first", "middle", "newest"])
async def test_deleting_one_row_fails_verification_and_names_it(engine: AsyncEngine, index: int) -> None:
    service = CommissionService(SETTINGS)
    ids = await _chain_of_five(engine, service)
    async with engine.begin() as conn:
        await conn.execute(delete(referral_audit_log).where(referral_audit_log.c.id == ids[index]))
    async with engine.connect() as conn:
        verdict = await service.verify_audit_chain(conn)
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[index])


async def test_swapping_two_rows_places_fails_verification(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS)
    ids = await _chain_of_five(engine, service)
    log = referral_audit_log
    async with engine.begin() as conn:
        await conn.execute(update(log).where(log.c.id == ids[1]).values(seq=-1))
        await conn.execute(update(log).where(log.c.id == ids[2]).values(seq=2))
        await conn.execute(update(log).where(log.c.id == ids[1]).values(seq=3))
    async with engine.connect() as conn:
        verdict = await service.verify_audit_chain(conn)
    assert (verdict.ok, verdict.first_bad_entry_id) == (False, ids[2])


async def test_concurrent_transactions_extend_one_chain(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS)
    orders = [snapshot(f"ord_{i}", user_id=f"user_{i}") for i in range(8)]

    await asyncio.gather(*(Webhooks(engine, service, order).deliver(paid()) for order in orders))

    async with engine.connect() as conn:
        verdict = await service.verify_audit_chain(conn)
        seqs = list(
            (await conn.scalars(select(referral_audit_log.c.seq).order_by(referral_audit_log.c.seq))).all()
        )
    assert verdict.ok and verdict.count == 8
    assert seqs == list(range(1, 9))
