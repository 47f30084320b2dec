"""The storage the outbox runs on: ``UnitOfWork.outbox`` (``adapters/db/outbox_repo.py`` on SQL)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from payments.records import OutboxMessage


class OutboxRepository(Protocol):
    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, *, skip_orders: Collection[str] = ()
    ) -> list[OutboxMessage]:
        """Take the due heads (each order's first undelivered diff) by pushing their next attempt to
        ``lease_until``; an order's later diffs wait for every earlier one to be delivered.

        Relays claiming side by side each take different rows and none waits on another.
        """
        ...

    async def mark_delivered(self, message_id: str, now: datetime) -> bool:
        """False when it was already delivered (another relay's lease ran out mid-send)."""
        ...

    async def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None: ...

    async def pending(self, *, limit: int | None = None) -> list[OutboxMessage]:
        """Every diff not yet delivered, oldest first, each order's diffs in seq order."""
        ...

    async def count_pending(self) -> int: ...

    async def make_due(self, now: datetime, message_id: str | None = None) -> int:
        """Make one undelivered message (or all of them) due at ``now``; how many rows changed."""
        ...

    async def last_error(self) -> str | None:
        """The error of the undelivered diff tried most recently, if any failed."""
        ...
