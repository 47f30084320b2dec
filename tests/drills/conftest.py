"""Fault drills: each runs real ``payments serve`` processes on a PostgreSQL database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine
from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support.drill_infra import log_summary

SECRET = "whsec_drill0secret"
TOKEN = "drill-token"


@dataclass
class DrillDb:
    url: str
    engine: AsyncEngine
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A service on this database, webhooks signed with SECRET, Stripe never called."""
        return {
            "PAYMENTS_DATABASE_URL": self.url,
            "PAYMENTS_STRIPE_API_BASE": "http://127.0.0.1:9",
            "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
            "PAYMENTS_STRIPE_WEBHOOK_SECRETS": SECRET,
            "PAYMENTS_API_TOKEN": TOKEN,
            "PAYMENTS_JWT_SECRET": "drill-jwt-secret",
            **extra,
        }


@pytest_asyncio.fixture
async def drill_db(
    request: pytest.FixtureRequest, pg_databases: PgDatabases, tmp_path: Path
) -> AsyncIterator[DrillDb]:
    url = await pg_databases.create("drill")
    await asyncio.to_thread(upgrade_to_head, url)
    engine = create_engine(url, pool_size=2)
    # Tables whose migration is not written yet (work in progress elsewhere); the migrations' own
    # completeness is tests/integration/test_migrations.py's business, not the drills'.
    await schema.create_all(engine)
    yield DrillDb(url, engine, tmp_path)
    await engine.dispose()
    # Shown with a failing drill's captured output: what the services logged as going wrong.
    for log in sorted(tmp_path.glob("*.log")):
        print(log_summary(log))
