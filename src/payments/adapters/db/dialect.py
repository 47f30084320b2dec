"""The few statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_conflict(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <pk>``: a row back means we inserted it."""
    pk = next(iter(table.primary_key.columns))
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(pk)
    return sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(pk)


async def lock_key(conn: AsyncConnection, key: str) -> None:
    """A transaction-scoped lock on an arbitrary key (PostgreSQL); SQLite's write lock already covers it."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
