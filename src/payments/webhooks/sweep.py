"""Events no webhook brought: housekeeping reads Stripe's Events API itself, from a stored watermark.

Stripe retries a webhook for three days and keeps events for thirty. An endpoint that was down, refused
deliveries or was never registered longer than that would leave payments wrong for ever if only a person
running ``payments events sync`` could catch up. So each housekeeping round one replica (a lease on the
watermark row, so several replicas never sweep at once and a dead one's lease expires) lists the events
of a window that ends a few minutes behind now (webhooks normally arrive first and the sweep finds only
duplicates, which the ledger answers cheaply), runs each through the same exactly-once path as a webhook,
and moves the watermark to the window's end.

An event that fails with a retryable error (Stripe or the database blinked) holds the watermark at its
creation time, so the next round fetches it again; one that can never apply as things are (a livemode
mismatch) is stored as failed for a person and does not hold the sweep back. Nor, after ``HOLD_AT_MOST``,
does one Stripe keeps failing (a key without the right to list refunds would fail it for ever): it stays
stored as failed, for housekeeping's retries and then a person, and the sweep goes on past it. A database
fault holds the sweep for as long as it lasts: the failure may not have been recorded.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from payments.errors import ServiceError, UpstreamError
from payments.observability.metrics import EVENTS_SWEPT
from payments.stripe_port import GatewayError
from payments.unit_of_work import UnitOfWorkFactory
from payments.webhooks.leases import take_lease
from payments.webhooks.processor import WebhookProcessor
from payments.webhooks.stripe_events import envelope_problem

log = structlog.get_logger(__name__)

# Stripe keeps events 30 days; a watermark older than this would ask for what no longer exists.
_STRIPE_RETENTION = timedelta(days=29)
HOLD_AT_MOST = timedelta(hours=1)


class EventSource(Protocol):
    def iter_events(
        self, *, created_gte: int, created_lt: int | None = None
    ) -> AsyncIterator[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SweepConfig:
    lag: timedelta = timedelta(minutes=5)  # how far behind now the window ends
    window: timedelta = timedelta(hours=1)  # most of Stripe's history one round reads
    initial_lookback: timedelta = timedelta(days=3)  # the first round: all Stripe may still be retrying
    lease: timedelta = timedelta(minutes=2)
    budget: int = 2000  # events per round, so one round stays short and the lease holds


@dataclass(frozen=True, slots=True)
class SweepResult:
    fetched: int = 0
    applied: int = 0
    duplicates: int = 0
    failed: int = 0
    watermark: int = 0


@dataclass(frozen=True, slots=True)
class _Tally:
    applied: int
    duplicates: int
    failed: int
    hold: int | None  # the creation time of the first event Stripe failed (its failure is recorded)
    held_by: str | None = None  # that event's id
    fault_at: int | None = None  # the creation time of the event a database fault stopped the round at


class EventSweep:
    NAME = "stripe_events"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        source: EventSource,
        processor: WebhookProcessor,
        clock: Callable[[], datetime],
        config: SweepConfig | None = None,
    ) -> None:
        self._uow = uow
        self._source = source
        self._processor = processor
        self._clock = clock
        self._config = config or SweepConfig()
        self._owner = uuid.uuid4().hex
        self._held: tuple[str, datetime] | None = None  # the event Stripe keeps failing, and since when

    async def run_once(self) -> SweepResult | None:
        """Catch up (up to a budget of events); None when another replica holds the sweep."""
        now = self._clock()
        watermark = await self._lease(now)
        if watermark is None:
            return None
        limit = int((now - self._config.lag).timestamp())
        # Batch: wait until a fifth of the lag has gathered, so a quiet round costs no Stripe call.
        if limit - watermark < int(self._config.lag.total_seconds()) // 5:
            await self._release(watermark)
            return None
        fetched = applied = duplicates = failed = 0
        reached = watermark
        try:
            while reached < limit and fetched < self._config.budget:
                start = max(reached, int((now - _STRIPE_RETENTION).timestamp()))
                end = min(limit, start + int(self._config.window.total_seconds()))
                try:
                    events = [e async for e in self._source.iter_events(created_gte=start, created_lt=end)]
                except GatewayError as exc:
                    log.warning("events.sweep_fetch_failed", kind=exc.kind.value)
                    break
                tally = await self._apply(events)
                fetched += len(events)
                applied, duplicates, failed = (
                    applied + tally.applied,
                    duplicates + tally.duplicates,
                    failed + tally.failed,
                )
                stops = [
                    *([tally.hold] if tally.hold is not None and self._still_holding(tally.held_by) else []),
                    *([tally.fault_at] if tally.fault_at is not None else []),  # never tried past it
                ]
                holding = bool(stops)
                reached = max(start, min(stops)) if stops else end
                if tally.held_by is None:
                    self._held = None
                if not await self._advance(reached, self._clock()):
                    return None  # our lease lapsed and another replica took over: it carries on
                if holding:
                    break
        finally:
            await self._release(reached)
        result = SweepResult(fetched, applied, duplicates, failed, reached)
        if applied or failed:
            log.info("events.swept", **{k: getattr(result, k) for k in SweepResult.__slots__})
        return result

    def _still_holding(self, event_id: str | None) -> bool:
        """Whether the sweep waits once more at the event Stripe failed: for HOLD_AT_MOST at most."""
        if event_id is None:
            return True
        now = self._clock()
        if self._held is None or self._held[0] != event_id:
            self._held = (event_id, now)
        if now - self._held[1] < HOLD_AT_MOST:
            return True
        log.warning("events.sweep_passed_failing_event", event_id=event_id)
        return False

    async def _apply(self, events: list[dict[str, Any]]) -> _Tally:
        applied = duplicates = failed = 0
        hold: int | None = None
        held_by: str | None = None
        fault_at: int | None = None
        for event in events:
            if envelope_problem(event) is not None:
                EVENTS_SWEPT.labels("malformed").inc()
                failed += 1
                continue
            try:
                handled = await self._processor.process(event, json.dumps(event, separators=(",", ":")))
            except ServiceError as exc:
                # Stored as failed by the idempotency service; a retryable one is fetched again.
                failed += 1
                EVENTS_SWEPT.labels("failed").inc()
                if isinstance(exc, UpstreamError) and hold is None:
                    hold, held_by = int(event.get("created") or 0), str(event.get("id"))
                continue
            except Exception:
                # The database (most likely) failed: stop here and take this event again next round.
                EVENTS_SWEPT.labels("failed").inc()
                failed += 1
                fault_at = int(event.get("created") or 0)
                break
            if handled.duplicate:
                duplicates += 1
                EVENTS_SWEPT.labels("duplicate").inc()
            else:
                applied += 1
                EVENTS_SWEPT.labels("applied").inc()
        return _Tally(applied, duplicates, failed, hold, held_by, fault_at)

    async def _lease(self, now: datetime) -> int | None:
        """Take the sweep for one round; the watermark, or None when another replica holds it."""
        start = int((now - self._config.initial_lookback).timestamp())
        return await take_lease(self._uow, self.NAME, self._owner, now, now + self._config.lease, start=start)

    async def _advance(self, watermark: int, now: datetime) -> bool:
        """Save progress and extend the lease; False when the lease is no longer ours."""
        async with self._uow() as uow:
            return await uow.sweeps.advance(self.NAME, self._owner, watermark, now + self._config.lease, now)

    async def _release(self, watermark: int) -> None:
        async with self._uow() as uow:
            await uow.sweeps.release(self.NAME, self._owner, watermark, self._clock())
