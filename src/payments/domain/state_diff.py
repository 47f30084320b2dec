"""What Orders hears: the order's state, derived from the payment, and the diff between two of them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus, unresolved_mismatch


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
    # Stripe took money, but not what was asked: Orders must not ship; a person accepts or refunds it.
    NEEDS_REVIEW = "needs_review"


# States that say the order was paid: Orders must have heard ``paid`` before any of the later ones.
_AFTER_PAID = frozenset({OrderState.PARTIALLY_REFUNDED, OrderState.REFUNDED, OrderState.DISPUTED})
_HEARD_PAID = _AFTER_PAID | {OrderState.PAID}

_ORDER_STATE = {
    PaymentStatus.OPEN: OrderState.PENDING,
    PaymentStatus.PROCESSING: OrderState.PENDING,
    PaymentStatus.NEEDS_REVIEW: OrderState.NEEDS_REVIEW,
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
    currency: str = ""  # of the amounts: what Stripe received in, once it did; empty, the payment's own

    @classmethod
    def of(cls, status: PaymentStatus, facts: PaymentFacts) -> OrderView:
        # The amounts are what Stripe took and gave back, so their currency is Stripe's too: another than
        # asked on a payment under review, and still after a person accepted or refunded it.
        return cls(
            state=order_state_of(status),
            amount_paid=facts.amount_received if facts.succeeded else 0,
            amount_refunded=facts.amount_refunded if facts.succeeded else 0,
            currency=facts.currency_received if facts.succeeded else "",
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
        currency=after.currency or currency,
        cause=cause,
    )


def order_diffs(before: PaymentSnapshot, after: PaymentSnapshot, cause: Cause) -> list[StateDiff]:
    """What Orders hears when a payment goes from ``before`` to ``after``: ``paid`` always first.

    Events arrive in any order, so the fold may jump from pending straight to refunded or disputed
    (a refund event seen before the success). An Orders service that ships on ``paid`` must still hear
    it, once, before any later state: the jump is told as two diffs, ``paid`` (nothing refunded yet)
    and then the state reached. A payment refunded after a review found the wrong amount was never
    paid for Orders, so it goes ``needs_review -> refunded`` without ``paid``.
    """
    old = OrderView.of(before.status, before.facts)
    new = OrderView.of(after.status, after.facts)
    views = [old]
    if (
        new.state in _AFTER_PAID
        and old.state not in _HEARD_PAID
        and not unresolved_mismatch(after.facts, after.amount, after.currency)
    ):
        views.append(OrderView(OrderState.PAID, new.amount_paid, 0, new.currency))
    views.append(new)
    diffs = []
    for a, b in itertools.pairwise(views):
        diff = diff_between(before.order_id, before.payment_id, before.currency, a, b, cause)
        if diff is not None:
            diffs.append(diff)
    return diffs


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
