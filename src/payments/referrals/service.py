"""CommissionService: the referral module's one entry, a thin facade over its jobs.

The jobs are ``accrual`` (a payment's facts → its commission), ``payouts`` (release, pay, a person's
decision, bans), ``reporting`` (report, earnings, CSV) and ``audit`` (the hash chain); the commission life
cycle itself is ``domain/commission_lifecycle.py``. Each call here opens its own unit of work and ends it
before answering, except ``on_payment_changed``, which runs inside the webhook's (the payment's change
and its commission's commit together). Callers translate to one call and never hold a transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from payments.config import Settings
from payments.domain.commission import CommissionRule, ReferrerEarnings
from payments.domain.payment import PaymentSnapshot
from payments.domain.state_diff import Cause
from payments.referrals.accrual import Accrual
from payments.referrals.audit import AuditLog
from payments.referrals.models import (
    Adjustment,
    AuditEntry,
    AuditVerification,
    Commission,
    CurrencyNet,
    Payout,
    Report,
)
from payments.referrals.payouts import RELEASE_ACTOR, Payouts
from payments.referrals.recording import ChangeRecorder
from payments.referrals.referrer_view import ReferrerReport, report_for_referrer
from payments.referrals.reporting import ReportFilter, Reports
from payments.unit_of_work import UnitOfWork, UnitOfWorkFactory

TOP_REFERRERS = 100


class CommissionService:
    def __init__(
        self, settings: Settings, uow: UnitOfWorkFactory, exports: UnitOfWorkFactory | None = None
    ) -> None:
        """``exports``: the CSV downloads' units of work, on a small pool of their own so that slow
        downloads cannot take the connections webhooks need (``uow`` when not given)."""
        rule = CommissionRule(
            rate_bps=settings.commission_rate_bps,
            min_amount=settings.commission_min_amount,
            hold_days=settings.commission_hold_days,
        )
        self._uow = uow
        self._exports = exports or uow
        self._audit = AuditLog(settings.audit_keyring())
        recorder = ChangeRecorder(self._audit)
        self.accrual = Accrual(rule, settings.referral_velocity_per_hour, recorder)
        self.payouts = Payouts(recorder)
        self.reports = Reports()

    # -- accrual ---------------------------------------------------------------------------------------
    async def on_payment_changed(
        self,
        tx: UnitOfWork,
        before: PaymentSnapshot,
        after: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None:
        """The webhook path's hook (``CommissionHook``), in the payment's own unit of work."""
        await self.accrual.on_payment_changed(tx, before, after, cause, now)

    async def accrue_commission(
        self, payment: PaymentSnapshot, cause: Cause, now: datetime
    ) -> Commission | None:
        """A succeeded, referred payment's commission (``Accrual.accrue``), in a unit of work of its own."""
        async with self._uow() as uow:
            return await self.accrual.accrue(uow.referrals, payment, cause, now)

    # -- payouts and moderation ------------------------------------------------------------------------
    async def release_due(self, now: datetime) -> int:
        async with self._uow() as uow:
            return await self.payouts.release_due(uow.referrals, now)

    async def mark_commission_paid(self, commission_id: str, actor: str, now: datetime) -> Commission:
        async with self._uow() as uow:
            return await self.payouts.mark_paid(uow.referrals, commission_id, actor, now)

    async def pay_referrer(self, referrer_id: str, actor: str, now: datetime) -> Payout:
        async with self._uow() as uow:
            return await self.payouts.pay_referrer(uow.referrals, referrer_id, actor, now)

    async def decide_held(self, commission_id: str, approve: bool, actor: str, now: datetime) -> Commission:
        async with self._uow() as uow:
            return await self.payouts.decide_held(uow.referrals, commission_id, approve, actor, now)

    async def ban_referrer(self, referrer_id: str, actor: str, reason: str, now: datetime) -> int:
        async with self._uow() as uow:
            return await self.payouts.ban_referrer(uow.referrals, referrer_id, actor, reason, now)

    async def unban_referrer(self, referrer_id: str, actor: str, reason: str, now: datetime) -> bool:
        async with self._uow() as uow:
            return await self.payouts.unban_referrer(uow.referrals, referrer_id, actor, reason, now)

    # -- reading ---------------------------------------------------------------------------------------
    async def get_commission(self, commission_id: str) -> Commission | None:
        async with self._uow() as uow:
            return await uow.referrals.commissions.get(commission_id)

    async def get_adjustments(self, commission_id: str) -> list[Adjustment]:
        async with self._uow() as uow:
            return await uow.referrals.commissions.adjustments_of(commission_id)

    async def get_audit(self, commission_id: str) -> list[AuditEntry]:
        async with self._uow() as uow:
            return await self._audit.for_commission(uow.referrals.audit, commission_id)

    async def verify_audit_chain(self) -> AuditVerification:
        async with self._uow() as uow:
            return await self._audit.verify(uow.referrals.audit)

    async def get_report(
        self,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Report:
        """Totals and one page, newest first. The period is [from, to) on created_at; status narrows both
        the totals and the page; limit is capped at 500. Raises InvalidReportQuery (or its subclass
        InvalidCursor) for a bad status, period, limit or cursor."""
        where = ReportFilter.of(referrer_id, period_from, period_to, status)
        async with self._uow() as uow:
            return await self.reports.report(uow.referrals.reports, where, limit, cursor)

    async def get_referrer_report(
        self,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ReferrerReport:
        """``get_report`` as the referrer may see it: no customer identity, no guard's reason."""
        report = await self.get_report(
            referrer_id,
            period_from=period_from,
            period_to=period_to,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return report_for_referrer(report)

    async def earnings_by_period(
        self, referrer_id: str, periods: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[CurrencyNet, ...]]:
        """Per [from, to) period, the same ``net`` figures ``get_report`` answers for that period."""
        wheres = [ReportFilter.of(referrer_id, start, end, None) for start, end in periods]
        async with self._uow() as uow:
            return [await self.reports.earnings(uow.referrals.reports, where) for where in wheres]

    async def top_referrers(self, limit: int = TOP_REFERRERS) -> list[ReferrerEarnings]:
        """For the console: the referrers who earned most (per currency), then banned ones without
        earnings, each with their ban (so each can be unbanned)."""
        async with self._uow() as uow:
            return await uow.referrals.reports.top_referrers(limit)

    async def stream_report_csv(
        self,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        for_referrer: bool = False,
    ) -> AsyncIterator[str]:
        """CSV lines (header first), read in keyset batches while the caller sends them. The filters are
        checked before the header is produced, so a caller that awaits the first line before starting
        its response can still answer a bad status or period, or an export over ``CSV_MAX_ROWS`` rows
        (ExportTooLarge), with a 422. ``for_referrer``: the columns a referrer may see, for a referrer's
        own download."""
        where = ReportFilter.of(referrer_id, period_from, period_to, status)
        async for line in self.reports.csv_lines(self._exports, where, for_referrer=for_referrer):
            yield line


__all__ = ["RELEASE_ACTOR", "CommissionService"]
