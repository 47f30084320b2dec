"""What the webhook path needs from storage besides a unit of work (``payments/unit_of_work.py``)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from payments.records import EventStatus, IncomingEvent, StoredEvent
from payments.unit_of_work import UnitOfWork


class PaymentStore(Protocol):
    """Units of work, and the ledger reads and writes that run outside one."""

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    def optimistic(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work for one event that locks nothing while it reads and the handler decides, then
        writes the ledger row and every effect in one statement, only if nothing it read has changed.
        Raises ``NeedsLocks`` (nothing written) when it cannot; a store without it returns
        ``transaction()``."""
        ...

    async def event_status(self, event_id: str) -> EventStatus | None: ...

    async def get_event(self, event_id: str) -> StoredEvent | None: ...

    async def record_failure(self, event: IncomingEvent, now: datetime, error: str) -> None: ...

    async def linked_deferred(self, since: datetime) -> list[tuple[str, str]]: ...


class SeenMarks(Protocol):
    """A cache of "this event was processed" (Redis); never the truth, may forget or be down."""

    async def is_processed(self, event_id: str) -> bool | None: ...

    def mark_processed(self, event_id: str) -> None:
        """Remember it soon; must not wait on the network."""
        ...
