"""Referral commissions: accrual from payment changes, fraud guards, payouts, reports, audit chain."""

from payments.referrals.access import (
    InvalidReferrerToken,
    TokenPolicy,
    issue_referrer_token,
    referrer_from_token,
)
from payments.referrals.models import (
    Adjustment,
    AuditAction,
    AuditEntry,
    AuditVerification,
    Commission,
    CommissionConflict,
    CommissionError,
    CommissionNotFound,
    CurrencyNet,
    InvalidCursor,
    InvalidReportQuery,
    NothingToPay,
    Payout,
    PayoutLine,
    Report,
    StatusTotal,
)
from payments.referrals.service import CommissionService

__all__ = [
    "Adjustment",
    "AuditAction",
    "AuditEntry",
    "AuditVerification",
    "Commission",
    "CommissionConflict",
    "CommissionError",
    "CommissionNotFound",
    "CommissionService",
    "CurrencyNet",
    "InvalidCursor",
    "InvalidReferrerToken",
    "InvalidReportQuery",
    "NothingToPay",
    "Payout",
    "PayoutLine",
    "Report",
    "StatusTotal",
    "TokenPolicy",
    "issue_referrer_token",
    "referrer_from_token",
]
