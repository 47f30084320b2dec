"""The optimistic unit of work of one webhook event on PostgreSQL (``PaymentStore.optimistic``).

Two statements and no transaction of our own, where the locking unit of work needs four round trips
(BEGIN, the ledger row + payment lock, the writes, COMMIT):

1. one read, locking nothing: is the event in the ledger, and the payment its Stripe ids name, with the
   row's ``xmin`` (PostgreSQL's version of a row: every update writes a new one);
2. once the handler has decided, one statement (atomic on its own) that locks the payment only if its
   ``xmin`` is still the one read, inserts the ledger row only if it did, and runs every held write only
   if the ledger row went in.

Anything else the handler asks for (a read under a lock, a repository) raises ``NeedsLocks`` before a
write, as does a statement that applied nothing (the payment changed, a concurrent copy of the event got
in first) or lost a unique key or a deadlock: the caller then runs the event again in a transaction.

The payment is locked before the ledger row is inserted (the locking unit of work takes the event id
first): only a concurrent copy of the same event in a transaction can deadlock with it. PostgreSQL ends
that within a second by undoing one of the two; either side then runs again under locks and finds the
other's ledger row (the locking side gets ``ConcurrentWrite`` and its caller one more transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.hot_statements import (
    APPEND_DIFF,
    PAYMENT_BY_REFS,
    PAYMENT_COLUMNS,
    HeldWrites,
    Write,
    compose,
)
from payments.adapters.db.hot_statements import payment_of as _payment_of
from payments.adapters.db.lazy_repositories import LazyRepositories
from payments.domain.stripe_facts import EventFacts
from payments.records import SETTLED, EventStatus, IncomingEvent, PaymentRecord, StoredEvent
from payments.unit_of_work import NeedsLocks

_READ = f"""
SELECT (SELECT status FROM stripe_events WHERE id = $1) AS event_status,
       (SELECT count(*) FROM stripe_events
        WHERE status = '{EventStatus.DEFERRED.value}' AND ref = $4 AND $4 IS NOT NULL) AS waiting,
       found.*
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT xmin AS row_version, {PAYMENT_COLUMNS} FROM payments
    WHERE {PAYMENT_BY_REFS.format("$2", "$3", "$4", "$5")} LIMIT 1
) AS found ON true
"""  # noqa: S608 - our own constants only

_LEDGER_COLUMNS = """id, type, livemode, api_version, stripe_created, payload, status, attempts, received_at,
                     processed_at, payment_id, ref, last_error"""
_LEDGER_VALUES = """$1::varchar, $2::varchar, $3::boolean, $4::varchar, $5::bigint, $6::text, $7::varchar,
                    $8::int, $9::timestamptz, $10::timestamptz, $11::varchar, $12::varchar, $13::varchar"""
_LEDGER_PARAMS = 13
# With a payment: $14 its id, $15 the xmin read.
_LOCKED = "locked AS (SELECT id FROM payments WHERE id = $14 AND xmin = $15 FOR UPDATE)"
_INSERT_IF_LOCKED = f"""ins AS (INSERT INTO stripe_events ({_LEDGER_COLUMNS})
    SELECT {_LEDGER_VALUES} WHERE EXISTS (SELECT 1 FROM locked) ON CONFLICT DO NOTHING RETURNING id)"""  # noqa: S608
_INSERT = f"""ins AS (INSERT INTO stripe_events ({_LEDGER_COLUMNS})
    SELECT {_LEDGER_VALUES} ON CONFLICT DO NOTHING RETURNING id)"""
_APPLIED = "SELECT EXISTS (SELECT 1 FROM ins) AS applied"
_IF_INSERTED = "EXISTS (SELECT 1 FROM ins)"
# Lost to a concurrent writer: a unique key (a copy of the event, a refund, a diff's sequence) or a
# deadlock with a copy of the event in a transaction. The statement rolled back as a whole.
_LOST = (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError)


class OptimisticUnitOfWork(HeldWrites, LazyRepositories):
    _texts: ClassVar[dict[tuple[Any, ...], str]] = {}

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._ledger: list[Any] | None = None  # the ledger row's values, in _LEDGER_COLUMNS order
        self._seen: EventStatus | None = None  # the event was in the ledger already, with this status
        self._refs: tuple[str | None, ...] | None = None
        self._payment: PaymentRecord | None = None
        self._row_version: int | None = None
        self._none_waiting: str | None = None
        self._writes: list[Write] = []
        self._counts: list[int] = []
        self._args: list[Any] = []

    async def record_event(
        self,
        event: IncomingEvent,
        now: datetime,
        *,
        payment_id: str | None,
        lookup: EventFacts | None = None,
    ) -> bool:
        """True unless the read found the event in the ledger; whether it really goes in is decided by
        ``apply``."""
        self._ledger = [
            event.id,
            event.type,
            event.livemode,
            event.api_version,
            event.created,
            event.payload,
            EventStatus.PROCESSED.value,
            1,
            now,
            now,
            payment_id,
            None,
            None,
        ]
        refs = (
            (lookup.payment_id, lookup.session_id, lookup.payment_intent_id, lookup.charge_id)
            if lookup is not None
            else (None, None, None, None)
        )
        if not any(refs):
            return True  # nothing to read: the insert says whether it is a copy
        row = await self._raw.fetchrow(_READ, event.id, *refs)
        if row["event_status"] is not None:
            self._seen = EventStatus(row["event_status"])
            return False
        self._refs = refs
        if row["id"] is not None:
            self._payment = _payment_of(row)
            self._row_version = row["row_version"]
        if row["waiting"] == 0:
            self._none_waiting = refs[2]
        return True

    async def event_status_for_update(self, event_id: str) -> EventStatus | None:
        # A settled event stays settled (only a replay, which takes locks, applies one again); any other
        # status is an earlier attempt's row, re-run under its lock.
        if self._seen in SETTLED:
            return self._seen
        raise NeedsLocks("the event was recorded earlier and not settled")

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
        if self._ledger is None or self._ledger[0] != event_id or self._seen is not None:
            raise NeedsLocks("marks only the event it records")
        # As the locking unit of work's insert and mark would leave it (a mark is an attempt).
        self._ledger[6:] = [
            status.value,
            self._ledger[7] + int(new_attempt),
            self._ledger[8],
            now,
            payment_id,
            ref,
            error[:1000] if error else None,
        ]

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        if self._none_waiting is not None and all(ref == self._none_waiting for ref in refs):
            return []
        raise NeedsLocks("deferred events are applied under their locks")

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
        if self._refs != (payment_id, session_id, payment_intent_id, charge_id):
            raise NeedsLocks("a payment other than the event's")
        return self._payment

    async def get_payment_for_update(self, payment_id: str) -> PaymentRecord | None:
        raise NeedsLocks("a payment read under its lock")

    async def _hold(self, write: Write, *args: Any) -> None:
        if self._payment is None:
            raise NeedsLocks("a write with no payment read to guard it")
        if write is not APPEND_DIFF and any(write.tables & held.tables for held in self._writes):
            # Parts of one statement see one snapshot: a second write to a table would not see the first
            # (two refunds of one event naming the same row). The locking unit flushes in between.
            raise NeedsLocks("two writes to one table")
        self._writes.append(write)
        self._counts.append(len(args))
        self._args.extend(args)

    async def connection(self) -> AsyncConnection:
        raise NeedsLocks("the repositories run inside a transaction")

    async def apply(self) -> None:
        """The one write: raises ``NeedsLocks`` when it applied nothing."""
        if self._ledger is None or self._seen is not None:
            return  # nothing recorded, or a copy answered from the read
        guarded = self._payment is not None
        key = (guarded, *(w.key for w in self._writes))
        text = self._texts.get(key)
        if text is None:
            lead = [_LOCKED, _INSERT_IF_LOCKED] if guarded else [_INSERT]
            params = _LEDGER_PARAMS + (2 if guarded else 0)
            text = self._texts[key] = compose(
                self._writes, self._counts, _APPLIED, params, lead=lead, ok=_IF_INSERTED
            )
        guard = [self._payment.id, self._row_version] if self._payment is not None else []
        try:
            applied = await self._raw.fetchval(text, *self._ledger, *guard, *self._args)
        except _LOST as exc:
            raise NeedsLocks(type(exc).__name__) from None
        if not applied:
            raise NeedsLocks("the payment changed or a copy of the event got in first")
