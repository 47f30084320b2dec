"""Order state diffs: appended with the payment change that caused them, read as the order's history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.tables import order_state_diffs
from payments.domain.state_diff import StateDiff
from payments.ids import new_id

_APPEND = insert(order_state_diffs).values(
    {
        name: bindparam(name)
        for name in (
            "id",
            "order_id",
            "seq",
            "payment_id",
            "from_state",
            "to_state",
            "amount_paid",
            "amount_refunded",
            "currency",
            "cause_event_id",
            "cause_event_type",
            "at",
            "next_attempt_at",
            "attempts",
        )
    }
)


async def append(conn: AsyncConnection, diff: StateDiff, seq: int, now: datetime) -> str:
    """``seq`` comes from the payment row the caller holds locked (one payment per order)."""
    message_id = new_id("msg")
    await conn.execute(
        _APPEND,
        {
            "id": message_id,
            "order_id": diff.order_id,
            "seq": seq,
            "payment_id": diff.payment_id,
            "from_state": diff.from_state.value,
            "to_state": diff.to_state.value,
            "amount_paid": diff.amount_paid,
            "amount_refunded": diff.amount_refunded,
            "currency": diff.currency,
            "cause_event_id": diff.cause.event_id,
            "cause_event_type": diff.cause.event_type,
            "at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
    )
    return message_id


async def history(conn: AsyncConnection, order_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(
            order_state_diffs.c.seq,
            order_state_diffs.c.from_state,
            order_state_diffs.c.to_state,
            order_state_diffs.c.amount_paid,
            order_state_diffs.c.amount_refunded,
            order_state_diffs.c.currency,
            order_state_diffs.c.cause_event_id,
            order_state_diffs.c.cause_event_type,
            order_state_diffs.c.at,
        )
        .where(order_state_diffs.c.order_id == order_id)
        .order_by(order_state_diffs.c.seq)
    )
    return [dict(r._mapping) for r in rows]


async def last_for_order(conn: AsyncConnection, order_id: str) -> tuple[int, str] | None:
    """The order's newest diff as (seq, to_state): where the next diff of the order chains from."""
    row = (
        await conn.execute(
            select(order_state_diffs.c.seq, order_state_diffs.c.to_state)
            .where(order_state_diffs.c.order_id == order_id)
            .order_by(order_state_diffs.c.seq.desc())
            .limit(1)
        )
    ).first()
    return (int(row[0]), str(row[1])) if row else None
