"""The optimistic unit of work on PostgreSQL: it applies everything or nothing, and nothing whenever what it
read changed before its one write (``adapters/db/optimistic.py``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.records import EventStatus, IncomingEvent
from payments.unit_of_work import NeedsLocks, UnitOfWork
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.stripe_events import translate
from tests.support import stripe_events as se
from tests.support.service import Service, running_service

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _completed(pid: str, order_id: str) -> dict[str, Any]:
    session = se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}")
    return se.event("checkout.session.completed", session)


async def _read(uow: UnitOfWork, event: dict[str, Any]) -> tuple[bool, EventFacts, Any]:
    """What the webhook path does first: record the event (a read here), find its payment."""
    found = translate(event)
    assert found is not None
    inserted = await uow.record_event(
        IncomingEvent.of(event, json.dumps(event)), NOW, payment_id=found.payment_id, lookup=found
    )
    if not inserted:
        return inserted, found, None
    record = await uow.find_payment(
        payment_id=found.payment_id,
        session_id=found.session_id,
        payment_intent_id=found.payment_intent_id,
        charge_id=found.charge_id,
    )
    return inserted, found, record


async def _apply(uow: UnitOfWork, event: dict[str, Any], found: EventFacts, record: Any) -> None:
    await PaymentOrchestrator().apply(uow, record, found, Cause(event["id"], event["type"]), NOW)


def _store(svc: Service) -> SqlPaymentStore:
    assert svc.container.store is not None
    return svc.container.store


async def _unchanged(svc: Service, pid: str) -> None:
    events, diffs, _ = await svc.row_counts()
    assert (events, diffs) == (0, 0)
    assert (await svc.payment(pid)).status == "open"


async def test_one_statement_applies_the_ledger_row_and_every_effect(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o0")
        event = _completed(pid, "ord_o0")
        async with _store(svc).optimistic() as uow:
            inserted, found, record = await _read(uow, event)
            assert inserted and record is not None and record.id == pid
            await _apply(uow, event, found, record)
        payment = await svc.payment(pid)
        assert (payment.status, payment.stripe_payment_intent_id) == ("succeeded", "pi_ord_o0")
        assert await svc.history("ord_o0") == [("pending", "paid", 10_000, 0)]
        assert (await svc.row_counts())[:2] == (1, 1)


async def test_a_payment_changed_after_the_read_applies_nothing(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o1")
        event = _completed(pid, "ord_o1")
        with pytest.raises(NeedsLocks):
            async with _store(svc).optimistic() as uow:
                _, found, record = await _read(uow, event)
                async with engine.begin() as conn:  # any committed update makes a new row version
                    await conn.execute(
                        text("UPDATE payments SET description = 'x' WHERE id = :id"), {"id": pid}
                    )
                await _apply(uow, event, found, record)
        await _unchanged(svc, pid)
        # The webhook path then runs it under locks.
        assert (await svc.deliver(event)).json() == {"received": True, "duplicate": False}
        assert (await svc.payment(pid)).status == "succeeded"


async def test_a_copy_of_the_event_recorded_after_the_read_wins_and_this_applies_nothing(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o2")
        event = _completed(pid, "ord_o2")
        store = _store(svc)
        with pytest.raises(NeedsLocks):
            async with store.optimistic() as uow:
                _, found, record = await _read(uow, event)
                async with store.optimistic() as other:  # the copy, another replica's
                    _, found_too, record_too = await _read(other, event)
                    await _apply(other, event, found_too, record_too)
                await _apply(uow, event, found, record)
        assert (await svc.row_counts())[:2] == (1, 1)
        assert await svc.history("ord_o2") == [("pending", "paid", 10_000, 0)]


async def test_a_settled_event_is_answered_by_the_read(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o3")
        event = _completed(pid, "ord_o3")
        await svc.deliver(event)
        async with _store(svc).optimistic() as uow:
            inserted, _, _ = await _read(uow, event)
            assert not inserted
            assert await uow.event_status_for_update(event["id"]) is EventStatus.PROCESSED
        assert (await svc.row_counts())[:2] == (1, 1)


async def test_an_earlier_failed_attempt_and_any_repository_need_the_locks(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o4")
        event = _completed(pid, "ord_o4")
        store = _store(svc)
        await store.record_failure(IncomingEvent.of(event, json.dumps(event)), NOW, "boom")
        with pytest.raises(NeedsLocks):
            async with store.optimistic() as uow:
                inserted, _, _ = await _read(uow, event)
                assert not inserted
                await uow.event_status_for_update(event["id"])
        with pytest.raises(NeedsLocks):
            async with store.optimistic() as uow:
                await uow.payments.get(pid)
        with pytest.raises(NeedsLocks):
            async with store.optimistic() as uow:
                await uow.get_payment_for_update(pid)


async def test_a_refund_recorded_while_the_write_waited_on_the_payment_is_not_recorded_twice(
    engine: AsyncEngine, database_url: str
) -> None:
    """A transaction holds the payment's lock without updating it and records Stripe's refund: the
    optimistic write, which waited on that lock, read the refunds before that commit. The refund's
    unique Stripe id turns its second insert into ``NeedsLocks``, and the run under locks sees the row."""
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o5")
        await svc.deliver(_completed(pid, "ord_o5"))
        event = se.event("refund.created", se.refund("re_o5", "pi_ord_o5", "ch_o5", 3000))
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
        holder = await asyncpg.connect(dsn)
        try:
            holding = holder.transaction()
            await holding.start()
            await holder.execute("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE", pid)
            with pytest.raises(NeedsLocks):
                async with _store(svc).optimistic() as uow:
                    _, found, record = await _read(uow, event)
                    await _apply(uow, event, found, record)
                    writing = asyncio.create_task(uow.apply())  # type: ignore[attr-defined]
                    await _until_waiting_on_a_lock(holder)
                    await holder.execute(
                        """INSERT INTO refunds (id, payment_id, amount, currency, status, source,
                           stripe_refund_id, created_at, updated_at)
                           VALUES ('rf_o5', $1, 3000, 'eur', 'succeeded', 'dashboard', 're_o5',
                                   now(), now())""",
                        pid,
                    )
                    await holding.commit()
                    await writing
        finally:
            await holder.close()
        assert (await svc.deliver(event)).status_code == 200
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 3000)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM refunds"))).scalar_one() == 1


async def _until_waiting_on_a_lock(admin: asyncpg.Connection) -> None:
    for _ in range(500):
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the optimistic write never waited on the payment's lock")


async def test_two_refunds_in_one_event_need_the_locks_then_both_count(engine: AsyncEngine) -> None:
    """Parts of one statement share a snapshot, so a second write to a table waits for the locking
    unit of work, which sends the first before the second."""
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_o6")
        await svc.deliver(_completed(pid, "ord_o6"))
        refunds = [
            se.refund(f"re_o6_{n}", "pi_ord_o6", "ch_o6", 2000, created=1_764_000_100 + n) for n in (1, 2)
        ]
        event = se.event("charge.refunded", se.charge("ch_o6", "pi_ord_o6", refunds=refunds))
        with pytest.raises(NeedsLocks):
            async with _store(svc).optimistic() as uow:
                _, found, record = await _read(uow, event)
                await _apply(uow, event, found, record)
        await _unchanged_since_paid(svc, pid)
        assert (await svc.deliver(event)).status_code == 200
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 4000)


async def _unchanged_since_paid(svc: Service, pid: str) -> None:
    payment = await svc.payment(pid)
    assert (payment.status, payment.amount_refunded) == ("succeeded", 0)
    assert (await svc.row_counts())[:2] == (1, 1)


async def test_a_lost_deadlock_undoes_the_transaction_and_says_retry(engine: AsyncEngine) -> None:
    """Two transactions locking two payments in opposite orders: PostgreSQL undoes one, which the store
    reports as ConcurrentWrite (the webhook path runs it once more) and the other commits."""
    async with running_service(engine) as svc:
        first, second = await svc.add_payment("ord_o7"), await svc.add_payment("ord_o8")
        store = _store(svc)
        both_locked_one = asyncio.Event()
        locked = 0

        async def lock(a: str, b: str) -> None:
            nonlocal locked
            async with store.transaction() as tx:
                await tx.get_payment_for_update(a)
                locked += 1
                if locked == 2:
                    both_locked_one.set()
                await both_locked_one.wait()
                await tx.get_payment_for_update(b)

        results = await asyncio.gather(lock(first, second), lock(second, first), return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["ConcurrentWrite", "NoneType"], results


async def test_deferred_events_another_transaction_holds_are_skipped_not_waited_for(
    engine: AsyncEngine, database_url: str
) -> None:
    """Two sweepers (two workers) reach the same deferred rows: the second skips what the first is
    applying instead of queueing behind it."""
    async with running_service(engine) as svc:
        await svc.add_payment("ord_o9")
        early = se.event("refund.created", se.refund("re_o9", "pi_o9", "ch_o9", 3000))
        assert (await svc.deliver(early)).status_code == 200  # deferred: no payment has pi_o9 yet
        holder = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            holding = holder.transaction()
            await holding.start()
            held = await holder.fetch("SELECT id FROM stripe_events WHERE ref = 'pi_o9' FOR UPDATE")
            assert len(held) == 1
            async with _store(svc).transaction() as tx:
                assert await asyncio.wait_for(tx.deferred_for(["pi_o9"]), timeout=5) == []
            await holding.rollback()
            async with _store(svc).transaction() as tx:
                assert [e.id for e in await tx.deferred_for(["pi_o9"])] == [early["id"]]
        finally:
            await holder.close()
