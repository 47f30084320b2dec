"""The few referral statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


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
