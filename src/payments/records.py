"""The records storage hands to the features: plain, frozen data with no IO.

The repositories under ``adapters/db`` build them from rows; the services and the fakes in
``tests/support/fakes.py`` build them the same way, so a feature never needs a database type to read one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus, RefundStatus
from payments.domain.state_diff import OrderUpdate


def _utc(moment: datetime) -> datetime:
    """SQLite hands ``DateTime(timezone=True)`` back naive; everything we store is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: str
    order_id: str
    attempt: int
    superseded: bool
    user_id: str
    amount: int
    currency: str
    mode: str
    status: str
    amount_refunded: int
    description: str | None
    customer_email: str | None
    referrer_id: str | None
    success_url: str | None
    cancel_url: str | None
    terms_hash: str
    idempotency_key: str | None
    checkout_url: str | None
    client_secret: str | None
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    stripe_charge_id: str | None
    facts: dict[str, Any]
    last_error: str | None
    stripe_expires_at: datetime | None
    stripe_key_generation: int
    version: int
    diff_seq: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PaymentRecord:
        values = {name: row[name] for name in cls.__slots__}
        for name in ("created_at", "updated_at", "stripe_expires_at"):
            if values[name] is not None:
                values[name] = _utc(values[name])
        return cls(**values)

    def snapshot(self) -> PaymentSnapshot:
        return PaymentSnapshot(
            payment_id=self.id,
            order_id=self.order_id,
            user_id=self.user_id,
            amount=self.amount,
            currency=self.currency,
            referrer_id=self.referrer_id,
            customer_email=self.customer_email,
            status=PaymentStatus(self.status),
            facts=PaymentFacts.from_json(self.facts),
        )


REQUESTED = "requested"  # written before we call Stripe; reserves the amount against over-refunds
# A refund's status only moves forward, whichever of its three events arrives first
# (adapters/db/unit_of_work.py says the same in SQL, built from this table).
STATUS_RANK = {
    REQUESTED: 0,
    RefundStatus.PENDING.value: 1,
    RefundStatus.SUCCEEDED.value: 2,
    RefundStatus.FAILED.value: 3,
}


@dataclass(frozen=True, slots=True)
class RefundRecord:
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    source: str
    stripe_refund_id: str | None
    idempotency_key: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> RefundRecord:
        m = getattr(row, "_mapping", row)
        values = {name: m[name] for name in cls.__slots__}
        values["created_at"] = _utc(values["created_at"])
        return cls(**values)


class EventStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"  # unknown type, wrong livemode, nothing of ours: recorded, no effect
    DEFERRED = "deferred"  # about a payment we cannot place yet; applied when it is linked
    FAILED = "failed"  # the handler raised; Stripe retries, `payments events replay` can too


# Statuses after which a delivery is answered as a duplicate without processing again.
SETTLED = frozenset({EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.DEFERRED})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: str
    type: str
    status: EventStatus
    payload: str
    attempts: int


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A delivered event as the ledger stores it."""

    id: str
    type: str
    livemode: bool
    api_version: str | None
    created: int
    payload: str

    @classmethod
    def of(cls, event: dict[str, Any], payload: str) -> IncomingEvent:
        return cls(
            id=str(event["id"]),
            type=str(event.get("type", "")),
            livemode=bool(event.get("livemode")),
            api_version=event.get("api_version"),
            created=int(event.get("created") or 0),
            payload=payload,
        )


@dataclass(frozen=True, slots=True)
class EventNeedingLook:
    id: str
    type: str
    status: EventStatus
    attempts: int
    error: str | None
    received_at: datetime


# What `payments events list` shows by default: what no code path will settle without a person or a retry,
# and (``needs_a_look``) an ignored event kept with a reason: a signed event we could not read, which a
# replay applies once the code can.
NEEDING_LOOK = (EventStatus.FAILED, EventStatus.DEFERRED)


def needs_a_look(status: EventStatus, error: str | None) -> bool:
    """Listed for a person by default, and never pruned."""
    return status in NEEDING_LOOK or (status is EventStatus.IGNORED and error is not None)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One notification owed to Orders: an ``order_state_diffs`` row that has not been delivered yet."""

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


@dataclass(frozen=True, slots=True)
class QueueRows:
    """One operator queue as storage reads it: its size and oldest over all rows, the first few listed.

    Each item holds the columns the console shows and ``since``, the time the queue is ordered by (UTC).
    """

    count: int
    oldest_at: datetime | None
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class OperatorAction:
    """One entry of the operator action log: who did what to which id, and what came of it."""

    id: str
    at: datetime
    actor: str
    action: str
    subject: str
    outcome: str
    ok: bool
