"""The outbox's SQL over ``order_state_diffs`` (Core only, the same statements on PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, and_, exists, func, select, update

from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.tables import order_state_diffs as diffs
from payments.adapters.db.timestamps import as_utc, as_utc_or_none
from payments.records import OutboxMessage

_earlier = diffs.alias("earlier")


def due_heads(now: datetime, limit: int, *, skip_orders: Collection[str] = ()) -> Select[tuple[Any, ...]]:
    """The first undelivered diff of each order, when it is due.

    A later diff of an order waits for every earlier one to be delivered, so Orders sees each order's
    history in seq order even when an earlier diff keeps failing.
    """
    earlier_pending = exists().where(
        and_(
            _earlier.c.order_id == diffs.c.order_id,
            _earlier.c.delivered_at.is_(None),
            _earlier.c.seq < diffs.c.seq,
        )
    )
    stmt = (
        select(diffs)
        .where(diffs.c.delivered_at.is_(None), diffs.c.next_attempt_at <= now, ~earlier_pending)
        .order_by(diffs.c.next_attempt_at, diffs.c.at, diffs.c.order_id, diffs.c.seq)
        .limit(limit)
    )
    if skip_orders:
        stmt = stmt.where(diffs.c.order_id.not_in(list(skip_orders)))
    return stmt


def _message(row: RowMapping) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        order_id=row["order_id"],
        seq=int(row["seq"]),
        payment_id=row["payment_id"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        amount_paid=int(row["amount_paid"]),
        amount_refunded=int(row["amount_refunded"]),
        currency=row["currency"],
        cause_event_id=row["cause_event_id"],
        cause_event_type=row["cause_event_type"],
        at=as_utc(row["at"]),
        next_attempt_at=as_utc(row["next_attempt_at"]),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        delivered_at=as_utc_or_none(row["delivered_at"]),
    )


class SqlOutboxRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, *, skip_orders: Collection[str] = ()
    ) -> list[OutboxMessage]:
        # On PostgreSQL the rows are locked with SKIP LOCKED, so relays running side by side each take
        # different rows and none waits on another; once committed, the lease keeps the rows from being
        # due for anyone else while this relay sends. SQLite's BEGIN IMMEDIATE already makes one claim at
        # a time.
        conn = await self._connection()
        stmt = due_heads(now, limit, skip_orders=skip_orders)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=diffs)
        messages = [_message(row) for row in (await conn.execute(stmt)).mappings().all()]
        if messages:
            await conn.execute(
                update(diffs)
                .where(diffs.c.id.in_([m.id for m in messages]), diffs.c.delivered_at.is_(None))
                .values(next_attempt_at=lease_until)
            )
        return messages

    async def mark_delivered(self, message_id: str, now: datetime) -> bool:
        result = await (await self._connection()).execute(
            update(diffs)
            .where(diffs.c.id == message_id, diffs.c.delivered_at.is_(None))
            .values(delivered_at=now, last_error=None)
        )
        return result.rowcount == 1

    async def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        await (await self._connection()).execute(
            update(diffs)
            .where(diffs.c.id == message_id, diffs.c.delivered_at.is_(None))
            .values(attempts=diffs.c.attempts + 1, last_error=error[:500], next_attempt_at=next_attempt_at)
        )

    async def pending(self, *, limit: int | None = None) -> list[OutboxMessage]:
        stmt = (
            select(diffs)
            .where(diffs.c.delivered_at.is_(None))
            .order_by(diffs.c.at, diffs.c.order_id, diffs.c.seq)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = (await (await self._connection()).execute(stmt)).mappings().all()
        return [_message(row) for row in rows]

    async def count_pending(self) -> int:
        count = await (await self._connection()).scalar(
            select(func.count()).select_from(diffs).where(diffs.c.delivered_at.is_(None))
        )
        return int(count or 0)

    async def make_due(self, now: datetime, message_id: str | None = None) -> int:
        stmt = update(diffs).where(diffs.c.delivered_at.is_(None)).values(next_attempt_at=as_utc(now))
        if message_id is not None:
            stmt = stmt.where(diffs.c.id == message_id)
        result = await (await self._connection()).execute(stmt)
        return int(result.rowcount)

    async def last_error(self) -> str | None:
        error = await (await self._connection()).scalar(
            select(diffs.c.last_error)
            .where(diffs.c.delivered_at.is_(None), diffs.c.last_error.is_not(None))
            .order_by(diffs.c.next_attempt_at.desc())
            .limit(1)
        )
        return str(error) if error is not None else None
