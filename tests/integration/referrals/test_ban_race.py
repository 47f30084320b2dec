"""A ban that lands while a commission is accrued, released or paid: the banned referrer gets nothing.

The concurrent cases hold one transaction open, start the other, wait (polling PostgreSQL's lock waits,
with a deadline) until it is blocked, then commit the first. SQLite runs one writer at a time, so only
the re-checks at release and payout run there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.db.unit_of_work import SqlAlchemyPaymentTransaction
from payments.domain.state_diff import Cause
from payments.referrals import CommissionConflict, CommissionService
from payments.referrals.repository import CommissionRepository
from tests.integration.referrals.support import SETTINGS, Webhooks, commission_of, paid, snapshot
from tests.support.clock import NOW

BLOCKED = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


# SQLite has one writer at a time: no concurrent transactions to race, so these run on PostgreSQL alone.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _until_blocked(engine: AsyncEngine, deadline_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    async with engine.connect() as conn:
        while time.monotonic() < deadline:
            if (await conn.scalar(BLOCKED) or 0) > 0:
                return
            await asyncio.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


async def _race(
    engine: AsyncEngine,
    first: Callable[[AsyncConnection], Awaitable[object]],
    second: Callable[[AsyncConnection], Awaitable[object]],
) -> None:
    """``first`` runs and stays uncommitted until ``second`` (in its own transaction) waits on it."""

    async def run_second() -> None:
        async with engine.begin() as conn:
            await second(conn)

    async with engine.connect() as conn:
        transaction = await conn.begin()
        await first(conn)
        task = asyncio.create_task(run_second())
        try:
            await _until_blocked(engine)
        finally:
            await transaction.commit()
    await asyncio.wait_for(task, 30)


async def _accrue(service: CommissionService, conn: AsyncConnection) -> None:
    before = snapshot()
    after = before.with_facts(before.facts.merge(paid()))
    tx = SqlAlchemyPaymentTransaction(conn)
    await service.on_payment_changed(tx, before, after, Cause("evt_race", "test.event"), NOW)


@postgres_only
async def test_a_ban_landing_during_accrual_cancels_the_new_commission(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS)
    await _race(
        engine,
        lambda conn: _accrue(service, conn),
        lambda conn: service.ban_referrer(conn, "ref_1", "admin:alice", "ring", NOW),
    )
    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.reason) == ("canceled", "banned_referrer")


@postgres_only
async def test_an_accrual_during_a_ban_sees_the_ban(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS)
    await _race(
        engine,
        lambda conn: service.ban_referrer(conn, "ref_1", "admin:alice", "ring", NOW),
        lambda conn: _accrue(service, conn),
    )
    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.reason) == ("refused", "banned_referrer")


async def test_a_ban_that_slipped_past_is_caught_at_release_and_at_payout(engine: AsyncEngine) -> None:
    """A ban row without its cancellations (as an old race could leave): nothing is approved or paid."""
    service = CommissionService(SETTINGS)
    await Webhooks(engine, service, snapshot("ord_a")).deliver(paid(), now=NOW - timedelta(days=40))
    await Webhooks(engine, service, snapshot("ord_b", user_id="user_2")).deliver(
        paid(), now=NOW - timedelta(days=39)
    )
    async with engine.begin() as conn:
        assert await service.release_due(conn, NOW - timedelta(days=5)) == 2
    await Webhooks(engine, service, snapshot("ord_c", user_id="user_3")).deliver(
        paid(), now=NOW - timedelta(days=38)
    )
    async with engine.begin() as conn:
        await CommissionRepository().ban(conn, "ref_1", "ring", "admin:alice", NOW)

    async with engine.begin() as conn:
        assert await service.release_due(conn, NOW) == 0
    approved = await commission_of(engine, "ord_a")
    with pytest.raises(CommissionConflict, match="banned"):
        async with engine.begin() as conn:
            await service.mark_commission_paid(conn, approved.id, "admin:alice", NOW)
    with pytest.raises(CommissionConflict, match="banned"):
        async with engine.begin() as conn:
            await service.pay_referrer(conn, "ref_1", "admin:alice", NOW)
    statuses = [(await commission_of(engine, o)).status.value for o in ("ord_a", "ord_b", "ord_c")]
    assert statuses == ["approved", "approved", "pending"]
