"""An order's payment attempts, and the Checkout Session lifetime Stripe accepts. Pure: no IO, no clock.

An order may need several payments over time (a session expired, a card was declined, a payment was
canceled); each is an *attempt*. At most one attempt is live at a time, and once one has been paid the
order takes no further attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from payments.domain.payment_state import PaymentStatus

LIVE = frozenset({PaymentStatus.OPEN, PaymentStatus.PROCESSING})
# An order past this many attempts takes no more (409): each is listed whole, and no real order needs more.
MAX_ATTEMPTS = 100
ENDED_UNPAID = frozenset({PaymentStatus.EXPIRED, PaymentStatus.FAILED, PaymentStatus.CANCELED})


def is_live(status: PaymentStatus) -> bool:
    return status in LIVE


def is_paid(status: PaymentStatus) -> bool:
    """Stripe took money (succeeded, refunded, disputed, or paid but waiting for review)."""
    return status not in LIVE and status not in ENDED_UNPAID


class NextStep(StrEnum):
    FIRST = "first"  # no attempt yet
    ANSWER_LIVE = "answer_live"  # the live attempt answers (same terms) or conflicts (other terms)
    NEW_ATTEMPT = "new_attempt"  # the latest attempt ended unpaid: the order may pay again
    ALREADY_PAID = "already_paid"


def next_step(latest: PaymentStatus | None) -> NextStep:
    if latest is None:
        return NextStep.FIRST
    if is_live(latest):
        return NextStep.ANSWER_LIVE
    if latest in ENDED_UNPAID:
        return NextStep.NEW_ATTEMPT
    return NextStep.ALREADY_PAID


# Stripe accepts a Checkout Session's expires_at from 30 minutes to 24 hours after the session's creation.
STRIPE_MIN_LIFETIME = timedelta(minutes=30)
STRIPE_MAX_LIFETIME = timedelta(hours=24)
# Between our clock and Stripe's creation of the session: request latency, SDK retries, clock skew.
SAFETY_MARGIN = timedelta(minutes=2)
MIN_LIFETIME = STRIPE_MIN_LIFETIME + SAFETY_MARGIN
MAX_LIFETIME = STRIPE_MAX_LIFETIME - SAFETY_MARGIN


@dataclass(frozen=True, slots=True)
class CheckoutWindow:
    """The expires_at sent to Stripe, and the idempotency-key generation it was sent under."""

    expires_at: datetime
    generation: int


def window_for_call(now: datetime, current: CheckoutWindow | None, lifetime: timedelta) -> CheckoutWindow:
    """The window to send Stripe now: the stored one while Stripe would still accept it, else a fresh one.

    A retry must resend the very parameters of its idempotency key (Stripe refuses a key reused with other
    parameters), so a fresh window comes with the next key generation.
    """
    if current is not None and MIN_LIFETIME <= current.expires_at - now <= MAX_LIFETIME:
        return current
    return CheckoutWindow(now + lifetime, 0 if current is None else current.generation + 1)


def idempotency_key(payment_id: str, operation: str, generation: int) -> str:
    """Generation 0 keeps the plain key, so a call made before generations existed replays as it was."""
    return f"{payment_id}:{operation}" if generation == 0 else f"{payment_id}:{operation}:{generation}"
