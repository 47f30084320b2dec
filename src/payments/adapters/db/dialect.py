"""The few statements whose spelling differs between PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_conflict(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <pk>``: a row back means we inserted it."""
    pk = next(iter(table.primary_key.columns))
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(pk)
    return sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(pk)
