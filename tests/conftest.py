"""Shared fixtures: every test run gets its own PostgreSQL database and its own SQLite file."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine

PG_ADMIN_DSN = os.environ.get("PAYMENTS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PAYMENTS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REPO = Path(__file__).resolve().parents[1]


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{dbname}"


class PgDatabases:
    """Creates databases of this run's own and drops them at the end: runs never see each other's rows."""

    def __init__(self) -> None:
        self.names: list[str] = []

    async def create(self, purpose: str) -> str:
        name = f"payments_test_{purpose}_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.names.append(name)
        return _pg_url(name)

    async def drop_all(self) -> None:
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for name in self.names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest_asyncio.fixture(scope="session")
async def pg_databases() -> AsyncIterator[PgDatabases]:
    databases = PgDatabases()
    yield databases
    await databases.drop_all()


@pytest_asyncio.fixture(scope="session")
async def pg_database(pg_databases: PgDatabases) -> str:
    """The database integration tests reset table by table (metadata create_all, no Alembic)."""
    return await pg_databases.create("int")


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'payments.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same integration test runs on both backends."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_database"))


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly emptied schema."""
    eng = create_engine(database_url)
    await schema.reset(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    yield REPO
