"""The operator console's read model: queue sizes and heads, and what a payment's file is made of."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, func, or_, select

from payments.adapters.db import events_repo
from payments.adapters.db.referral_tables import referral_commissions
from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.tables import order_state_diffs, payments, refunds, stripe_events
from payments.adapters.db.timestamps import as_utc_or_none
from payments.domain.commission import CommissionStatus
from payments.domain.payment_state import PaymentStatus
from payments.records import REQUESTED, PaymentRecord, QueueRows


def _utc(item: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        value = item.get(name)
        if isinstance(value, datetime) or value is None:
            item[name] = as_utc_or_none(value)
    return item


class SqlOperatorReads:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def _queue(
        self, table: Table, where: ColumnElement[bool], age: Any, columns: list[Any], shown: int
    ) -> QueueRows:
        conn = await self._connection()
        count, oldest = (
            await conn.execute(select(func.count(), func.min(age)).select_from(table).where(where))
        ).one()
        query: Select[Any] = select(*columns, age.label("since")).where(where).order_by(age).limit(shown)
        items = tuple(_utc(dict(row), "since") for row in (await conn.execute(query)).mappings())
        return QueueRows(int(count), as_utc_or_none(oldest), items)

    async def payments_to_review(self, shown: int) -> QueueRows:
        return await self._queue(
            payments,
            payments.c.status == PaymentStatus.NEEDS_REVIEW.value,
            payments.c.updated_at,
            [payments.c.id, payments.c.order_id, payments.c.amount, payments.c.currency, payments.c.facts],
            shown,
        )

    async def events_needing_look(self, shown: int) -> QueueRows:
        e = stripe_events.c
        return await self._queue(
            stripe_events,
            events_repo.needs_look(),
            e.received_at,
            [e.id, e.type, e.status, e.attempts, e.last_error, e.payment_id],
            shown,
        )

    async def undelivered_diffs(self, shown: int) -> QueueRows:
        d = order_state_diffs.c
        return await self._queue(
            order_state_diffs,
            d.delivered_at.is_(None),
            d.at,
            [d.id, d.order_id, d.seq, d.from_state, d.to_state, d.attempts, d.last_error, d.next_attempt_at],
            shown,
        )

    async def held_commissions(self, shown: int) -> QueueRows:
        c = referral_commissions.c
        return await self._queue(
            referral_commissions,
            c.status == CommissionStatus.HELD.value,
            c.updated_at,
            [c.id, c.referrer_id, c.order_id, c.amount, c.currency, c.reason, c.status_before_hold],
            shown,
        )

    async def unconfirmed_refunds(self, shown: int) -> QueueRows:
        r = refunds.c
        return await self._queue(
            refunds,
            r.status == REQUESTED,
            r.created_at,
            [r.id, r.payment_id, r.amount, r.currency, r.last_error],
            shown,
        )

    async def payment_matching(self, needle: str) -> PaymentRecord | None:
        conn = await self._connection()
        p = payments.c
        row = (
            (
                await conn.execute(
                    select(payments)
                    .where(
                        or_(
                            p.id == needle,
                            p.order_id == needle,
                            p.stripe_checkout_session_id == needle,
                            p.stripe_payment_intent_id == needle,
                            p.stripe_charge_id == needle,
                        )
                    )
                    .order_by(p.created_at.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            payment_id = await conn.scalar(
                # Ours (rf_…, what the unconfirmed-refunds queue shows) or Stripe's (re_…).
                select(refunds.c.payment_id)
                .where(or_(refunds.c.id == needle, refunds.c.stripe_refund_id == needle))
                .limit(1)
            ) or await conn.scalar(
                select(stripe_events.c.payment_id).where(stripe_events.c.id == needle).limit(1)
            )
            if payment_id is None:
                return None
            row = (await conn.execute(select(payments).where(p.id == payment_id))).mappings().first()
        return PaymentRecord.from_row(row) if row is not None else None

    async def attempts_of(self, order_id: str) -> list[PaymentRecord]:
        rows = await (await self._connection()).execute(
            select(payments)
            .where(payments.c.order_id == order_id)
            .order_by(payments.c.created_at, payments.c.id)
        )
        return [PaymentRecord.from_row(row) for row in rows.mappings()]

    async def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        r = refunds.c
        rows = await (await self._connection()).execute(
            select(r.id, r.amount, r.currency, r.status, r.source, r.stripe_refund_id, r.created_at)
            .where(r.payment_id == payment_id)
            .order_by(r.created_at)
        )
        return [_utc(dict(row), "created_at") for row in rows.mappings()]

    async def events_of(self, payment_id: str, limit: int) -> list[dict[str, Any]]:
        e = stripe_events.c
        rows = await (await self._connection()).execute(
            select(e.id, e.type, e.status, e.attempts, e.last_error, e.received_at, e.processed_at)
            .where(e.payment_id == payment_id)
            .order_by(e.received_at, e.stripe_created)
            .limit(limit)
        )
        return [_utc(dict(row), "received_at", "processed_at") for row in rows.mappings()]
