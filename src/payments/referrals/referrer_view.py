"""What a referrer may see of its own commissions: no customer identity, no fraud guard's reason.

A referrer who learns which guard refused a commission (shared card, velocity, elevated risk, …) learns how
to get past it next time, and the referred customer's user id is the customer's, not the referrer's. So a
referrer sees a commission's money, dates and status, and a reason only from ``PUBLIC_REASONS``; any other
reason reads ``not_eligible`` (refused, canceled) or ``under_review`` (held). Admins keep the full
``Commission``. Every referrer-facing surface (JSON report, commission lookups, the CSV's cells in
``csv_rows``, the dashboard) goes through ``for_referrer`` so the rule lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.domain.commission import CommissionStatus
from payments.referrals.models import Commission, CurrencyNet, Report, StatusTotal

NOT_ELIGIBLE = "not_eligible"
UNDER_REVIEW = "under_review"
# Facts about the payment the referrer is told anyway (its commission moves with them), never a guard's rule.
PUBLIC_REASONS = frozenset({"dispute_open", "dispute_lost"})


@dataclass(frozen=True, slots=True)
class ReferrerCommission:
    id: str
    order_id: str
    status: CommissionStatus
    reason: str | None
    currency: str
    payment_amount: int
    rate_bps: int
    original_amount: int
    amount: int
    hold_until: datetime | None
    paid_at: datetime | None
    payout_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReferrerReport:
    referrer_id: str
    totals: tuple[StatusTotal, ...]
    net: tuple[CurrencyNet, ...]
    items: tuple[ReferrerCommission, ...]
    next_cursor: str | None
    filters: dict[str, str | None]


def public_reason(status: CommissionStatus, reason: str | None) -> str | None:
    if reason is None or reason in PUBLIC_REASONS:
        return reason
    return UNDER_REVIEW if status is CommissionStatus.HELD else NOT_ELIGIBLE


def for_referrer(commission: Commission) -> ReferrerCommission:
    return ReferrerCommission(
        id=commission.id,
        order_id=commission.order_id,
        status=commission.status,
        reason=public_reason(commission.status, commission.reason),
        currency=commission.currency,
        payment_amount=commission.payment_amount,
        rate_bps=commission.rate_bps,
        original_amount=commission.original_amount,
        amount=commission.amount,
        hold_until=commission.hold_until,
        paid_at=commission.paid_at,
        payout_id=commission.payout_id,
        created_at=commission.created_at,
        updated_at=commission.updated_at,
    )


def report_for_referrer(report: Report) -> ReferrerReport:
    return ReferrerReport(
        referrer_id=report.referrer_id,
        totals=report.totals,
        net=report.net,
        items=tuple(for_referrer(c) for c in report.items),
        next_cursor=report.next_cursor,
        filters=report.filters,
    )


__all__ = [
    "NOT_ELIGIBLE",
    "PUBLIC_REASONS",
    "UNDER_REVIEW",
    "ReferrerCommission",
    "ReferrerReport",
    "for_referrer",
    "public_reason",
    "report_for_referrer",
]
