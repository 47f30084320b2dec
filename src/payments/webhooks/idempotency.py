"""WebhookIdempotencyService: each Stripe event changes our state exactly once.

Defences, cheapest first (the seed's order, check seen -> lock -> re-check -> process -> mark):
1. Redis, when configured and answering, for redeliveries only: a delivery of an event created more
   than ``REDELIVERY_AFTER_S`` ago (Stripe's retries, a resend from the Dashboard) asks its "processed"
   marker before the database. A fresh delivery, nearly all of the traffic, goes straight to the
   database, whose first read answers a copy in the round trip Redis would cost: asking Redis first was
   ~15 % of the webhook's CPU and saved nothing. Markers are written, after the commit and off the
   answer's path (``adapters/redis_marks.py``), for the events being redelivered: a copy the database
   answered, an event settled on a late delivery.
2. The ledger row per event id, the truth, and the lock. It is inserted, already marked processed, with
   the effects: both commit together or neither does. First optimistically (``PaymentStore.optimistic``:
   a read, then the row and the effects in one statement, only if the payment read has not changed;
   the read answers a copy of a settled event). When that cannot apply (``NeedsLocks``: it wrote
   nothing), in a transaction: a concurrent delivery of the same id (another replica) waits on the
   primary key until that transaction ends, then sees the row and answers "duplicate"; a row left by an
   earlier failed attempt is re-checked under ``SELECT ... FOR UPDATE`` (PostgreSQL) or the write
   transaction (SQLite). Correctness never needs Redis.

A handler that raises rolls back its effects; the raw event and the error are then stored in a
transaction of their own, so the failure is visible and replayable (dj-stripe's model) while the happy
path pays for one transaction only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from payments.domain.stripe_facts import EventFacts
from payments.observability.metrics import WEBHOOK_UNDER_LOCKS
from payments.records import SETTLED, EventStatus, IncomingEvent
from payments.unit_of_work import ConcurrentWrite, NeedsLocks, UnitOfWork
from payments.webhooks.ports import PaymentStore, SeenMarks

log = structlog.get_logger(__name__)

# Stripe signs a first delivery within seconds of creating the event; its first retry comes minutes later.
REDELIVERY_AFTER_S = 60


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler did with an event, recorded on its ledger row."""

    status: EventStatus
    payment_id: str | None = None
    ref: str | None = None
    error: str | None = None  # why an event was ignored, when that is worth a person's look


@dataclass(frozen=True, slots=True)
class Handled:
    duplicate: bool
    status: EventStatus


Handler = Callable[[UnitOfWork, dict[str, Any]], Awaitable[Outcome]]

_DUPLICATE = Handled(duplicate=True, status=EventStatus.PROCESSED)
_FINAL = frozenset({EventStatus.PROCESSED, EventStatus.IGNORED})


class WebhookIdempotencyService:
    def __init__(self, store: PaymentStore, marks: SeenMarks | None, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._marks = marks
        self._clock = clock

    async def is_duplicate_event(self, event_id: str) -> bool:
        if self._marks is not None and await self._marks.is_processed(event_id):
            return True
        return await self._store.event_status(event_id) in SETTLED

    async def seen_in_cache(self, event_id: str) -> bool:
        """Redis' marker says processed (never "not processed": without it, the database decides)."""
        return self._marks is not None and bool(await self._marks.is_processed(event_id))

    def remember_processed(self, event_id: str) -> None:
        if self._marks is not None:
            self._marks.mark_processed(event_id)

    async def mark_event_processed(
        self, tx: UnitOfWork, event_id: str, outcome: Outcome, *, inserted: bool, filed_under: str | None
    ) -> None:
        """Inside the effects' transaction. A freshly inserted row already says "processed", filed under
        the payment its metadata names (``filed_under``); a refund or a dispute names none, and is filed
        under the payment it was applied to, so the payment's events list it and a search finds it."""
        filing = inserted and outcome.status is EventStatus.PROCESSED
        if filing and outcome.payment_id in (None, filed_under):
            return
        await tx.mark_event(
            event_id,
            outcome.status,
            self._clock(),
            payment_id=outcome.payment_id,
            ref=outcome.ref,
            error=outcome.error,
            new_attempt=not inserted,  # the attempt that recorded the row is this one
        )

    async def handle_event_with_idempotency(
        self,
        event: dict[str, Any],
        payload: str,
        handler: Handler,
        *,
        force: bool = False,
        lookup: EventFacts | None = None,
    ) -> Handled:
        incoming = IncomingEvent.of(event, payload)
        event_id = incoming.id
        late = self._clock().timestamp() - incoming.created > REDELIVERY_AFTER_S
        if not force and late and await self.seen_in_cache(event_id):
            return _DUPLICATE
        handled: Handled | None = None
        try:
            if not force:
                try:
                    async with self._store.optimistic() as tx:
                        handled = await self._apply(tx, incoming, event, handler, force=False, lookup=lookup)
                except NeedsLocks:
                    WEBHOOK_UNDER_LOCKS.inc()
                    handled = None  # nothing was written; the same work again, under locks
            if handled is None:
                handled = await self._under_locks(incoming, event, handler, force=force, lookup=lookup)
        except Exception as exc:
            await self._record_failure(incoming, exc)
            raise
        # Not "deferred": a deferred event may still fail when it is applied, and must then be delivered.
        if handled.status in _FINAL and (late or handled.duplicate):
            self.remember_processed(event_id)
        return handled

    async def _under_locks(
        self,
        incoming: IncomingEvent,
        event: dict[str, Any],
        handler: Handler,
        *,
        force: bool,
        lookup: EventFacts | None,
    ) -> Handled:
        try:
            async with self._store.transaction() as tx:
                return await self._apply(tx, incoming, event, handler, force=force, lookup=lookup)
        except ConcurrentWrite:
            pass  # lost a deadlock to an optimistic copy of the event: once more, which sees its row
        async with self._store.transaction() as tx:
            return await self._apply(tx, incoming, event, handler, force=force, lookup=lookup)

    async def _apply(
        self,
        tx: UnitOfWork,
        incoming: IncomingEvent,
        event: dict[str, Any],
        handler: Handler,
        *,
        force: bool,
        lookup: EventFacts | None,
    ) -> Handled:
        filed_under = lookup.payment_id if lookup is not None else None
        inserted = await tx.record_event(incoming, self._clock(), payment_id=filed_under, lookup=lookup)
        if not inserted:
            status = await tx.event_status_for_update(incoming.id)
            if status in SETTLED and not force:
                return Handled(duplicate=True, status=status or EventStatus.PROCESSED)
        outcome = await handler(tx, event)
        await self.mark_event_processed(tx, incoming.id, outcome, inserted=inserted, filed_under=filed_under)
        return Handled(duplicate=False, status=outcome.status)

    async def _record_failure(self, incoming: IncomingEvent, exc: Exception) -> None:
        log.error("webhook.handler_failed", event_id=incoming.id, error=type(exc).__name__)
        try:
            await self._store.record_failure(incoming, self._clock(), f"{type(exc).__name__}: {exc}")
        except Exception as nested:  # the database may be what failed; Stripe retries either way
            log.error("webhook.failure_not_recorded", event_id=incoming.id, error=type(nested).__name__)
