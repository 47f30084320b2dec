"""The referral module's repositories over a unit of work's connection (Protocols: ``referrals/ports.py``)."""

from __future__ import annotations

from payments.adapters.db.referrals.audit import SqlAuditRepository
from payments.adapters.db.referrals.commissions import SqlCommissionRepository
from payments.adapters.db.referrals.identities import SqlIdentityRepository
from payments.adapters.db.referrals.reports import SqlReportRepository
from payments.adapters.db.referrals.totals import SqlDailyTotals
from payments.adapters.db.repositories import ConnectionSource


class SqlReferralRepositories:
    """Built once per unit of work; each repository asks the unit of work for its connection when it
    runs, so on PostgreSQL the writes the unit of work holds back are sent before a referral statement."""

    def __init__(self, connection: ConnectionSource) -> None:
        self.commissions = SqlCommissionRepository(connection)
        self.audit = SqlAuditRepository(connection)
        self.totals = SqlDailyTotals(connection)
        self.identities = SqlIdentityRepository(connection)
        self.reports = SqlReportRepository(connection)


__all__ = ["SqlReferralRepositories"]
