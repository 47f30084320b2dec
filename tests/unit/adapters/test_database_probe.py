"""Readiness asks the database one question, and a database that never answers is not ready."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from payments.adapters.db.probe import DatabaseProbe


class _Stalled:
    """An engine whose connection is handed out but whose statements never come back."""

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Any]:
        class Connection:
            async def execute(self, statement: Any) -> None:
                await asyncio.Event().wait()

        yield Connection()


async def test_a_database_that_stops_answering_is_not_ready_within_the_probes_time() -> None:
    probe = DatabaseProbe(_Stalled(), timeout_seconds=0.2)  # type: ignore[arg-type]
    assert await asyncio.wait_for(probe.answers(), timeout=5) is False
