"""The few statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def utc(moment: datetime) -> datetime:
    """Aware UTC. SQLite hands DateTime(timezone=True) back naive, and compares them as text, so every
    moment is stored and compared in UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


async def insert_ignoring_conflicts(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], index_elements: Sequence[str]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; the number of rows actually inserted."""
    if not rows:
        return 0
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    if len(rows) == 1:
        result = await conn.execute(stmt.values(**rows[0]))
    else:
        result = await conn.execute(stmt, list(rows))
    return max(result.rowcount, 0)


async def upsert_adding(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    index_elements: Sequence[str],
    add_columns: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT DO UPDATE SET col = col + excluded.col, for counters and sums."""
    if not rows:
        return
    stmt = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(index_elements),
        set_={name: table.c[name] + stmt.excluded[name] for name in add_columns},
    )
    await conn.execute(stmt, list(rows))
