"""The two implementations of ``PaymentStore`` / ``UnitOfWork`` (``webhooks/ports.py``), and the store
that hands out their units: a transaction (``transaction()``), statements committing alone
(``autocommit()``), or a webhook event's optimistic unit (``optimistic()``, in ``optimistic.py``).

- PostgreSQL through asyncpg: the locking transaction. The statements run on the asyncpg connection under the
  pooled SQLAlchemy connection, inside an asyncpg transaction, as prepared statements (asyncpg caches
  them per connection). SQLAlchemy's per-statement machinery costs ~0.3 ms here against ~0.07 ms for
  asyncpg. Writes whose result nobody reads are held back and sent together as one statement of
  data-modifying CTEs with the next read or at commit (``_WriteBehind``), so an event costs a handful of
  round trips: BEGIN, the ledger insert, the payment lock, its writes, COMMIT.
- Anything else (SQLite): the same operations through the SQLAlchemy repositories, one statement each.

The repositories (everything that is not a hot-path method) run their SQLAlchemy statements through
``connection()``: the SQLAlchemy connection over the same database connection. On PostgreSQL that
connection is checked out in SQLAlchemy's AUTOCOMMIT mode, which here means "SQLAlchemy starts no
transaction of its own": its statements run inside our asyncpg transaction and commit or roll back with
it (had SQLAlchemy begun, asyncpg would have nested a SAVEPOINT and a RELEASE around every unit of work
that touched a repository: two round trips for nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool

from payments.adapters.db import diffs_repo, events_repo, payments_repo, refunds_repo
from payments.adapters.db.hot_statements import (
    DEFERRED_FOR,
    EVENT_STATUS_FOR_UPDATE,
    FIND_PAYMENT,
    GET_PAYMENT_FOR_UPDATE,
    MARK_EVENT,
    RECORD_EVENT,
    RECORD_EVENT_AND_LOCK,
    HeldWrites,
    Write,
    compose,
    payment_of,
)
from payments.adapters.db.kept_connections import KeptConnections
from payments.adapters.db.lazy_repositories import LazyRepositories
from payments.adapters.db.optimistic import OptimisticUnitOfWork
from payments.adapters.db.referral_tables import referral_identities
from payments.adapters.db.timestamps import as_utc
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import StateDiff
from payments.domain.stripe_facts import EventFacts
from payments.records import EventStatus, IncomingEvent, PaymentRecord, StoredEvent
from payments.unit_of_work import ConcurrentWrite

# -- SQLAlchemy (SQLite, and any non-asyncpg PostgreSQL driver) -------------------------------------


class SqlAlchemyUnitOfWork(LazyRepositories):
    """Each operation is the repository function it names, on the caller's connection."""

    def __init__(self, conn: AsyncConnection, raw: Any = None) -> None:
        self._conn = conn
        self._raw = raw  # asyncpg's connection under conn, when the store has it at hand

    async def record_event(
        self,
        event: IncomingEvent,
        now: datetime,
        *,
        payment_id: str | None,
        lookup: EventFacts | None = None,
    ) -> bool:
        return await events_repo.record(self._conn, event, now, payment_id=payment_id)

    async def event_status_for_update(self, event_id: str) -> EventStatus | None:
        return await events_repo.status_of(self._conn, event_id, for_update=True)

    async def mark_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        payment_id: str | None = None,
        ref: str | None = None,
        error: str | None = None,
        new_attempt: bool = True,
    ) -> None:
        await events_repo.mark(
            self._conn,
            event_id,
            status,
            now,
            payment_id=payment_id,
            ref=ref,
            error=error,
            new_attempt=new_attempt,
        )

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        return await events_repo.deferred_for(self._conn, list(refs))

    async def find_payment(
        self,
        *,
        payment_id: str | None,
        session_id: str | None,
        payment_intent_id: str | None,
        charge_id: str | None,
    ) -> PaymentRecord | None:
        return await payments_repo.find_for_stripe_refs(
            self._conn,
            payment_id=payment_id,
            session_id=session_id,
            payment_intent_id=payment_intent_id,
            charge_id=charge_id,
        )

    async def get_payment_for_update(self, payment_id: str) -> PaymentRecord | None:
        return await payments_repo.get(self._conn, payment_id, for_update=True)

    async def save_state(
        self,
        record: PaymentRecord,
        *,
        facts: PaymentFacts,
        status: PaymentStatus,
        amount_refunded: int,
        now: datetime,
        links: dict[str, str],
        diff_seq: int,
    ) -> None:
        await payments_repo.save_state(
            self._conn,
            record,
            facts=facts,
            status=status,
            amount_refunded=amount_refunded,
            now=now,
            links=links,
            diff_seq=diff_seq,
        )

    async def record_refund_seen(
        self,
        *,
        payment_id: str,
        stripe_refund_id: str,
        our_refund_id: str | None,
        amount: int,
        currency: str,
        status: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        await refunds_repo.record_seen(
            self._conn,
            payment_id=payment_id,
            stripe_refund_id=stripe_refund_id,
            our_refund_id=our_refund_id,
            amount=amount,
            currency=currency,
            status=status,
            reason=reason,
            now=now,
        )

    async def append_diff(self, diff: StateDiff, seq: int, now: datetime) -> None:
        await diffs_repo.append(self._conn, diff, seq, now)

    async def record_identities(self, user_id: str, hashes: Sequence[tuple[str, str]], now: datetime) -> None:
        if not hashes:
            return
        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        await self._conn.execute(
            insert(referral_identities).on_conflict_do_nothing(),
            [
                {"user_id": user_id, "kind": kind, "value_hash": digest, "first_seen_at": as_utc(now)}
                for kind, digest in hashes
            ],
        )

    async def connection(self) -> AsyncConnection:
        return self._conn


# -- asyncpg ----------------------------------------------------------------------------------------


class _WriteBehind:
    """Writes held back until the next read or the commit, then sent as one statement.

    A read folds the held writes into its own statement when none of them touches a table it reads (the
    writes' effects would be invisible to it: every part of a statement sees the same snapshot);
    otherwise, and before a write that touches a table a held one touches, they are sent first.
    """

    __slots__ = ("_args", "_counts", "_raw", "_tables", "_writes")
    _texts: ClassVar[dict[tuple[Any, ...], str]] = {}

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._writes: list[Write] = []
        self._counts: list[int] = []
        self._args: list[Any] = []
        self._tables: set[str] = set()

    async def add(self, write: Write, *args: Any) -> None:
        if self._tables & write.tables:
            await self.flush()
        self._writes.append(write)
        self._counts.append(len(args))
        self._args.extend(args)
        self._tables |= write.tables

    async def flush(self) -> None:
        if self._writes:
            await self._raw.execute(self._take("SELECT 1", 0), *self._args)
            self._clear()

    def _take(self, tail: str, tail_params: int) -> str:
        key = (tail, *(w.key for w in self._writes))
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = compose(self._writes, self._counts, tail, tail_params)
        return text

    def _clear(self) -> None:
        self._writes.clear()
        self._counts.clear()
        self._args.clear()
        self._tables.clear()

    async def fetch(self, query: str, tables: frozenset[str], *args: Any) -> list[Any]:
        if not self._writes:
            return list(await self._raw.fetch(query, *args))
        if self._tables & tables:
            await self.flush()
            return list(await self._raw.fetch(query, *args))
        text = self._take(query, len(args))
        rows = await self._raw.fetch(text, *args, *self._args)
        self._clear()
        return list(rows)

    async def fetchrow(self, query: str, tables: frozenset[str], *args: Any) -> Any:
        rows = await self.fetch(query, tables, *args)
        return rows[0] if rows else None


async def _rolled_back(raw: Any, outer: Any) -> bool:
    if raw.is_closed():
        return False
    try:
        await outer.rollback()
    except Exception:
        return False
    return True


_EVENTS = frozenset({"stripe_events"})
_PAYMENTS = frozenset({"payments"})


class AsyncpgUnitOfWork(HeldWrites, LazyRepositories):
    def __init__(self, raw: Any, conn: AsyncConnection) -> None:
        self._raw = raw
        self._conn = conn
        self._held = _WriteBehind(raw)
        # (the ids looked up, the payment found and locked) by record_event, for find_payment to answer
        self._locked: tuple[tuple[str | None, ...], PaymentRecord | None] | None = None
        # the PaymentIntent id record_event found no deferred event waiting on
        self._none_waiting: str | None = None

    async def _hold(self, write: Write, *args: Any) -> None:
        await self._held.add(write, *args)

    async def record_event(
        self,
        event: IncomingEvent,
        now: datetime,
        *,
        payment_id: str | None,
        lookup: EventFacts | None = None,
    ) -> bool:
        await self._held.flush()
        refs = (
            (lookup.payment_id, lookup.session_id, lookup.payment_intent_id, lookup.charge_id)
            if lookup is not None
            else (None, None, None, None)
        )
        params = (
            event.id,
            event.type,
            event.livemode,
            event.api_version,
            event.created,
            event.payload,
            EventStatus.PROCESSED.value,
            now,
            payment_id,
        )
        if not any(refs):
            return await self._raw.fetchval(RECORD_EVENT, *params) is not None
        row = await self._raw.fetchrow(RECORD_EVENT_AND_LOCK, *params, *refs)
        if not row["inserted"]:
            return False
        self._locked = (refs, payment_of(row) if row["id"] is not None else None)
        if row["waiting"] == 0:
            self._none_waiting = lookup.payment_intent_id if lookup is not None else None
        return True

    async def event_status_for_update(self, event_id: str) -> EventStatus | None:
        row = await self._held.fetchrow(EVENT_STATUS_FOR_UPDATE, _EVENTS, event_id)
        return EventStatus(row[0]) if row is not None else None

    async def mark_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        payment_id: str | None = None,
        ref: str | None = None,
        error: str | None = None,
        new_attempt: bool = True,
    ) -> None:
        await self._held.add(
            MARK_EVENT,
            event_id,
            status.value,
            now,
            payment_id,
            ref,
            error[:1000] if error else None,
            int(new_attempt),
        )

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        if self._none_waiting is not None and all(ref == self._none_waiting for ref in refs):
            return []
        rows = await self._held.fetch(DEFERRED_FOR, _EVENTS, list(refs))
        return [
            StoredEvent(
                id=r["id"],
                type=r["type"],
                status=EventStatus(r["status"]),
                payload=r["payload"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    async def find_payment(
        self,
        *,
        payment_id: str | None,
        session_id: str | None,
        payment_intent_id: str | None,
        charge_id: str | None,
    ) -> PaymentRecord | None:
        if not (payment_id or session_id or payment_intent_id or charge_id):
            return None
        locked, self._locked = self._locked, None
        if locked is not None and locked[0] == (payment_id, session_id, payment_intent_id, charge_id):
            return locked[1]
        row = await self._held.fetchrow(
            FIND_PAYMENT, _PAYMENTS, payment_id, session_id, payment_intent_id, charge_id
        )
        return payment_of(row) if row is not None else None

    async def get_payment_for_update(self, payment_id: str) -> PaymentRecord | None:
        row = await self._held.fetchrow(GET_PAYMENT_FOR_UPDATE, _PAYMENTS, payment_id)
        return payment_of(row) if row is not None else None

    async def connection(self) -> AsyncConnection:
        await self._held.flush()
        return self._conn

    async def flush(self) -> None:
        await self._held.flush()


# -- the store ---------------------------------------------------------------------------------------


class SqlPaymentStore:
    """``PaymentStore`` and ``UnitOfWorkFactory`` over an engine: asyncpg's fast path on PostgreSQL,
    SQLAlchemy elsewhere."""

    def __init__(self, engine: AsyncEngine, *, keep_connections: bool = False) -> None:
        """``keep_connections``: the optimistic and autocommit units keep up to half the pool checked out
        between uses (``kept_connections.py``); the owner then calls ``close()`` before disposing of the
        engine (the container does)."""
        self._engine = engine
        self._fast = engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
        # Same pool; a connection from this view has SQLAlchemy leave transactions to us (module doc).
        self._inside_ours = engine.execution_options(isolation_level="AUTOCOMMIT") if self._fast else engine
        # Half the pool at most, so the locking units of work and the API keep the rest.
        pool = engine.pool
        cap = max(1, pool.size() // 2) if isinstance(pool, QueuePool) else 1
        self._kept = KeptConnections(engine, cap=cap if keep_connections else 0) if self._fast else None

    def __call__(self) -> AbstractAsyncContextManager[Any]:
        return self.transaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        if not self._fast:
            async with self._engine.begin() as conn:
                yield SqlAlchemyUnitOfWork(conn)
            return
        async with self._inside_ours.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            tx = AsyncpgUnitOfWork(raw, conn)
            outer = raw.transaction()
            try:
                await outer.start()
                yield tx
                await tx.flush()
                await outer.commit()
            except BaseException as exc:
                # Statements here run past SQLAlchemy, so its pool never learns that a connection broke
                # (the server restarted or ended it, the protocol was cut mid-operation): one that cannot
                # roll back cleanly is thrown away, or it would fail whoever drew it next.
                if not await _rolled_back(raw, outer):
                    await conn.invalidate()
                if isinstance(exc, asyncpg.DeadlockDetectedError):
                    # PostgreSQL chose this transaction to end a deadlock (a copy of the same event on the
                    # optimistic path locks the payment before the event id): it is undone, and the
                    # same work in a new transaction sees what the other wrote.
                    raise ConcurrentWrite("lost a deadlock to a concurrent transaction") from None
                raise

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Any]:
        if self._kept is None:
            async with self.transaction() as tx:
                yield tx
            return
        async with self._kept.pair() as (conn, raw):
            yield SqlAlchemyUnitOfWork(conn, raw)

    @asynccontextmanager
    async def optimistic(self) -> AsyncIterator[Any]:
        if self._kept is None:
            async with self.transaction() as tx:
                yield tx
            return
        async with self._kept.pair() as (_, raw):
            uow = OptimisticUnitOfWork(raw)
            yield uow
            await uow.apply()

    async def close(self) -> None:
        """Give the optimistic path's kept connections back (before the engine is disposed)."""
        if self._kept is not None:
            await self._kept.close()

    async def event_status(self, event_id: str) -> EventStatus | None:
        async with self._engine.connect() as conn:
            return await events_repo.status_of(conn, event_id)

    async def get_event(self, event_id: str) -> StoredEvent | None:
        async with self._engine.connect() as conn:
            return await events_repo.get(conn, event_id)

    async def record_failure(self, event: IncomingEvent, now: datetime, error: str) -> None:
        async with self._engine.begin() as conn:
            await events_repo.record_failure(conn, event, now, error)

    async def linked_deferred(self, since: datetime) -> list[tuple[str, str]]:
        async with self._engine.connect() as conn:
            return await events_repo.linked_deferred(conn, since)
