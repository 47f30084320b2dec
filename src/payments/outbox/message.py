"""One notification owed to Orders: an ``order_state_diffs`` row that has not been delivered yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping

from payments.adapters.db.timestamps import as_utc
from payments.domain.state_diff import OrderUpdate

__all__ = ["OutboxMessage"]


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: str  # also the idempotency key Orders sees
    order_id: str
    seq: int
    payment_id: str
    from_state: str
    to_state: str
    amount_paid: int
    amount_refunded: int
    currency: str
    cause_event_id: str
    cause_event_type: str
    at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None
    delivered_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        return self.id

    @classmethod
    def from_row(cls, row: RowMapping) -> OutboxMessage:
        delivered_at = row["delivered_at"]
        return cls(
            id=row["id"],
            order_id=row["order_id"],
            seq=int(row["seq"]),
            payment_id=row["payment_id"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            amount_paid=int(row["amount_paid"]),
            amount_refunded=int(row["amount_refunded"]),
            currency=row["currency"],
            cause_event_id=row["cause_event_id"],
            cause_event_type=row["cause_event_type"],
            at=as_utc(row["at"]),
            next_attempt_at=as_utc(row["next_attempt_at"]),
            attempts=int(row["attempts"]),
            last_error=row["last_error"],
            delivered_at=as_utc(delivered_at) if delivered_at is not None else None,
        )

    @property
    def update(self) -> OrderUpdate:
        """What Orders is told; the rest (attempts, next try, last error) is the relay's bookkeeping."""
        return OrderUpdate(
            idempotency_key=self.id,
            order_id=self.order_id,
            payment_id=self.payment_id,
            seq=self.seq,
            from_state=self.from_state,
            to_state=self.to_state,
            amount_paid=self.amount_paid,
            amount_refunded=self.amount_refunded,
            currency=self.currency,
            cause_event_id=self.cause_event_id,
            cause_event_type=self.cause_event_type,
            at=self.at,
        )
