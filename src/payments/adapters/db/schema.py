"""Schema helpers for tests and the embedded default (production uses Alembic migrations)."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import tables


def all_metadata() -> MetaData:
    # Importing registers the referral tables on the shared metadata.
    from payments.adapters.db import referral_tables  # noqa: F401

    return tables.metadata


async def create_all(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(all_metadata().create_all)


async def reset(engine: AsyncEngine) -> None:
    """Empty every table (drop and create): cheap at test scale and leaves no rows behind."""
    async with engine.begin() as conn:
        await conn.run_sync(all_metadata().drop_all)
        await conn.run_sync(all_metadata().create_all)
