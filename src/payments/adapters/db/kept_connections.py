"""Connections the optimistic webhook path keeps checked out of SQLAlchemy's pool between uses.

Checking a connection out of SQLAlchemy's pool and back in (its proxy objects, events, the isolation
level set and reset) was ~12 % of a webhook's CPU; taking one from this free list is a list pop. The kept
connections still count in the pool's size, so the server sees no more connections than before: at most
``cap`` are kept, and past that a use checks one out of the pool as before. A kept connection is given
back to the pool once older than the pool's recycle age, and thrown away, with every idle one, when a
use fails in a way that leaves it unable to answer (the server restarted or ended it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.unit_of_work import NeedsLocks

# Raised by the work itself, with the connection idle and fine: PostgreSQL refused a statement (outside
# any transaction of ours, so nothing is left open), or the work asked to run under locks.
_CONNECTION_FINE = (NeedsLocks, asyncpg.PostgresError)


@dataclass(slots=True)
class _Kept:
    conn: AsyncConnection
    raw: Any
    opened: float


class KeptConnections:
    def __init__(self, engine: AsyncEngine, cap: int, max_age_s: float = 1800.0) -> None:
        # AUTOCOMMIT: SQLAlchemy begins nothing on these; the statements run on the raw connection.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._cap = cap
        self._max_age_s = max_age_s
        self._free: list[_Kept] = []
        self._owned = 0
        self._closed = False

    @asynccontextmanager
    async def pair(self) -> AsyncIterator[tuple[AsyncConnection, Any]]:
        """SQLAlchemy's AUTOCOMMIT connection and the asyncpg connection under it, outside any
        transaction, for statements that are atomic alone."""
        kept = await self._take()
        if kept is None:
            async with self._engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                try:
                    yield conn, raw
                except BaseException as exc:
                    if not await _still_fine(raw, exc):
                        await conn.invalidate()
                    raise
            return
        try:
            yield kept.conn, kept.raw
            if kept.conn.in_transaction():
                await kept.conn.commit()  # SQLAlchemy's own bookkeeping: AUTOCOMMIT sends nothing
        except BaseException as exc:
            if await _still_fine(kept.raw, exc):
                await self._give_back(kept)
            else:
                await self._discard(kept)
                for idle in self._free[:]:  # opened from the same server: most likely dead as well
                    self._free.remove(idle)
                    await self._discard(idle)
            raise
        await self._give_back(kept)

    async def close(self) -> None:
        self._closed = True
        while self._free:
            kept = self._free.pop()
            self._owned -= 1
            await kept.conn.close()

    async def _take(self) -> _Kept | None:
        while self._free:
            kept = self._free.pop()
            if time.monotonic() - kept.opened < self._max_age_s:
                return kept
            self._owned -= 1
            await kept.conn.close()  # the pool recycles it
        if self._closed or self._owned >= self._cap:
            return None
        self._owned += 1
        try:
            conn = await self._engine.connect()
            raw = (await conn.get_raw_connection()).driver_connection
        except BaseException:
            self._owned -= 1
            raise
        return _Kept(conn, raw, time.monotonic())

    async def _give_back(self, kept: _Kept) -> None:
        if self._closed:
            self._owned -= 1
            await kept.conn.close()
        else:
            self._free.append(kept)

    async def _discard(self, kept: _Kept) -> None:
        self._owned -= 1
        try:
            await kept.conn.invalidate()
        finally:
            await kept.conn.close()


async def _still_fine(raw: Any, exc: BaseException) -> bool:
    if raw.is_closed() or raw.is_in_transaction():
        return False
    if isinstance(exc, _CONNECTION_FINE):
        return True
    if isinstance(exc, asyncio.CancelledError):
        return False  # perhaps mid-statement: not worth a probe that may be cancelled in turn
    try:
        await raw.execute("SELECT 1")
    except BaseException:
        return False
    return True
