"""Rows, clock and randomness the outbox tests drive the relay with."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import order_state_diffs
from payments.adapters.db.timestamps import as_utc
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.outbox.backlog import OutboxBacklog
from payments.records import OutboxMessage
from tests.support.clock import NOW


class FakeClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class MaxRandom(random.Random):
    """Full jitter always drawing the top of its range: backoff becomes predictable in assertions."""

    def uniform(self, a: float, b: float) -> float:
        return b


def diff_row(
    order_id: str, seq: int, *, at: datetime = NOW, due: datetime = NOW, **extra: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"osd_{order_id}_{seq}",
        "order_id": order_id,
        "seq": seq,
        "payment_id": f"pay_{order_id}",
        "from_state": "pending",
        "to_state": "paid",
        "amount_paid": 1000 * seq,
        "amount_refunded": 0,
        "currency": "eur",
        "cause_event_id": f"evt_{order_id}_{seq}",
        "cause_event_type": "checkout.session.completed",
        "at": at + timedelta(seconds=seq),
        "next_attempt_at": due,
    }
    row.update(extra)
    return row


async def insert_diffs(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        # One statement per row: an executemany takes its columns from the first row only.
        for row in rows:
            await conn.execute(insert(order_state_diffs).values(**row))


async def rows_by_id(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(order_state_diffs))).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = dict(row)
        for name in ("at", "next_attempt_at", "delivered_at"):
            if item[name] is not None:
                item[name] = as_utc(item[name])
        out[item["id"]] = item
    return out


async def list_pending(engine: AsyncEngine) -> list[OutboxMessage]:
    return await OutboxBacklog(SqlPaymentStore(engine)).pending()
