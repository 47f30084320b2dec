"""WebhookIdempotencyService on the in-memory store: the optimistic attempt, its fallback, and when Redis
is asked and told."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from payments.observability.metrics import WEBHOOK_UNDER_LOCKS
from payments.records import EventStatus
from payments.unit_of_work import ConcurrentWrite, UnitOfWork
from payments.webhooks.idempotency import REDELIVERY_AFTER_S, Outcome, WebhookIdempotencyService
from tests.support import stripe_events as se
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore


class Marks:
    """SeenMarks that record what they were asked and told."""

    def __init__(self, processed: set[str] | None = None) -> None:
        self.processed = set(processed or ())
        self.asked: list[str] = []
        self.told: list[str] = []

    async def is_processed(self, event_id: str) -> bool | None:
        self.asked.append(event_id)
        return event_id in self.processed

    def mark_processed(self, event_id: str) -> None:
        self.told.append(event_id)
        self.processed.add(event_id)


class CountingHandler:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, tx: UnitOfWork, event: dict[str, Any]) -> Outcome:
        self.calls += 1
        await tx.mark_event(event["id"], EventStatus.PROCESSED, CLOCK.now, payment_id="pay_1")
        return Outcome(EventStatus.PROCESSED, payment_id="pay_1")


CLOCK = FakeClock()


def _event(age_s: int) -> dict[str, Any]:
    return se.event("customer.created", {"id": "cus_1"}, created=int(CLOCK.now.timestamp()) - age_s)


async def _handle(service: WebhookIdempotencyService, event: dict[str, Any], handler: CountingHandler) -> Any:
    return await service.handle_event_with_idempotency(event, json.dumps(event), handler)


async def test_an_optimistic_attempt_that_lost_its_race_is_run_again_under_locks_once() -> None:
    store = FakeStore()
    store.needs_locks_next = 1
    service = WebhookIdempotencyService(store, None, CLOCK)
    handler = CountingHandler()
    event = _event(age_s=1)
    under_locks = WEBHOOK_UNDER_LOCKS._value.get()

    handled = await _handle(service, event, handler)

    assert (handled.duplicate, handled.status) == (False, EventStatus.PROCESSED)
    assert handler.calls == 2  # the optimistic attempt's work was thrown away, then done again
    assert WEBHOOK_UNDER_LOCKS._value.get() == under_locks + 1  # an operator sees how often
    assert (store.optimistic_units, store.rollbacks, store.commits) == (1, 1, 1)
    assert store.tables.events[event["id"]].status is EventStatus.PROCESSED
    assert store.tables.events[event["id"]].attempts == 2  # inserted, then marked once: not twice


async def test_a_copy_is_answered_by_the_optimistic_read_without_the_handler() -> None:
    store = FakeStore()
    service = WebhookIdempotencyService(store, None, CLOCK)
    handler = CountingHandler()
    event = _event(age_s=1)
    await _handle(service, event, handler)

    again = await _handle(service, event, handler)

    assert (again.duplicate, handler.calls) == (True, 1)
    assert store.optimistic_units == 2


async def test_a_replay_takes_the_locks_directly() -> None:
    store = FakeStore()
    service = WebhookIdempotencyService(store, None, CLOCK)
    handler = CountingHandler()
    event = _event(age_s=1)
    await _handle(service, event, handler)

    replayed = await service.handle_event_with_idempotency(event, json.dumps(event), handler, force=True)

    assert (replayed.duplicate, handler.calls, store.optimistic_units) == (False, 2, 1)


async def test_a_fresh_first_delivery_neither_asks_nor_tells_redis() -> None:
    marks = Marks()
    service = WebhookIdempotencyService(FakeStore(), marks, CLOCK)

    await _handle(service, _event(age_s=2), CountingHandler())

    assert (marks.asked, marks.told) == ([], [])


async def test_a_copy_found_by_the_database_is_told_to_redis_for_the_copies_after_it() -> None:
    marks = Marks()
    store = FakeStore()
    service = WebhookIdempotencyService(store, marks, CLOCK)
    handler = CountingHandler()
    event = _event(age_s=2)
    await _handle(service, event, handler)

    copy = await _handle(service, event, handler)

    assert copy.duplicate and marks.told == [event["id"]]
    CLOCK.advance(timedelta(seconds=REDELIVERY_AFTER_S))  # Stripe's retry, minutes later
    try:
        retried = await _handle(service, event, handler)
    finally:
        CLOCK.advance(-timedelta(seconds=REDELIVERY_AFTER_S))
    assert retried.duplicate and marks.asked == [event["id"]]
    assert store.optimistic_units == 2  # the retry never reached the database


async def test_a_late_delivery_asks_redis_first_and_is_remembered_once_settled() -> None:
    marks = Marks()
    service = WebhookIdempotencyService(FakeStore(), marks, CLOCK)
    event = _event(age_s=REDELIVERY_AFTER_S + 5)

    handled = await _handle(service, event, CountingHandler())

    assert not handled.duplicate
    assert (marks.asked, marks.told) == ([event["id"]], [event["id"]])


async def test_redis_saying_processed_answers_a_late_copy_without_the_database() -> None:
    store = FakeStore()
    event = _event(age_s=3600)
    service = WebhookIdempotencyService(store, Marks({event["id"]}), CLOCK)
    handler = CountingHandler()

    handled = await _handle(service, event, handler)

    assert handled.duplicate and handler.calls == 0
    assert store.optimistic_units == 0 and not store.tables.events


class DeadlockOnce(FakeStore):
    """A store whose first locking transaction is undone at its end, as PostgreSQL ends a deadlock."""

    def __init__(self) -> None:
        super().__init__()
        self.deadlocks = 1

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        async with super().transaction() as tx:
            yield tx
            if self.deadlocks:
                self.deadlocks -= 1
                raise ConcurrentWrite("lost a deadlock")


async def test_a_locking_run_that_lost_a_deadlock_is_run_once_more() -> None:
    store = DeadlockOnce()
    store.needs_locks_next = 1
    service = WebhookIdempotencyService(store, None, CLOCK)
    handler = CountingHandler()
    event = _event(age_s=1)

    handled = await _handle(service, event, handler)

    assert (handled.duplicate, handled.status) == (False, EventStatus.PROCESSED)
    assert handler.calls == 3 and store.deadlocks == 0
    assert store.tables.events[event["id"]].status is EventStatus.PROCESSED


class Deferring(CountingHandler):
    async def __call__(self, tx: UnitOfWork, event: dict[str, Any]) -> Outcome:
        self.calls += 1
        return Outcome(EventStatus.DEFERRED, ref="pi_1")


async def test_a_deferred_event_is_not_told_to_redis_since_applying_it_may_still_fail() -> None:
    marks = Marks()
    service = WebhookIdempotencyService(FakeStore(), marks, CLOCK)
    event = _event(age_s=REDELIVERY_AFTER_S + 5)

    handled = await _handle(service, event, Deferring())

    assert handled.status is EventStatus.DEFERRED
    assert marks.asked == [event["id"]] and marks.told == []
