"""What an operator sees of the outbox and does to it: the undelivered diffs, and "send it again now"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from payments.records import OutboxMessage
from payments.unit_of_work import UnitOfWorkFactory


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OutboxBacklog:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime] = _utc_now) -> None:
        self._uow = uow
        self._clock = clock

    async def pending(self, *, limit: int | None = None) -> list[OutboxMessage]:
        """Every diff not yet delivered to Orders, oldest first, each order's diffs in seq order."""
        async with self._uow() as uow:
            return await uow.outbox.pending(limit=limit)

    async def count(self) -> int:
        async with self._uow() as uow:
            return await uow.outbox.count_pending()

    async def retry_now(self, message_id: str | None = None) -> int:
        """Make one undelivered message (or all of them) due now; returns how many rows changed.

        Order is still kept: a message made due waits for the earlier diffs of its order all the same. A
        message a relay is sending at that moment may be sent twice, which Orders' idempotency absorbs.
        """
        async with self._uow() as uow:
            return await uow.outbox.make_due(self._clock(), message_id)
