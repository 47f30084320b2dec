"""Alembic builds exactly the tables in code, on both backends (alembic upgrade head + alembic check)."""

from __future__ import annotations

import asyncio

from payments.migrations_runner import check_no_drift, upgrade_to_head
from tests.conftest import PgDatabases


async def test_migrations_reach_head_without_drift_on_sqlite(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    await asyncio.to_thread(upgrade_to_head, url)
    await asyncio.to_thread(check_no_drift, url)


async def test_migrations_reach_head_without_drift_on_postgresql(pg_databases: PgDatabases) -> None:
    pg_database = await pg_databases.create("mig")
    await asyncio.to_thread(upgrade_to_head, pg_database)
    await asyncio.to_thread(check_no_drift, pg_database)
    await asyncio.to_thread(upgrade_to_head, pg_database)  # idempotent: already at head
