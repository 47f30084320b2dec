"""The console's landing page: every queue a person may have to look at, its size and its oldest item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.db.referral_tables import referral_commissions
from payments.adapters.db.tables import order_state_diffs, payments, refunds, stripe_events
from payments.adapters.db.timestamps import as_utc
from payments.domain.commission import CommissionStatus
from payments.domain.payment_state import PaymentStatus
from payments.records import REQUESTED

SHOWN = 25  # rows listed per queue; the count and the oldest are over all of them

REVIEW = "review"
EVENTS = "events"
OUTBOX = "outbox"
HELD = "held"
REFUNDS = "refunds"


@dataclass(frozen=True, slots=True)
class Queue:
    key: str
    title: str
    count: int
    oldest_at: datetime | None
    items: tuple[dict[str, Any], ...]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))


@dataclass(frozen=True, slots=True)
class Attention:
    queues: tuple[Queue, ...]
    last_outbox_error: str | None

    def queue(self, key: str) -> Queue:
        return next(q for q in self.queues if q.key == key)


async def needs_attention(engine: AsyncEngine) -> Attention:
    async with engine.connect() as conn:
        queues = (
            await _queue(
                conn,
                REVIEW,
                "Payments to review",
                payments,
                payments.c.status == PaymentStatus.NEEDS_REVIEW.value,
                payments.c.updated_at,
                [
                    payments.c.id,
                    payments.c.order_id,
                    payments.c.amount,
                    payments.c.currency,
                    payments.c.facts,
                ],
            ),
            await _queue(
                conn,
                EVENTS,
                "Stripe events failed or deferred",
                stripe_events,
                stripe_events.c.status.in_(["failed", "deferred"]),
                stripe_events.c.received_at,
                [
                    stripe_events.c.id,
                    stripe_events.c.type,
                    stripe_events.c.status,
                    stripe_events.c.attempts,
                    stripe_events.c.last_error,
                    stripe_events.c.payment_id,
                ],
            ),
            await _queue(
                conn,
                OUTBOX,
                "Order updates not delivered to Orders",
                order_state_diffs,
                order_state_diffs.c.delivered_at.is_(None),
                order_state_diffs.c.at,
                [
                    order_state_diffs.c.id,
                    order_state_diffs.c.order_id,
                    order_state_diffs.c.seq,
                    order_state_diffs.c.from_state,
                    order_state_diffs.c.to_state,
                    order_state_diffs.c.attempts,
                    order_state_diffs.c.last_error,
                    order_state_diffs.c.next_attempt_at,
                ],
            ),
            await _queue(
                conn,
                HELD,
                "Commissions held",
                referral_commissions,
                referral_commissions.c.status == CommissionStatus.HELD.value,
                referral_commissions.c.updated_at,
                [
                    referral_commissions.c.id,
                    referral_commissions.c.referrer_id,
                    referral_commissions.c.order_id,
                    referral_commissions.c.amount,
                    referral_commissions.c.currency,
                    referral_commissions.c.reason,
                    referral_commissions.c.status_before_hold,
                ],
            ),
            await _queue(
                conn,
                REFUNDS,
                "Refunds reserved, not confirmed by Stripe",
                refunds,
                refunds.c.status == REQUESTED,
                refunds.c.created_at,
                [
                    refunds.c.id,
                    refunds.c.payment_id,
                    refunds.c.amount,
                    refunds.c.currency,
                    refunds.c.last_error,
                ],
            ),
        )
        last_error = await conn.scalar(
            select(order_state_diffs.c.last_error)
            .where(order_state_diffs.c.delivered_at.is_(None), order_state_diffs.c.last_error.is_not(None))
            .order_by(order_state_diffs.c.next_attempt_at.desc())
            .limit(1)
        )
    return Attention(queues, last_error)


async def _queue(
    conn: AsyncConnection,
    key: str,
    title: str,
    table: Table,
    where: ColumnElement[bool],
    age: Any,
    columns: list[Any],
) -> Queue:
    count, oldest = (
        await conn.execute(select(func.count(), func.min(age)).select_from(table).where(where))
    ).one()
    query: Select[Any] = select(*columns, age.label("since")).where(where).order_by(age).limit(SHOWN)
    items = tuple(dict(row) for row in (await conn.execute(query)).mappings())
    for item in items:
        item["since"] = as_utc(item["since"])
    return Queue(key, title, int(count), as_utc(oldest) if oldest is not None else None, items)
