"""Repositories over a unit of work's connection (the Protocols are in ``payments/unit_of_work.py``).

Each takes a ``ConnectionSource`` rather than a connection: on PostgreSQL the unit of work first sends
the writes it holds back, so a repository read sees them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db import diffs_repo, payments_repo
from payments.domain.payment_state import PaymentStatus
from payments.records import PaymentRecord

ConnectionSource = Callable[[], Awaitable[AsyncConnection]]


class SqlPaymentRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def get(self, payment_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        return await payments_repo.get(await self._connection(), payment_id, for_update=for_update)

    async def latest_for_order(self, order_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        return await payments_repo.latest_for_order(await self._connection(), order_id, for_update=for_update)

    async def list_for_order(self, order_id: str) -> list[PaymentRecord]:
        return await payments_repo.list_for_order(await self._connection(), order_id)

    async def set_diff_seq(self, payment_id: str, diff_seq: int) -> None:
        await payments_repo.set_diff_seq(await self._connection(), payment_id, diff_seq)

    async def count_with_status(self, status: PaymentStatus) -> int:
        return await payments_repo.count_with_status(await self._connection(), status)


class SqlDiffRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def history(self, order_id: str) -> list[dict[str, Any]]:
        return await diffs_repo.history(await self._connection(), order_id)

    async def last_for_order(self, order_id: str) -> tuple[int, str] | None:
        return await diffs_repo.last_for_order(await self._connection(), order_id)
