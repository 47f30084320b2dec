"""The operator action log: who did what to which id, and what came of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.tables import operator_actions
from payments.adapters.db.timestamps import as_utc
from payments.ids import new_id


@dataclass(frozen=True, slots=True)
class OperatorAction:
    id: str
    at: datetime
    actor: str
    action: str
    subject: str
    outcome: str
    ok: bool


async def record(
    conn: AsyncConnection, *, actor: str, action: str, subject: str, outcome: str, ok: bool, now: datetime
) -> OperatorAction:
    entry = OperatorAction(
        id=new_id("opa"),
        at=as_utc(now),
        actor=actor[:255],
        action=action[:40],
        subject=subject[:255],
        outcome=outcome[:500],
        ok=ok,
    )
    await conn.execute(
        insert(operator_actions).values(
            id=entry.id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            outcome=entry.outcome,
            ok=entry.ok,
        )
    )
    return entry


async def latest(conn: AsyncConnection, action: str) -> OperatorAction | None:
    row = (
        (
            await conn.execute(
                select(operator_actions)
                .where(operator_actions.c.action == action)
                .order_by(operator_actions.c.at.desc(), operator_actions.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return _entry(row) if row else None


async def get(conn: AsyncConnection, entry_id: str) -> OperatorAction | None:
    row = (
        (await conn.execute(select(operator_actions).where(operator_actions.c.id == entry_id)))
        .mappings()
        .first()
    )
    return _entry(row) if row else None


async def recent(conn: AsyncConnection, limit: int = 20) -> list[OperatorAction]:
    rows = await conn.execute(
        select(operator_actions)
        .order_by(operator_actions.c.at.desc(), operator_actions.c.id.desc())
        .limit(limit)
    )
    return [_entry(row) for row in rows.mappings()]


def _entry(row: RowMapping) -> OperatorAction:
    return OperatorAction(
        id=row["id"],
        at=as_utc(row["at"]),
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        outcome=row["outcome"],
        ok=bool(row["ok"]),
    )
