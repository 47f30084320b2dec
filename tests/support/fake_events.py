"""The stored events away from the webhook path (``uow.events``) in memory, over the ``Tables`` of
``tests/support/fakes.py``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from payments.records import NEEDING_LOOK, EventNeedingLook, EventStatus, needs_a_look

if TYPE_CHECKING:
    from tests.support.fakes import Tables

_PRUNABLE = (EventStatus.PROCESSED, EventStatus.IGNORED)


class FakeEventRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def needing_look(self, statuses: tuple[EventStatus, ...], limit: int) -> list[EventNeedingLook]:
        by_default = statuses == NEEDING_LOOK
        rows = sorted(
            (
                e
                for e in self._t.events.values()
                if e.status in statuses or (by_default and needs_a_look(e.status, e.last_error))
            ),
            key=lambda e: (e.received_at, e.id),
        )
        return [
            EventNeedingLook(e.id, e.type, e.status, e.attempts, e.last_error, e.received_at)
            for e in rows[:limit]
        ]

    async def prune(self, older_than: datetime) -> int:
        gone = [
            e.id
            for e in self._t.events.values()
            if e.received_at < older_than
            and e.status in _PRUNABLE
            and not needs_a_look(e.status, e.last_error)
        ]
        for event_id in gone:
            del self._t.events[event_id]
        return len(gone)

    async def failed_for_retry(
        self, now: datetime, max_attempts: int, limit: int, spacing: timedelta
    ) -> list[str]:
        due = [
            e
            for e in self._t.events.values()
            if e.status is EventStatus.FAILED
            and 1 <= e.attempts < max_attempts
            and e.received_at <= now - spacing * e.attempts
            and not (e.last_error or "").startswith("LivemodeMismatch")
        ]
        return [e.id for e in sorted(due, key=lambda e: (e.created, e.id))[:limit]]
