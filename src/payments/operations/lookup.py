"""A payment's whole file for a person: its order's attempts, refunds, disputes, history and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import diffs_repo
from payments.adapters.db.tables import payments, refunds, stripe_events
from payments.adapters.db.timestamps import as_utc_or_none
from payments.domain.payment_state import DisputePhase, PaymentFacts
from payments.records import PaymentRecord

MAX_QUERY = 255
MAX_EVENTS = 200


@dataclass(frozen=True, slots=True)
class Attempt:
    payment: PaymentRecord
    facts: PaymentFacts
    refunds: tuple[dict[str, Any], ...]
    disputes: tuple[tuple[str, DisputePhase], ...]
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PaymentFile:
    order_id: str
    matched_payment_id: str
    attempts: tuple[Attempt, ...]  # oldest first
    history: tuple[dict[str, Any], ...]


async def find_payment(engine: AsyncEngine, query: str) -> PaymentFile | None:
    """By our payment id, the order id, or a Stripe id (session, PaymentIntent, charge, refund, event)."""
    needle = query.strip()
    if not needle or len(needle) > MAX_QUERY:
        return None
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(payments)
                    .where(
                        or_(
                            payments.c.id == needle,
                            payments.c.order_id == needle,
                            payments.c.stripe_checkout_session_id == needle,
                            payments.c.stripe_payment_intent_id == needle,
                            payments.c.stripe_charge_id == needle,
                        )
                    )
                    .order_by(payments.c.created_at.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            payment_id = await conn.scalar(
                select(refunds.c.payment_id).where(refunds.c.stripe_refund_id == needle).limit(1)
            ) or await conn.scalar(
                select(stripe_events.c.payment_id).where(stripe_events.c.id == needle).limit(1)
            )
            if payment_id is None:
                return None
            row = (await conn.execute(select(payments).where(payments.c.id == payment_id))).mappings().first()
            if row is None:
                return None
        matched = PaymentRecord.from_row(row)
        rows = (
            (
                await conn.execute(
                    select(payments)
                    .where(payments.c.order_id == matched.order_id)
                    .order_by(payments.c.created_at, payments.c.id)
                )
            )
            .mappings()
            .all()
        )
        attempts = []
        for attempt_row in rows:
            record = PaymentRecord.from_row(attempt_row)
            facts = PaymentFacts.from_json(record.facts)
            refund_rows = (
                await conn.execute(
                    select(
                        refunds.c.id,
                        refunds.c.amount,
                        refunds.c.currency,
                        refunds.c.status,
                        refunds.c.source,
                        refunds.c.stripe_refund_id,
                        refunds.c.created_at,
                    )
                    .where(refunds.c.payment_id == record.id)
                    .order_by(refunds.c.created_at)
                )
            ).mappings()
            event_rows = (
                await conn.execute(
                    select(
                        stripe_events.c.id,
                        stripe_events.c.type,
                        stripe_events.c.status,
                        stripe_events.c.attempts,
                        stripe_events.c.last_error,
                        stripe_events.c.received_at,
                        stripe_events.c.processed_at,
                    )
                    .where(stripe_events.c.payment_id == record.id)
                    .order_by(stripe_events.c.received_at, stripe_events.c.stripe_created)
                    .limit(MAX_EVENTS)
                )
            ).mappings()
            attempts.append(
                Attempt(
                    payment=record,
                    facts=facts,
                    refunds=tuple(_utc(dict(r), "created_at") for r in refund_rows),
                    disputes=tuple(sorted(facts.disputes.items())),
                    events=tuple(_utc(dict(e), "received_at", "processed_at") for e in event_rows),
                )
            )
        history = tuple(_utc(h, "at") for h in await diffs_repo.history(conn, matched.order_id))
    return PaymentFile(matched.order_id, matched.id, tuple(attempts), history)


def _utc(item: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        value = item.get(name)
        item[name] = as_utc_or_none(value) if isinstance(value, datetime) or value is None else value
    return item


__all__ = ["Attempt", "PaymentFile", "find_payment"]
