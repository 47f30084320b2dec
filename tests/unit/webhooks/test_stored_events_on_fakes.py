"""The stored events' upkeep on the in-memory store: pruning past retention, what waits for a person."""

from __future__ import annotations

from datetime import timedelta

from payments.records import EventStatus
from payments.webhooks.stored_events import StoredEvents
from tests.support.clock import NOW
from tests.support.fakes import EventRow, FakeStore


def _event(event_id: str, status: EventStatus, age: timedelta) -> EventRow:
    return EventRow(event_id, "charge.refunded", 0, "{}", status, 1, NOW - age)


async def test_pruning_drops_settled_events_past_retention_and_keeps_what_waits_for_a_person() -> None:
    store = FakeStore()
    old, new = timedelta(days=100), timedelta(days=1)
    for row in (
        _event("evt_old_done", EventStatus.PROCESSED, old),
        _event("evt_old_ignored", EventStatus.IGNORED, old),
        _event("evt_old_failed", EventStatus.FAILED, old),
        _event("evt_old_deferred", EventStatus.DEFERRED, old),
        _event("evt_new_done", EventStatus.PROCESSED, new),
    ):
        store.tables.events[row.id] = row
    events = StoredEvents(store)
    assert await events.prune(NOW - timedelta(days=90)) == 2
    assert sorted(store.tables.events) == ["evt_new_done", "evt_old_deferred", "evt_old_failed"]
    waiting = await events.needing_look()
    assert [(e.id, e.status) for e in waiting] == [
        ("evt_old_deferred", EventStatus.DEFERRED),
        ("evt_old_failed", EventStatus.FAILED),
    ]
