"""The outbox relay: delivers the order state diffs to Orders, in order per order, at least once.

Orders deduplicates by the message id, so at-least-once here is exactly-once there. A relay takes the
due diffs with a short transaction that leases them (``OutboxRepository.claim_due``), sends outside any
transaction, then records the outcome. Holding a transaction across the network call would hold
SQLite's single write lock, and with it every webhook, for as long as Orders takes to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from payments.observability.metrics import OUTBOX_DELIVERIES
from payments.orders_port import OrdersClient, OrdersError, OrdersRejected, OrdersUnavailable
from payments.records import OutboxMessage
from payments.unit_of_work import UnitOfWorkFactory

__all__ = ["OutboxRelay", "backoff_seconds"]

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def backoff_seconds(
    attempts: int, *, base: float, cap: float, rng: random.Random, floor: float = 1.0
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempts-1))].

    Full jitter spreads the retries of many messages that failed together (Orders went down) instead of
    sending them back in one wave. The floor keeps a near-zero draw from retrying in a tight loop.
    """
    exponent = min(max(attempts - 1, 0), 62)
    ceiling = min(cap, base * (2.0**exponent))
    return min(cap, max(floor, rng.uniform(0.0, ceiling)))


def _outcome(error: OrdersError | None) -> str:
    if error is None:
        return "delivered"
    if isinstance(error, OrdersRejected):
        return "rejected"
    if isinstance(error, OrdersUnavailable):
        return "unavailable"
    return "error"


class OutboxRelay:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        client: OrdersClient,
        *,
        batch_size: int = 100,
        max_backoff_seconds: float = 300.0,
        base_backoff_seconds: float = 1.0,
        rejected_base_backoff_seconds: float = 60.0,
        rejected_max_backoff_seconds: float = 3600.0,
        lease_seconds: float = 60.0,
        clock: Clock = _utc_now,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._uow = uow
        self._client = client
        self._batch_size = batch_size
        self._max_backoff = max_backoff_seconds
        self._base_backoff = base_backoff_seconds
        self._rejected_base = rejected_base_backoff_seconds
        self._rejected_max = max(rejected_max_backoff_seconds, max_backoff_seconds)
        # Must outlast a send (the clients' deadline is 5 s): a lease that runs out mid-send lets another
        # relay send the same message again, which is harmless for Orders but not what we want.
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()

    def _now(self) -> datetime:
        now = self._clock()
        # A naive clock (tests) means UTC, as every stored timestamp is.
        return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)

    async def run_once(self) -> int:
        """Deliver what is due now; returns how many diffs were delivered.

        Works in rounds until nothing is due or ``batch_size`` diffs were tried, so an order with several
        diffs waiting gets them all out in one call, in seq order.

        Each round sends at most one diff per order (the earliest undelivered one), the orders in
        parallel. An order whose diff failed is left alone for the rest of this call even if its backoff
        is already over, so one call never hammers a failing order.
        """
        delivered = 0
        handled = 0
        failed_orders: set[str] = set()
        while handled < self._batch_size:
            now = self._now()
            async with self._uow() as uow:
                batch = await uow.outbox.claim_due(
                    now,
                    now + self._lease,
                    self._batch_size - handled,
                    skip_orders=failed_orders,
                )
            if not batch:
                break
            handled += len(batch)
            outcomes = await asyncio.gather(*(self._send(m) for m in batch))
            now = self._now()
            async with self._uow() as uow:
                for message, error in zip(batch, outcomes, strict=True):
                    OUTBOX_DELIVERIES.labels(outcome=_outcome(error)).inc()
                    if error is None:
                        if await uow.outbox.mark_delivered(message.id, now):
                            delivered += 1
                    else:
                        failed_orders.add(message.order_id)
                        await uow.outbox.mark_failed(
                            message.id, str(error), self._retry_at(message, error, now)
                        )
        return delivered

    async def _send(self, message: OutboxMessage) -> OrdersError | None:
        try:
            await self._client.apply(message.update)
        except OrdersError as exc:
            return exc
        except Exception as exc:
            # A bug or an unexpected library error must not kill the relay nor lose the lease's message;
            # it is recorded like an outage and retried.
            log.exception("outbox.send_crashed", message_id=message.id, order_id=message.order_id)
            return OrdersError(f"unexpected {type(exc).__name__}")
        log.debug("outbox.delivered", message_id=message.id, order_id=message.order_id, seq=message.seq)
        return None

    def _retry_at(self, message: OutboxMessage, error: OrdersError, now: datetime) -> datetime:
        attempts = message.attempts + 1
        if isinstance(error, OrdersRejected):
            delay = backoff_seconds(attempts, base=self._rejected_base, cap=self._rejected_max, rng=self._rng)
            # Never dropped: the diff stays in the outbox and blocks its order's later diffs until a
            # person looks (``payments outbox list``) and retries it (``payments outbox retry``).
            log.error(
                "outbox.rejected_by_orders",
                message_id=message.id,
                order_id=message.order_id,
                seq=message.seq,
                attempts=attempts,
                error=str(error),
                retry_in_seconds=round(delay, 1),
            )
        else:
            delay = backoff_seconds(attempts, base=self._base_backoff, cap=self._max_backoff, rng=self._rng)
            log.warning(
                "outbox.delivery_failed",
                message_id=message.id,
                order_id=message.order_id,
                seq=message.seq,
                attempts=attempts,
                error=str(error),
                retry_in_seconds=round(delay, 1),
            )
        return now + timedelta(seconds=delay)

    async def run_forever(self, poll_seconds: float, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; polls every ``poll_seconds``, at once again while work is flowing."""
        log.info("outbox.relay_started", poll_seconds=poll_seconds)
        while not stop.is_set():
            try:
                delivered = await self.run_once()
            except Exception:
                # The database may be briefly unreachable; the relay outlives it.
                log.exception("outbox.round_failed")
                delivered = 0
            if delivered:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
        log.info("outbox.relay_stopped")
