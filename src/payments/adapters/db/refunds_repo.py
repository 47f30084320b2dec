"""Refund rows: ours (requested through the API) and the dashboard's (learned from webhooks)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.tables import refunds
from payments.domain.payment_state import RefundStatus
from payments.ids import new_id
from payments.records import REQUESTED, STATUS_RANK, RefundRecord


async def get(conn: AsyncConnection, refund_id: str) -> RefundRecord | None:
    row = (await conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()
    return RefundRecord.from_row(row) if row else None


async def by_idempotency_key(conn: AsyncConnection, payment_id: str, key: str) -> RefundRecord | None:
    row = (
        await conn.execute(
            select(refunds).where(refunds.c.payment_id == payment_id, refunds.c.idempotency_key == key)
        )
    ).first()
    return RefundRecord.from_row(row) if row else None


async def reserved_amount(conn: AsyncConnection, payment_id: str) -> int:
    total = await conn.scalar(
        select(func.coalesce(func.sum(refunds.c.amount), 0)).where(
            refunds.c.payment_id == payment_id, refunds.c.status != RefundStatus.FAILED.value
        )
    )
    return int(total or 0)


async def insert_requested(
    conn: AsyncConnection,
    *,
    payment_id: str,
    amount: int,
    currency: str,
    reason: str | None,
    idempotency_key: str | None,
    now: datetime,
) -> RefundRecord:
    refund_id = new_id("rf")
    await conn.execute(
        insert(refunds).values(
            id=refund_id,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            status=REQUESTED,
            reason=reason,
            source="api",
            idempotency_key=idempotency_key,
            created_at=now,
            updated_at=now,
        )
    )
    record = await get(conn, refund_id)
    assert record is not None
    return record


async def requested_before(conn: AsyncConnection, cutoff: datetime) -> list[RefundRecord]:
    rows = await conn.execute(
        select(refunds)
        .where(refunds.c.status == REQUESTED, refunds.c.created_at < cutoff)
        .order_by(refunds.c.created_at, refunds.c.id)  # oldest first, the order they were asked in
        .limit(100)
    )
    return [RefundRecord.from_row(r) for r in rows]


async def record_seen(
    conn: AsyncConnection,
    *,
    payment_id: str,
    stripe_refund_id: str,
    our_refund_id: str | None,
    amount: int,
    currency: str,
    status: str,
    reason: str | None,
    now: datetime,
    error: str | None = None,
) -> None:
    """Upsert by our id (from the refund's metadata) or Stripe's; status never moves back."""
    clauses = [refunds.c.stripe_refund_id == stripe_refund_id]
    if our_refund_id:
        clauses.append(refunds.c.id == our_refund_id)
    row = (await conn.execute(select(refunds.c.id, refunds.c.status).where(or_(*clauses)))).first()
    if row is None:
        await conn.execute(
            insert(refunds).values(
                id=new_id("rf"),
                payment_id=payment_id,
                amount=amount,
                currency=currency,
                status=status,
                reason=reason,
                source="dashboard",
                stripe_refund_id=stripe_refund_id,
                created_at=now,
                updated_at=now,
            )
        )
        return
    new_status = status if STATUS_RANK[status] > STATUS_RANK.get(row.status, 0) else row.status
    await conn.execute(
        update(refunds)
        .where(refunds.c.id == row.id)
        .values(
            stripe_refund_id=stripe_refund_id,
            status=new_status,
            updated_at=now,
            last_error=error if error else refunds.c.last_error,
        )
    )


async def mark_failed(conn: AsyncConnection, refund_id: str, error: str, now: datetime) -> None:
    await conn.execute(
        update(refunds)
        .where(refunds.c.id == refund_id)
        .values(status=RefundStatus.FAILED.value, last_error=error[:500], updated_at=now)
    )
