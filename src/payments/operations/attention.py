"""The console's landing page: every queue a person may have to look at, its size and its oldest item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments.records import QueueRows
from payments.unit_of_work import UnitOfWorkFactory

SHOWN = 25  # rows listed per queue; the count and the oldest are over all of them

REVIEW = "review"
EVENTS = "events"
OUTBOX = "outbox"
HELD = "held"
REFUNDS = "refunds"


@dataclass(frozen=True, slots=True)
class Queue:
    key: str
    title: str
    count: int
    oldest_at: datetime | None
    items: tuple[dict[str, Any], ...]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.items))

    @classmethod
    def of(cls, key: str, title: str, rows: QueueRows) -> Queue:
        return cls(key, title, rows.count, rows.oldest_at, rows.items)


@dataclass(frozen=True, slots=True)
class Attention:
    queues: tuple[Queue, ...]
    last_outbox_error: str | None

    def queue(self, key: str) -> Queue:
        return next(q for q in self.queues if q.key == key)


class AttentionQueues:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def needs_attention(self) -> Attention:
        async with self._uow() as uow:
            reads = uow.operator_reads
            queues = (
                Queue.of(REVIEW, "Payments to review", await reads.payments_to_review(SHOWN)),
                Queue.of(
                    EVENTS,
                    "Stripe events failed, deferred or unreadable",
                    await reads.events_needing_look(SHOWN),
                ),
                Queue.of(
                    OUTBOX, "Order updates not delivered to Orders", await reads.undelivered_diffs(SHOWN)
                ),
                Queue.of(HELD, "Commissions held", await reads.held_commissions(SHOWN)),
                Queue.of(
                    REFUNDS,
                    "Refunds reserved, not confirmed by Stripe",
                    await reads.unconfirmed_refunds(SHOWN),
                ),
            )
            last_error = await uow.outbox.last_error()
        return Attention(queues, last_error)
