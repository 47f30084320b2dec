"""What the referral module hands back to its callers (HTTP, gRPC, CLI): plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payments.domain.commission import (
    Adjustment,
    AuditAction,
    Commission,
    CommissionStatus,
    PayoutLine,
)
from payments.errors import Busy, FailedPrecondition, InvalidRequest, NotFound, ServiceError


class CommissionError(ServiceError):
    """Base of the module's errors; each also takes the kind of a general error (payments.errors)."""

    code = "commission_error"


class CommissionNotFound(CommissionError, NotFound):
    code = "commission_not_found"


class CommissionConflict(CommissionError, FailedPrecondition):
    """The commission is not in a status that allows the action."""

    code = "commission_conflict"


class NothingToPay(CommissionError, FailedPrecondition):
    code = "nothing_to_pay"


class InvalidReportQuery(CommissionError, InvalidRequest, ValueError):
    """A report parameter (status, limit, period) that cannot be answered."""

    code = "invalid_report_query"


class InvalidCursor(InvalidReportQuery):
    code = "invalid_cursor"


class ExportTooLarge(InvalidReportQuery):
    code = "export_too_large"


class ExportsBusy(CommissionError, Busy):
    """Every connection of the CSV exports' own pool is in use; the same download may work shortly."""

    code = "exports_busy"


@dataclass(frozen=True, slots=True)
class Payout:
    id: str
    referrer_id: str
    actor: str
    created_at: datetime
    lines: tuple[PayoutLine, ...]
    commission_ids: tuple[str, ...]
    adjustment_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    seq: int
    commission_id: str | None
    referrer_id: str | None
    payment_id: str | None
    action: AuditAction
    actor: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    count: int
    first_bad_entry_id: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class StatusTotal:
    status: CommissionStatus
    currency: str
    count: int
    original_amount: int
    amount: int


@dataclass(frozen=True, slots=True)
class CurrencyNet:
    """Per currency: what was earned, what refunds and disputes took back, and what remains.

    ``gross`` sums the original amounts of earning commissions (pending, approved, held, paid, reversed);
    ``clawed_back`` is what refunds and lost disputes removed from them, whether before payment (a smaller
    amount) or after (adjustments); ``net = gross - clawed_back``. ``unsettled_adjustments`` is what the
    next payout will net.
    """

    currency: str
    gross: int
    clawed_back: int
    net: int
    paid: int
    unsettled_adjustments: int


@dataclass(frozen=True, slots=True)
class Report:
    referrer_id: str
    totals: tuple[StatusTotal, ...]
    net: tuple[CurrencyNet, ...]
    items: tuple[Commission, ...]
    next_cursor: str | None
    filters: dict[str, str | None] = field(default_factory=dict)


__all__ = [
    "Adjustment",
    "AuditAction",
    "AuditEntry",
    "AuditVerification",
    "Commission",
    "CommissionConflict",
    "CommissionError",
    "CommissionNotFound",
    "CurrencyNet",
    "ExportTooLarge",
    "ExportsBusy",
    "InvalidCursor",
    "InvalidReportQuery",
    "NothingToPay",
    "Payout",
    "PayoutLine",
    "Report",
    "StatusTotal",
]
