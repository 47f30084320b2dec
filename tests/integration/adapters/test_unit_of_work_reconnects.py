"""A connection the server ended is thrown away, not handed out again (PostgreSQL's fast path).

The webhook unit of work runs its statements on the asyncpg connection itself, past SQLAlchemy, so
SQLAlchemy never learns that a connection died: after a PostgreSQL restart every pooled connection is
dead, and without this each would fail every request that drew it, for as long as the process lived.
"""

from __future__ import annotations

import asyncpg
import pytest

from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine
from payments.adapters.db.unit_of_work import SqlPaymentStore

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


async def _backend_pid(store: SqlPaymentStore) -> int:
    async with store() as uow:
        conn = await uow.connection()
        return int((await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one())


@postgres_only
async def test_a_killed_connection_fails_once_and_the_next_unit_of_work_gets_a_live_one(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    await schema.reset(engine)
    store = SqlPaymentStore(engine)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        killed = await _backend_pid(store)
        await admin.execute("SELECT pg_terminate_backend($1)", killed)

        # How it fails depends on when the client sees the end (a closed connection, a cut protocol).
        with pytest.raises(Exception):  # noqa: B017
            async with store() as uow:
                await uow.payments.get("pay_none")

        async with store() as uow:
            assert await uow.payments.get("pay_none") is None
        assert await _backend_pid(store) != killed
    finally:
        await admin.close()
        await engine.dispose()


async def _optimistic_pid(store: SqlPaymentStore) -> int:
    async with store.optimistic() as uow:
        return int(await uow._raw.fetchval("SELECT pg_backend_pid()"))  # type: ignore[attr-defined]


@postgres_only
async def test_a_kept_connection_the_server_ended_is_thrown_away_and_the_next_use_gets_a_live_one(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    await schema.reset(engine)
    store = SqlPaymentStore(engine, keep_connections=True)
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        kept = await _optimistic_pid(store)
        assert await _optimistic_pid(store) == kept  # kept between uses, not drawn anew
        await admin.execute("SELECT pg_terminate_backend($1)", kept)

        with pytest.raises(Exception):  # noqa: B017 - how it fails depends on when the client sees the end
            await _optimistic_pid(store)

        fresh = await _optimistic_pid(store)
        assert fresh != kept
        async with store() as uow:  # and the pool still has its connections for everyone else
            assert await uow.payments.get("pay_none") is None
    finally:
        await store.close()
        await admin.close()
        await engine.dispose()
