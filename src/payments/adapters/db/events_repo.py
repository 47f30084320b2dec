"""The Stripe event ledger: one row per event id, written before processing (dj-stripe's model)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.tables import payments, stripe_events
from payments.adapters.db.timestamps import as_utc
from payments.records import NEEDING_LOOK, SETTLED, EventNeedingLook, EventStatus, IncomingEvent, StoredEvent

_RECORD_COLUMNS = (
    "id",
    "type",
    "livemode",
    "api_version",
    "stripe_created",
    "payload",
    "status",
    "attempts",
    "received_at",
    "processed_at",
    "payment_id",
)
_RECORD: dict[str, Any] = {}


def _record_statement(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, built once per dialect (hot path)."""
    if dialect not in _RECORD:
        values: dict[str, Any] = {name: bindparam(name) for name in _RECORD_COLUMNS}
        insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
        _RECORD[dialect] = (
            insert_(stripe_events).values(**values).on_conflict_do_nothing().returning(stripe_events.c.id)
        )
    return _RECORD[dialect]


async def record(
    conn: AsyncConnection,
    event: IncomingEvent,
    now: datetime,
    *,
    status: EventStatus = EventStatus.PROCESSED,
    payment_id: str | None = None,
) -> bool:
    """Store the event if it is new; True when this call inserted it.

    Inserted as already processed, inside the transaction that applies its effects: the row commits with
    them or not at all, and a concurrent delivery of the same id waits on the primary key until then.
    """
    params = {
        "id": event.id,
        "type": event.type,
        "livemode": event.livemode,
        "api_version": event.api_version,
        "stripe_created": event.created,
        "payload": event.payload,
        "status": status.value,
        "attempts": 1,
        "received_at": now,
        "processed_at": now,
        "payment_id": payment_id,
    }
    return (await conn.execute(_record_statement(conn.dialect.name), params)).first() is not None


async def status_of(conn: AsyncConnection, event_id: str, *, for_update: bool = False) -> EventStatus | None:
    stmt = select(stripe_events.c.status).where(stripe_events.c.id == event_id)
    if for_update:
        stmt = stmt.with_for_update()
    value = await conn.scalar(stmt)
    return EventStatus(value) if value is not None else None


async def get(conn: AsyncConnection, event_id: str) -> StoredEvent | None:
    row = (
        await conn.execute(
            select(
                stripe_events.c.id,
                stripe_events.c.type,
                stripe_events.c.status,
                stripe_events.c.payload,
                stripe_events.c.attempts,
            ).where(stripe_events.c.id == event_id)
        )
    ).first()
    if row is None:
        return None
    return StoredEvent(
        id=row.id, type=row.type, status=EventStatus(row.status), payload=row.payload, attempts=row.attempts
    )


async def mark(
    conn: AsyncConnection,
    event_id: str,
    status: EventStatus,
    now: datetime,
    *,
    payment_id: str | None = None,
    ref: str | None = None,
    error: str | None = None,
    new_attempt: bool = True,
) -> None:
    await conn.execute(
        update(stripe_events)
        .where(stripe_events.c.id == event_id)
        .values(
            status=status.value,
            processed_at=now,
            payment_id=payment_id,
            ref=ref,
            last_error=error[:1000] if error else None,
            attempts=stripe_events.c.attempts + (1 if new_attempt else 0),
        )
    )


async def record_failure(conn: AsyncConnection, event: IncomingEvent, now: datetime, error: str) -> None:
    """The handler raised and its transaction rolled back: keep the raw event and the error, replayable."""
    inserted = await record(conn, event, now, status=EventStatus.FAILED)
    await conn.execute(
        update(stripe_events)
        .where(stripe_events.c.id == event.id, stripe_events.c.status.notin_([s.value for s in SETTLED]))
        .values(
            status=EventStatus.FAILED.value,
            last_error=error[:1000],
            processed_at=None,
            attempts=stripe_events.c.attempts + (0 if inserted else 1),
        )
    )


_DEFERRED_FOR = (
    select(
        stripe_events.c.id,
        stripe_events.c.type,
        stripe_events.c.status,
        stripe_events.c.payload,
        stripe_events.c.attempts,
    )
    .where(
        stripe_events.c.status == EventStatus.DEFERRED.value,
        stripe_events.c.ref.in_(bindparam("refs", expanding=True)),
    )
    .order_by(stripe_events.c.stripe_created, stripe_events.c.id)
    .with_for_update(skip_locked=True)
)


async def deferred_for(conn: AsyncConnection, refs: list[str]) -> list[StoredEvent]:
    rows = (await conn.execute(_DEFERRED_FOR, {"refs": refs})).all()
    return [
        StoredEvent(
            id=r.id, type=r.type, status=EventStatus(r.status), payload=r.payload, attempts=r.attempts
        )
        for r in rows
    ]


async def linked_deferred(conn: AsyncConnection, since: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(ref, payment id) for recent deferred events whose payment is now known: one query per sweep.

    Only recent ones: the race the sweep covers lasts milliseconds, and events about payments that are
    not ours (another product on the same Stripe account) stay deferred for good without being re-read.
    """
    rows = await conn.execute(
        select(stripe_events.c.ref, payments.c.id)
        .join(
            payments,
            or_(
                payments.c.stripe_payment_intent_id == stripe_events.c.ref,
                payments.c.stripe_charge_id == stripe_events.c.ref,
                payments.c.stripe_checkout_session_id == stripe_events.c.ref,
            ),
        )
        .where(stripe_events.c.status == EventStatus.DEFERRED.value, stripe_events.c.received_at >= since)
        .distinct()
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


def needs_look(statuses: tuple[EventStatus, ...] = NEEDING_LOOK) -> ColumnElement[bool]:
    """Events in these statuses; by default (``NEEDING_LOOK``) also the ignored ones kept with a reason."""
    where: ColumnElement[bool] = stripe_events.c.status.in_([s.value for s in statuses])
    if statuses == NEEDING_LOOK:
        where = or_(where, _IGNORED_FOR_A_REASON)
    return where


_IGNORED_FOR_A_REASON = and_(
    stripe_events.c.status == EventStatus.IGNORED.value, stripe_events.c.last_error.is_not(None)
)


async def needing_look(
    conn: AsyncConnection, statuses: tuple[EventStatus, ...] = NEEDING_LOOK, limit: int = 100
) -> list[EventNeedingLook]:
    """Stored events in these statuses, oldest first."""
    where = needs_look(statuses)
    rows = await conn.execute(
        select(
            stripe_events.c.id,
            stripe_events.c.type,
            stripe_events.c.status,
            stripe_events.c.attempts,
            stripe_events.c.last_error,
            stripe_events.c.received_at,
        )
        .where(where)
        .order_by(stripe_events.c.received_at, stripe_events.c.id)
        .limit(limit)
    )
    return [
        EventNeedingLook(
            id=r.id,
            type=r.type,
            status=EventStatus(r.status),
            attempts=int(r.attempts),
            error=r.last_error,
            received_at=as_utc(r.received_at),
        )
        for r in rows
    ]


async def failed_for_retry(
    conn: AsyncConnection, now: datetime, max_attempts: int, limit: int, spacing: timedelta
) -> list[str]:
    """Failed events worth another automatic try: not too often, and not a livemode mismatch (only a
    configuration change fixes that, and Stripe keeps redelivering it anyway)."""
    # The k-th try waits k * spacing after the first receipt (portable: no interval arithmetic in SQL).
    spaced = or_(
        *(
            and_(stripe_events.c.attempts == k, stripe_events.c.received_at <= now - spacing * k)
            for k in range(1, max_attempts)
        )
    )
    rows = await conn.execute(
        select(stripe_events.c.id)
        .where(
            stripe_events.c.status == EventStatus.FAILED.value,
            spaced,
            or_(
                stripe_events.c.last_error.is_(None),
                stripe_events.c.last_error.not_like("LivemodeMismatch%"),
            ),
        )
        .order_by(stripe_events.c.stripe_created, stripe_events.c.id)
        .limit(limit)
    )
    return [r.id for r in rows]


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    """Drop settled events past retention; failed, deferred and unreadable ones stay for an operator."""
    result = await conn.execute(
        delete(stripe_events).where(
            stripe_events.c.received_at < older_than,
            stripe_events.c.status.in_([EventStatus.PROCESSED.value, EventStatus.IGNORED.value]),
            not_(_IGNORED_FOR_A_REASON),
        )
    )
    return int(result.rowcount or 0)
