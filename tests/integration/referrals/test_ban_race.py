"""A ban that lands while a commission is accrued, released or paid: the banned referrer gets nothing.

The concurrent cases hold one unit of work open after its work, start the other, wait (polling
PostgreSQL's lock waits, with a deadline) until it is blocked, then let the first commit. SQLite runs one
writer at a time, so only the re-checks at release and payout run there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.state_diff import Cause
from payments.referrals import CommissionConflict, CommissionService
from payments.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.integration.referrals.support import SETTINGS, Webhooks, commission_of, paid, snapshot
from tests.support.clock import NOW

BLOCKED = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


# SQLite has one writer at a time: no concurrent transactions to race, so these run on PostgreSQL alone.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _until_blocked(
    engine: AsyncEngine, waiter: asyncio.Task[object], deadline_seconds: float = 10.0
) -> None:
    deadline = time.monotonic() + deadline_seconds
    async with engine.connect() as conn:
        while time.monotonic() < deadline:
            if waiter.done():
                waiter.result()  # its error, if it failed before waiting
                raise AssertionError("the second transaction ended without waiting for the first")
            if (await conn.scalar(BLOCKED) or 0) > 0:
                return
            # pg_stat_activity is read once per transaction: end it, or every later check sees the first.
            await conn.rollback()
            await asyncio.sleep(0.02)
    raise AssertionError("the second transaction never waited for the first")


class _HeldOpen:
    """A unit-of-work factory whose block, its work done, waits for ``release`` before it commits."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._store = SqlPaymentStore(engine)
        self.done = asyncio.Event()
        self.release = asyncio.Event()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[UnitOfWork]:
        async with self._store() as uow:
            yield uow
            self.done.set()
            await self.release.wait()


async def _race(
    engine: AsyncEngine,
    first: Callable[[UnitOfWorkFactory], Coroutine[Any, Any, object]],
    second: Callable[[UnitOfWorkFactory], Coroutine[Any, Any, object]],
) -> None:
    """``first`` runs and stays uncommitted until ``second`` (in its own unit of work) waits on it."""
    held = _HeldOpen(engine)
    first_task = asyncio.create_task(first(held))
    done = asyncio.create_task(held.done.wait())
    await asyncio.wait({first_task, done}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert held.done.is_set(), "the first unit of work never finished its work"
    second_task = asyncio.create_task(second(SqlPaymentStore(engine)))
    try:
        await _until_blocked(engine, second_task)
    finally:
        held.release.set()
    await asyncio.wait_for(asyncio.gather(first_task, second_task), 30)


async def _accrue(uow: UnitOfWorkFactory) -> None:
    """The webhook path: the payment's change and its commission in one unit of work."""
    before = snapshot()
    after = before.with_facts(before.facts.merge(paid()))
    async with uow() as tx:
        await CommissionService(SETTINGS, uow).on_payment_changed(
            tx, before, after, Cause("evt_race", "test.event"), NOW
        )


async def _ban(uow: UnitOfWorkFactory) -> None:
    await CommissionService(SETTINGS, uow).ban_referrer("ref_1", "admin:alice", "ring", NOW)


@postgres_only
async def test_a_ban_landing_during_accrual_cancels_the_new_commission(engine: AsyncEngine) -> None:
    await _race(engine, _accrue, _ban)
    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.reason) == ("canceled", "banned_referrer")


@postgres_only
async def test_an_accrual_during_a_ban_sees_the_ban(engine: AsyncEngine) -> None:
    await _race(engine, _ban, _accrue)
    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.reason) == ("refused", "banned_referrer")


async def test_a_ban_that_slipped_past_is_caught_at_release_and_at_payout(engine: AsyncEngine) -> None:
    """A ban row without its cancellations (as an old race could leave): nothing is approved or paid."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot("ord_a")).deliver(paid(), now=NOW - timedelta(days=40))
    await Webhooks(engine, service, snapshot("ord_b", user_id="user_2")).deliver(
        paid(), now=NOW - timedelta(days=39)
    )
    assert await service.release_due(NOW - timedelta(days=5)) == 2
    await Webhooks(engine, service, snapshot("ord_c", user_id="user_3")).deliver(
        paid(), now=NOW - timedelta(days=38)
    )
    async with SqlPaymentStore(engine)() as uow:
        await uow.referrals.commissions.ban("ref_1", "ring", "admin:alice", NOW)

    assert await service.release_due(NOW) == 0
    approved = await commission_of(engine, "ord_a")
    with pytest.raises(CommissionConflict, match="banned"):
        await service.mark_commission_paid(approved.id, "admin:alice", NOW)
    with pytest.raises(CommissionConflict, match="banned"):
        await service.pay_referrer("ref_1", "admin:alice", NOW)
    statuses = [(await commission_of(engine, o)).status.value for o in ("ord_a", "ord_b", "ord_c")]
    assert statuses == ["approved", "approved", "pending"]
