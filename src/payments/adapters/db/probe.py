"""Readiness: does the database answer at all (a connection of its own and one round trip)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


def probe_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same database through a pool of one connection of its own: a main pool busy with a burst is not
    a database down, and a check every few seconds does not pay a new connection each time."""
    if engine.url.get_backend_name() == "sqlite":
        return create_async_engine(engine.url, poolclass=NullPool)  # a file: opening it costs nothing
    return create_async_engine(engine.url, pool_size=1, max_overflow=0, pool_timeout=2)


class DatabaseProbe:
    def __init__(self, engine: AsyncEngine, timeout_seconds: float = 2.0) -> None:
        self._engine = engine  # ``probe_engine``'s in the service: see bootstrap
        self._timeout = timeout_seconds

    async def answers(self) -> bool:
        try:
            # A database that stopped answering without closing the socket is down too, not "wait".
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"; a readiness answer carries no reason
            return False
        return True
