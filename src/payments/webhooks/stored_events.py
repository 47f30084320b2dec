"""Stored Stripe events away from the webhook path: what waits for a person, and pruning past retention."""

from __future__ import annotations

from datetime import datetime

from payments.records import NEEDING_LOOK, EventNeedingLook, EventStatus
from payments.unit_of_work import UnitOfWorkFactory


class StoredEvents:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def needing_look(
        self, statuses: tuple[EventStatus, ...] = NEEDING_LOOK, limit: int = 100
    ) -> list[EventNeedingLook]:
        """Stored events in these statuses (failed and deferred unless told), oldest first."""
        async with self._uow() as uow:
            return await uow.events.needing_look(statuses, limit)

    async def prune(self, older_than: datetime) -> int:
        """Drop settled events received before ``older_than``; failed and deferred ones stay for a person."""
        async with self._uow() as uow:
            return await uow.events.prune(older_than)
