"""Commission arithmetic: integer minor units and basis points only, always rounding down.

Rounding down (floor) on every step means the service never owes a referrer a fraction it cannot pay and
never claws back more than it paid. The remaining commission after refunds is recomputed from the
*cumulative* refunded amount rather than adjusted step by step, so it depends only on the facts, not on
the order refunds were reported in: 10 000 at 10 % is 1 000; after refunds of 3 000, 3 000 and 4 000 the
remaining commission is 700, 400 and 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from payments.domain.money import Money

BPS_DENOMINATOR = 10_000


class CommissionStatus(StrEnum):
    PENDING = "pending"  # inside the hold period
    APPROVED = "approved"  # hold period over; owed at the next payout
    PAID = "paid"  # final: later changes become adjustments, the row is never edited
    HELD = "held"  # waits for a person (a guard, or an open dispute)
    REFUSED = "refused"  # a guard refused it; kept so the refusal is reported and audited
    CANCELED = "canceled"  # the referrer was banned
    REVERSED = "reversed"  # the dispute was lost


# Statuses whose amount still follows the payment (refunds shrink it, a failed refund restores it).
LIVE_STATUSES = frozenset({CommissionStatus.PENDING, CommissionStatus.APPROVED, CommissionStatus.HELD})
# Statuses that count as earned in a report: the gross, and what refunds and disputes took back from it.
EARNING_STATUSES = frozenset(LIVE_STATUSES | {CommissionStatus.PAID, CommissionStatus.REVERSED})


class AuditAction(StrEnum):
    """What an audit entry says happened to a commission or a referrer."""

    ACCRUED = "accrued"
    REFUSED = "refused"
    HELD = "held"
    RELEASED = "released"
    APPROVED = "approved"
    PAID = "paid"
    ADJUSTED = "adjusted"
    REVERSED = "reversed"
    RESTORED = "restored"
    CANCELED = "canceled"
    BANNED = "banned"
    UNBANNED = "unbanned"


@dataclass(frozen=True, slots=True)
class Commission:
    """One order's commission as stored (``referral_commissions``)."""

    id: str
    order_id: str
    payment_id: str
    referrer_id: str
    customer_user_id: str
    currency: str
    payment_amount: int
    original_amount: int
    amount: int
    rate_bps: int
    min_amount: int
    hold_days: int
    status: CommissionStatus
    reason: str | None
    status_before_hold: CommissionStatus | None
    hold_until: datetime | None
    paid_at: datetime | None
    payout_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A signed change to a paid commission (which is never edited), netted in a later payout."""

    id: str
    commission_id: str
    referrer_id: str
    currency: str
    amount: int
    reason: str
    cause_event_id: str
    created_at: datetime
    payout_id: str | None
    settled_at: datetime | None


@dataclass(frozen=True, slots=True)
class PayoutLine:
    currency: str
    commissions_amount: int
    adjustments_amount: int
    net_amount: int
    commission_count: int
    adjustment_count: int


@dataclass(frozen=True, slots=True)
class ReferrerEarnings:
    """One referrer's earnings in one currency, as the console ranks them, with their ban if any."""

    referrer_id: str
    currency: str
    commissions: int
    gross: int  # original amounts of the earning commissions
    current: int  # what those commissions are worth now, before paid commissions' adjustments
    banned_at: datetime | None
    ban_reason: str | None


@dataclass(frozen=True, slots=True)
class CommissionFilter:
    """Which of a referrer's commissions a report or export covers: [period_from, period_to) on
    created_at, and one status or all."""

    referrer_id: str
    period_from: datetime | None = None
    period_to: datetime | None = None
    status: CommissionStatus | None = None


_DAY = timedelta(days=1)


def as_utc(moment: datetime) -> datetime:
    """UTC; a naive moment is taken as UTC already (SQLite hands stored times back naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def day_of(moment: datetime) -> datetime:
    """The UTC day a commission's daily totals count it in."""
    return as_utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def first_whole_day(moment: datetime) -> datetime:
    start = day_of(moment)
    return start if start == as_utc(moment) else start + _DAY


@dataclass(frozen=True, slots=True)
class CommissionRule:
    """The terms a commission was accrued under; stored on it so a later change of settings never
    rewrites what was already promised."""

    rate_bps: int
    min_amount: int
    hold_days: int

    def __post_init__(self) -> None:
        if not 0 <= self.rate_bps <= BPS_DENOMINATOR:
            raise ValueError("rate_bps must be between 0 and 10 000")
        if self.min_amount < 0 or self.hold_days < 0:
            raise ValueError("min_amount and hold_days must not be negative")


def commission_for(amount: int, rate_bps: int) -> int:
    """floor(amount * rate_bps / 10 000)."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    if not 0 <= rate_bps <= BPS_DENOMINATOR:
        raise ValueError("rate_bps must be between 0 and 10 000")
    return amount * rate_bps // BPS_DENOMINATOR


def remaining_after_refunds(original: int, amount: int, refunded: int) -> int:
    """floor(original * (amount - refunded) / amount), with refunded clamped to [0, amount]."""
    if original < 0 or amount < 0:
        raise ValueError("original and amount must not be negative")
    if amount == 0:
        return 0
    kept = amount - min(max(refunded, 0), amount)
    return original * kept // amount


def target_amount(original: int, amount: int, refunded: int, dispute_lost: bool) -> int:
    """What the referrer should end up with, given everything known about the payment now."""
    if dispute_lost:
        return 0
    return remaining_after_refunds(original, amount, refunded)


def payout_net(commissions_total: int, adjustments: Sequence[int]) -> int | None:
    """What one payout sends in a currency: the approved commissions net of every unsettled adjustment, all
    settled together; None while the referrer owes back more than that (nothing is sent, and commissions
    and adjustments wait for later earnings to cover the clawbacks).

    All or nothing: settling some adjustments and not others would pay a referrer whose balance, counting
    the ones left, is below what was sent. A payout is money sent, never money asked back.
    """
    net = commissions_total + sum(adjustments)
    return net if net >= 0 else None


__all__ = [
    "BPS_DENOMINATOR",
    "EARNING_STATUSES",
    "LIVE_STATUSES",
    "Adjustment",
    "AuditAction",
    "Commission",
    "CommissionFilter",
    "CommissionRule",
    "CommissionStatus",
    "PayoutLine",
    "ReferrerEarnings",
    "as_utc",
    "commission_for",
    "day_of",
    "first_whole_day",
    "payout_net",
    "remaining_after_refunds",
    "target_amount",
]
