"""WebhookIdempotencyService: each Stripe event changes our state exactly once.

Three defences, in the seed's order (check seen -> lock -> re-check -> process -> mark -> release):
1. Redis, when configured and answering: a "processed" marker answers hot duplicates without touching
   the database, and a per-event lock (set-if-absent with an owner token and expiry) keeps replicas from
   doing the same work at once.
2. The ledger row per event id, the truth. It is inserted, already marked processed, in the transaction
   that applies the effects: both commit together or neither does. A concurrent delivery of the same id
   waits on the primary key until that transaction ends, then sees the row and answers "duplicate".
3. The database lock itself: the primary key wait above, ``SELECT ... FOR UPDATE`` on a row left by an
   earlier failed attempt (PostgreSQL), or the write transaction (SQLite). Correctness never needs Redis.

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

from payments.adapters.redis_locks import LockState, RedisEventLocks
from payments.domain.stripe_facts import EventFacts
from payments.records import SETTLED, EventStatus, IncomingEvent
from payments.unit_of_work import UnitOfWork
from payments.webhooks.ports import PaymentStore

log = structlog.get_logger(__name__)


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


class WebhookIdempotencyService:
    def __init__(
        self, store: PaymentStore, redis: RedisEventLocks | None, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._redis = redis
        self._clock = clock

    async def is_duplicate_event(self, event_id: str) -> bool:
        if self._redis is not None and await self._redis.is_processed(event_id):
            return True
        return await self._store.event_status(event_id) in SETTLED

    async def acquire_event_lock(self, event_id: str) -> tuple[LockState, str | None]:
        """Check-and-lock in one round trip; UNKNOWN without Redis (the database decides)."""
        if self._redis is None:
            return LockState.UNKNOWN, None
        return await self._redis.acquire(event_id)

    async def release_event_lock(self, event_id: str, token: str | None, *, processed: bool) -> None:
        if self._redis is not None:
            await self._redis.release(event_id, token, processed=processed)

    async def mark_event_processed(
        self, tx: UnitOfWork, event_id: str, outcome: Outcome, *, inserted: bool
    ) -> None:
        """Inside the effects' transaction. A freshly inserted row already says "processed"."""
        if inserted and outcome.status is EventStatus.PROCESSED:
            return
        await tx.mark_event(
            event_id, outcome.status, self._clock(), payment_id=outcome.payment_id, ref=outcome.ref
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
        state, token = (LockState.UNKNOWN, None) if force else await self.acquire_event_lock(event_id)
        if state is LockState.PROCESSED:
            return _DUPLICATE
        # HELD: another replica is on it; we still go to the database, whose lock gives a definite answer
        # (we never acknowledge on Redis' word alone that someone else *will* finish).
        processed = False
        try:
            async with self._store.transaction() as tx:
                inserted = await tx.record_event(
                    incoming,
                    self._clock(),
                    payment_id=lookup.payment_id if lookup is not None else None,
                    lookup=lookup,
                )
                if not inserted:
                    status = await tx.event_status_for_update(event_id)
                    if status in SETTLED and not force:
                        processed = True
                        return Handled(duplicate=True, status=status or EventStatus.PROCESSED)
                outcome = await handler(tx, event)
                await self.mark_event_processed(tx, event_id, outcome, inserted=inserted)
            processed = True
            return Handled(duplicate=False, status=outcome.status)
        except Exception as exc:
            await self._record_failure(incoming, exc)
            raise
        finally:
            await self.release_event_lock(event_id, token, processed=processed)

    async def _record_failure(self, incoming: IncomingEvent, exc: Exception) -> None:
        log.error("webhook.handler_failed", event_id=incoming.id, error=type(exc).__name__)
        try:
            await self._store.record_failure(incoming, self._clock(), f"{type(exc).__name__}: {exc}")
        except Exception as nested:  # the database may be what failed; Stripe retries either way
            log.error("webhook.failure_not_recorded", event_id=incoming.id, error=type(nested).__name__)
