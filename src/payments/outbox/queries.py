"""The outbox's SQL (Core only, the same statements on PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.db.tables import order_state_diffs as diffs
from payments.adapters.db.timestamps import as_utc
from payments.outbox.message import OutboxMessage

_earlier = diffs.alias("earlier")


def due_heads(now: datetime, limit: int, *, skip_orders: Collection[str] = ()) -> Select[tuple[object, ...]]:
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


async def claim_due(
    conn: AsyncConnection,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    skip_orders: Collection[str] = (),
) -> list[OutboxMessage]:
    """Take the due heads for this relay by pushing their next attempt to ``lease_until``.

    Call inside a transaction. On PostgreSQL the rows are locked with SKIP LOCKED, so relays running
    side by side each take different rows and none waits on another; once committed, the lease keeps the
    rows from being due for anyone else while this relay sends. SQLite's BEGIN IMMEDIATE already makes
    one claim at a time.
    """
    stmt = due_heads(now, limit, skip_orders=skip_orders)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=diffs)
    rows = (await conn.execute(stmt)).mappings().all()
    messages = [OutboxMessage.from_row(row) for row in rows]
    if messages:
        await conn.execute(
            update(diffs)
            .where(diffs.c.id.in_([m.id for m in messages]), diffs.c.delivered_at.is_(None))
            .values(next_attempt_at=lease_until)
        )
    return messages


async def mark_delivered(conn: AsyncConnection, message_id: str, now: datetime) -> bool:
    result = await conn.execute(
        update(diffs)
        .where(diffs.c.id == message_id, diffs.c.delivered_at.is_(None))
        .values(delivered_at=now, last_error=None)
    )
    return result.rowcount == 1


async def mark_failed(conn: AsyncConnection, message_id: str, error: str, next_attempt_at: datetime) -> None:
    await conn.execute(
        update(diffs)
        .where(diffs.c.id == message_id, diffs.c.delivered_at.is_(None))
        .values(attempts=diffs.c.attempts + 1, last_error=error[:500], next_attempt_at=next_attempt_at)
    )


async def list_pending(engine: AsyncEngine, *, limit: int | None = None) -> list[OutboxMessage]:
    """Every diff not yet delivered to Orders, oldest first, each order's diffs in seq order."""
    stmt = (
        select(diffs)
        .where(diffs.c.delivered_at.is_(None))
        .order_by(diffs.c.at, diffs.c.order_id, diffs.c.seq)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [OutboxMessage.from_row(row) for row in rows]


async def count_pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(diffs).where(diffs.c.delivered_at.is_(None))
        )
    return int(count or 0)


async def retry_now(
    engine: AsyncEngine, message_id: str | None = None, *, now: datetime | None = None
) -> int:
    """Make one undelivered message (or all of them) due now; returns how many rows changed.

    Order is still kept: a message made due waits for the earlier diffs of its order all the same. A
    message a relay is sending at that moment may be sent twice, which Orders' idempotency absorbs.
    """
    due = as_utc(now) if now is not None else datetime.now(UTC)
    stmt = update(diffs).where(diffs.c.delivered_at.is_(None)).values(next_attempt_at=due)
    if message_id is not None:
        stmt = stmt.where(diffs.c.id == message_id)
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return int(result.rowcount)
