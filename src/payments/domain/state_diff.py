"""What Orders hears: the order's state, derived from the payment, and the diff between two of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from payments.domain.payment_state import PaymentFacts, PaymentStatus


class OrderState(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    EXPIRED = "expired"
    # Ended by a cancel (ours, or the PaymentIntent's at Stripe): the order may take another attempt.
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


_ORDER_STATE = {
    PaymentStatus.OPEN: OrderState.PENDING,
    PaymentStatus.PROCESSING: OrderState.PENDING,
    # Paid, but not what was asked: Orders must not ship; the payment waits for a person.
    PaymentStatus.NEEDS_REVIEW: OrderState.PENDING,
    PaymentStatus.SUCCEEDED: OrderState.PAID,
    PaymentStatus.FAILED: OrderState.PAYMENT_FAILED,
    PaymentStatus.CANCELED: OrderState.CANCELED,
    PaymentStatus.EXPIRED: OrderState.EXPIRED,
    PaymentStatus.PARTIALLY_REFUNDED: OrderState.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED: OrderState.REFUNDED,
    PaymentStatus.DISPUTED: OrderState.DISPUTED,
}


def order_state_of(status: PaymentStatus) -> OrderState:
    return _ORDER_STATE[status]


@dataclass(frozen=True, slots=True)
class OrderView:
    """The part of a payment that Orders cares about."""

    state: OrderState
    amount_paid: int
    amount_refunded: int

    @classmethod
    def of(cls, status: PaymentStatus, facts: PaymentFacts) -> OrderView:
        counts_as_paid = facts.succeeded and status is not PaymentStatus.NEEDS_REVIEW
        return cls(
            state=order_state_of(status),
            amount_paid=facts.amount_received if counts_as_paid else 0,
            amount_refunded=facts.amount_refunded if counts_as_paid else 0,
        )


@dataclass(frozen=True, slots=True)
class Cause:
    """Why a payment changed: a Stripe event, or one of our own API calls (event_type ``api.*``)."""

    event_id: str
    event_type: str


@dataclass(frozen=True, slots=True)
class StateDiff:
    order_id: str
    payment_id: str
    from_state: OrderState
    to_state: OrderState
    amount_paid: int
    amount_refunded: int
    currency: str
    cause: Cause


def diff_between(
    order_id: str, payment_id: str, currency: str, before: OrderView, after: OrderView, cause: Cause
) -> StateDiff | None:
    """A diff when Orders would see a change (state or amounts), else None."""
    if before == after:
        return None
    return StateDiff(
        order_id=order_id,
        payment_id=payment_id,
        from_state=before.state,
        to_state=after.state,
        amount_paid=after.amount_paid,
        amount_refunded=after.amount_refunded,
        currency=currency,
        cause=cause,
    )


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One numbered diff as Orders receives it; Orders drops a repeat by its ``idempotency_key``."""

    idempotency_key: str
    order_id: str
    payment_id: str
    seq: int
    from_state: str
    to_state: str
    amount_paid: int
    amount_refunded: int
    currency: str
    cause_event_id: str
    cause_event_type: str
    at: datetime
