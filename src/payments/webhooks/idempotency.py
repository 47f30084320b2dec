"""WebhookIdempotencyService: each Stripe event changes our state exactly once.

Three defences, in the seed's order (check seen -> lock -> re-check -> process -> mark -> release):
1. the ledger row per event id (the truth: a unique primary key, status committed with the effects);
2. a Redis lock per event, when Redis is configured and answering (saves duplicate work across replicas);
3. the database lock: ``SELECT ... FOR UPDATE`` on the ledger row (PostgreSQL) or the write transaction
   (SQLite), so correctness never depends on Redis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.db import events_repo
from payments.adapters.db.events_repo import SETTLED, EventStatus
from payments.adapters.redis_locks import RedisEventLocks

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler did with an event, recorded on its ledger row."""

    status: EventStatus
    payment_id: str | None = None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Handled:
    duplicate: bool
    status: EventStatus


Handler = Callable[[AsyncConnection, dict[str, Any]], Awaitable[Outcome]]


class WebhookIdempotencyService:
    def __init__(
        self, engine: AsyncEngine, redis: RedisEventLocks | None, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._redis = redis
        self._clock = clock

    async def is_duplicate_event(self, event_id: str) -> bool:
        if self._redis is not None and await self._redis.is_processed(event_id):
            return True
        async with self._engine.connect() as conn:
            status = await events_repo.status_of(conn, event_id)
        return status in SETTLED

    async def acquire_event_lock(self, event_id: str) -> str | None:
        return await self._redis.acquire(event_id) if self._redis is not None else None

    async def release_event_lock(self, event_id: str, token: str | None) -> None:
        if self._redis is not None and token is not None:
            await self._redis.release(event_id, token)

    async def mark_event_processed(self, conn: AsyncConnection, event_id: str, outcome: Outcome) -> None:
        """Inside the effects' transaction: "processed" commits with the effects or not at all."""
        await events_repo.mark(
            conn, event_id, outcome.status, self._clock(), payment_id=outcome.payment_id, ref=outcome.ref
        )

    async def handle_event_with_idempotency(
        self, event: dict[str, Any], payload: str, handler: Handler, *, force: bool = False
    ) -> Handled:
        event_id = str(event["id"])
        if not force and self._redis is not None and await self._redis.is_processed(event_id):
            return Handled(duplicate=True, status=EventStatus.PROCESSED)
        # Stored first, in its own transaction, so a handler that fails leaves a replayable row.
        async with self._engine.begin() as conn:
            inserted = await events_repo.record(
                conn,
                event_id=event_id,
                type_=str(event.get("type", "")),
                livemode=bool(event.get("livemode")),
                api_version=event.get("api_version"),
                created=int(event.get("created") or 0),
                payload=payload,
                now=self._clock(),
            )
            if not inserted and not force and await events_repo.status_of(conn, event_id) in SETTLED:
                await self._remember(event_id)
                return Handled(duplicate=True, status=EventStatus.PROCESSED)
        token = await self.acquire_event_lock(event_id)
        try:
            async with self._engine.begin() as conn:
                status = await events_repo.status_of(conn, event_id, for_update=True)
                if status in SETTLED and not force:
                    duplicate = Handled(duplicate=True, status=status)
                else:
                    outcome = await handler(conn, event)
                    await self.mark_event_processed(conn, event_id, outcome)
                    duplicate = Handled(duplicate=False, status=outcome.status)
        except Exception as exc:
            await self._record_failure(event_id, exc)
            raise
        finally:
            await self.release_event_lock(event_id, token)
        await self._remember(event_id)
        return duplicate

    async def _remember(self, event_id: str) -> None:
        if self._redis is not None:
            await self._redis.mark_processed(event_id)

    async def _record_failure(self, event_id: str, exc: Exception) -> None:
        log.error("webhook.handler_failed", event_id=event_id, error=type(exc).__name__)
        try:
            async with self._engine.begin() as conn:
                await events_repo.mark_failed(conn, event_id, f"{type(exc).__name__}: {exc}")
        except Exception as nested:  # the database may be what failed; Stripe retries either way
            log.error("webhook.failure_not_recorded", event_id=event_id, error=type(nested).__name__)
