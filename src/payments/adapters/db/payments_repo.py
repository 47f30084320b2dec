"""Reading and writing payment rows with Core statements (the webhook hot path runs through here)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.hot_statements import PAYMENT_COLUMNS, payment_of
from payments.adapters.db.tables import payments
from payments.domain.attempts import MAX_ATTEMPTS
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.records import PaymentRecord

# Built once: the statements payment creation runs on every call. Building them per call (30 ``values``
# coerced, the same ``select`` re-made) was a fifth of the CPU a payment cost.
_INSERT = insert(payments)
_LATEST = (
    select(payments)
    .where(payments.c.order_id == bindparam("order_id_"))
    .order_by(payments.c.attempt.desc())
    .limit(1)
)
_LATEST_FOR_UPDATE = _LATEST.with_for_update()
_LINK = update(payments).where(payments.c.id == bindparam("id_")).returning(*payments.c)


async def insert_payment(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_INSERT, values)


# On asyncpg, payment creation's two statements go to the driver directly, prepared (SQLAlchemy's
# execution cost more than the round trip): the first attempt as one insert that the order's history and
# the unique keys can refuse, the link as one UPDATE ... RETURNING.
def _pg_type(name: str) -> str:
    """The column's type for a cast, without its length: a cast to VARCHAR(n) would cut a longer value
    where the column itself refuses it."""
    compiled = str(payments.c[name].type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    return re.sub(r"\(\d+\)", "", compiled)


_FIRST = PaymentRecord.__slots__
_ADD_FIRST = f"""
INSERT INTO payments ({", ".join(_FIRST)})
SELECT {", ".join(f"${n}::{_pg_type(name)}" for n, name in enumerate(_FIRST, start=1))}
WHERE NOT EXISTS (SELECT 1 FROM payments WHERE order_id = ${_FIRST.index("order_id") + 1})
ON CONFLICT DO NOTHING RETURNING 1
"""  # noqa: S608 - our own column names
_LINKS = ("checkout_url", "client_secret", "stripe_checkout_session_id", "stripe_payment_intent_id")
_LINK_RAW = f"""
UPDATE payments SET updated_at = $2, last_error = NULL,
    {", ".join(f"{name} = COALESCE(${n}, {name})" for n, name in enumerate(_LINKS, start=3))}
WHERE id = $1 RETURNING {PAYMENT_COLUMNS}
"""  # noqa: S608


async def _driver(conn: AsyncConnection, raw: Any | None) -> Any | None:
    """The asyncpg connection under ``conn`` (``raw`` when the unit of work holds it already: asking
    SQLAlchemy for it costs a greenlet switch), or None on another driver."""
    if raw is not None:
        return raw
    if conn.dialect.driver != "asyncpg":
        return None
    return (await conn.get_raw_connection()).driver_connection


async def add_first(conn: AsyncConnection, record: PaymentRecord, raw: Any | None = None) -> bool:
    values = {name: getattr(record, name) for name in _FIRST}
    raw = await _driver(conn, raw)
    if raw is not None:
        args = [json.dumps(v) if name == "facts" else v for name, v in values.items()]
        return await raw.fetchval(_ADD_FIRST, *args) is not None
    # SQLite: the transaction's write lock (BEGIN IMMEDIATE) makes the read and the insert one step.
    if await latest_for_order(conn, record.order_id) is not None:
        return False
    try:
        await insert_payment(conn, values)
    except IntegrityError:
        return False
    return True


async def _one(conn: AsyncConnection, where: Any, *, for_update: bool = False) -> PaymentRecord | None:
    stmt = select(payments).where(where)
    if for_update:
        # A no-op on SQLite, where the BEGIN IMMEDIATE transaction already holds the write lock.
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return PaymentRecord.from_row(row) if row else None


async def get(conn: AsyncConnection, payment_id: str, *, for_update: bool = False) -> PaymentRecord | None:
    return await _one(conn, payments.c.id == payment_id, for_update=for_update)


async def latest_for_order(
    conn: AsyncConnection, order_id: str, *, for_update: bool = False
) -> PaymentRecord | None:
    """The order's newest attempt (the one Orders follows)."""
    stmt = _LATEST_FOR_UPDATE if for_update else _LATEST
    row = (await conn.execute(stmt, {"order_id_": order_id})).mappings().first()
    return PaymentRecord.from_row(row) if row else None


# No order has more (domain/attempts.py refuses the next); the bound is the listing's second guard.
MAX_LISTED_ATTEMPTS = MAX_ATTEMPTS


async def list_for_order(conn: AsyncConnection, order_id: str) -> list[PaymentRecord]:
    rows = await conn.execute(
        select(payments)
        .where(payments.c.order_id == order_id)
        .order_by(payments.c.attempt)
        .limit(MAX_LISTED_ATTEMPTS)
    )
    return [PaymentRecord.from_row(r) for r in rows.mappings()]


async def mark_superseded(conn: AsyncConnection, payment_id: str, now: datetime) -> None:
    await conn.execute(
        update(payments).where(payments.c.id == payment_id).values(superseded=True, updated_at=now)
    )


async def set_diff_seq(conn: AsyncConnection, payment_id: str, diff_seq: int) -> None:
    await conn.execute(update(payments).where(payments.c.id == payment_id).values(diff_seq=diff_seq))


async def save_checkout_window(
    conn: AsyncConnection,
    record: PaymentRecord,
    *,
    expires_at: datetime,
    generation: int,
    now: datetime,
) -> bool:
    """Store a fresh window unless a concurrent retry stored another first (then the caller re-reads)."""
    current = payments.c.stripe_expires_at
    result = await conn.execute(
        update(payments)
        .where(
            payments.c.id == record.id,
            payments.c.stripe_key_generation == record.stripe_key_generation,
            # Each fresh window after the first takes a new generation, so the pair names one window.
            current.is_(None) if record.stripe_expires_at is None else current.is_not(None),
        )
        .values(stripe_expires_at=expires_at, stripe_key_generation=generation, updated_at=now)
    )
    return bool(result.rowcount)


async def get_by_idempotency_key(conn: AsyncConnection, key: str) -> PaymentRecord | None:
    return await _one(conn, payments.c.idempotency_key == key)


# Built once: the webhook path runs these for every event, and a prebuilt statement skips SQLAlchemy's
# per-call construction and cache-key work. A NULL parameter simply matches nothing.
_FIND_BY_REFS = (
    select(payments)
    .where(
        or_(
            payments.c.id == bindparam("payment_id"),
            payments.c.stripe_checkout_session_id == bindparam("session_id"),
            payments.c.stripe_payment_intent_id == bindparam("payment_intent_id"),
            payments.c.stripe_charge_id == bindparam("charge_id"),
        )
    )
    .limit(1)
    .with_for_update()
)


async def find_for_stripe_refs(
    conn: AsyncConnection,
    *,
    payment_id: str | None = None,
    session_id: str | None = None,
    payment_intent_id: str | None = None,
    charge_id: str | None = None,
) -> PaymentRecord | None:
    """The payment an event belongs to, by our own id or any Stripe id, locked."""
    if not (payment_id or session_id or payment_intent_id or charge_id):
        return None
    row = (
        (
            await conn.execute(
                _FIND_BY_REFS,
                {
                    "payment_id": payment_id,
                    "session_id": session_id,
                    "payment_intent_id": payment_intent_id,
                    "charge_id": charge_id,
                },
            )
        )
        .mappings()
        .first()
    )
    return PaymentRecord.from_row(row) if row else None


async def save_stripe_link(
    conn: AsyncConnection,
    payment_id: str,
    now: datetime,
    links: Mapping[str, str | None],
    raw: Any | None = None,
) -> PaymentRecord | None:
    """One ``UPDATE ... RETURNING``: the row lock, the write and the re-read in one round trip."""
    values = {k: v for k, v in links.items() if v}
    if not values.keys() <= set(_LINKS):
        raise ValueError(f"not a Stripe link: {sorted(values.keys() - set(_LINKS))}")
    raw = await _driver(conn, raw)
    if raw is not None:
        found = await raw.fetchrow(_LINK_RAW, payment_id, now, *(values.get(name) for name in _LINKS))
        return payment_of(found) if found is not None else None
    params = {"id_": payment_id, "updated_at": now, "last_error": None, **values}
    row = (await conn.execute(_LINK, params)).mappings().first()
    return PaymentRecord.from_row(row) if row else None


async def save_error(conn: AsyncConnection, payment_id: str, now: datetime, error: str) -> None:
    await conn.execute(
        update(payments).where(payments.c.id == payment_id).values(updated_at=now, last_error=error[:500])
    )


_SAVE_STATE = (
    update(payments)
    .where(payments.c.id == bindparam("p_id"))
    .values(
        facts=bindparam("p_facts"),
        status=bindparam("p_status"),
        amount_refunded=bindparam("p_amount_refunded"),
        version=bindparam("p_version"),
        diff_seq=bindparam("p_diff_seq"),
        updated_at=bindparam("p_updated_at"),
        # A Stripe id is learned once and never replaced.
        stripe_checkout_session_id=func.coalesce(
            payments.c.stripe_checkout_session_id, bindparam("p_session")
        ),
        stripe_payment_intent_id=func.coalesce(payments.c.stripe_payment_intent_id, bindparam("p_intent")),
        stripe_charge_id=func.coalesce(payments.c.stripe_charge_id, bindparam("p_charge")),
    )
)


async def save_state(
    conn: AsyncConnection,
    record: PaymentRecord,
    *,
    facts: PaymentFacts,
    status: PaymentStatus,
    amount_refunded: int,
    now: datetime,
    links: dict[str, str],
    diff_seq: int,
) -> None:
    await conn.execute(
        _SAVE_STATE,
        {
            "p_id": record.id,
            "p_facts": facts.to_json(),
            "p_status": status.value,
            "p_amount_refunded": amount_refunded,
            "p_version": record.version + 1,
            "p_diff_seq": diff_seq,
            "p_updated_at": now,
            "p_session": links.get("stripe_checkout_session_id"),
            "p_intent": links.get("stripe_payment_intent_id"),
            "p_charge": links.get("stripe_charge_id"),
        },
    )


async def get_by_checkout_session(conn: AsyncConnection, session_id: str) -> PaymentRecord | None:
    return await _one(conn, payments.c.stripe_checkout_session_id == session_id)


async def count_with_status(conn: AsyncConnection, status: PaymentStatus) -> int:
    count = await conn.scalar(
        select(func.count()).select_from(payments).where(payments.c.status == status.value)
    )
    return int(count or 0)
