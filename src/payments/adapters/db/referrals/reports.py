"""A referrer's report and export, read by the database: sums, GROUP BY and keyset pages.

Totals come from the daily totals for the whole days of the period and from the commissions for the
partial days at its edges (``totals.py``), and the adjustments by currency; their cost follows the number
of days in the period, not the number of commissions. Pages are ordered newest first on (created_at, id)
and continue after the last row's key, which an index on (referrer_id, created_at, id) serves without
OFFSET.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, tuple_

from payments.adapters.db.referral_tables import (
    referral_adjustments,
    referral_bans,
    referral_commissions,
    referral_daily_totals,
)
from payments.adapters.db.referrals.commissions import commission_from_row
from payments.adapters.db.referrals.totals import SqlDailyTotals, TotalsKey, TotalsValue
from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.timestamps import as_utc_or_none
from payments.domain.commission import (
    EARNING_STATUSES,
    Commission,
    CommissionFilter,
    CommissionStatus,
    ReferrerEarnings,
)

_c = referral_commissions
_a = referral_adjustments
_t = referral_daily_totals


def _conditions(where: CommissionFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [_c.c.referrer_id == where.referrer_id]
    if where.period_from is not None:
        conditions.append(_c.c.created_at >= where.period_from)
    if where.period_to is not None:
        conditions.append(_c.c.created_at < where.period_to)
    if where.status is not None:
        conditions.append(_c.c.status == where.status.value)
    return conditions


class SqlReportRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection
        self._daily = SqlDailyTotals(connection)

    async def totals(self, where: CommissionFilter) -> dict[TotalsKey, TotalsValue]:
        """(status, currency) → (count, original amount, amount) of the selected commissions."""
        return await self._daily.sum(where.referrer_id, where.period_from, where.period_to, where.status)

    async def adjustments(self, where: CommissionFilter) -> dict[str, tuple[int, int, int]]:
        """Per currency: all, unsettled and settled adjustments of the selected commissions."""
        if where.status not in (None, CommissionStatus.PAID):
            return {}  # only a paid commission is ever adjusted, and paid is final
        conditions: list[ColumnElement[bool]] = [_a.c.referrer_id == where.referrer_id]
        if where.period_from is not None:
            conditions.append(_a.c.commission_created_at >= where.period_from)
        if where.period_to is not None:
            conditions.append(_a.c.commission_created_at < where.period_to)
        unsettled_amount = case((_a.c.payout_id.is_(None), _a.c.amount), else_=0)
        settled_amount = case((_a.c.payout_id.is_not(None), _a.c.amount), else_=0)
        query = (
            select(
                _a.c.currency,
                func.coalesce(func.sum(_a.c.amount), 0).label("total"),
                func.coalesce(func.sum(unsettled_amount), 0).label("unsettled"),
                func.coalesce(func.sum(settled_amount), 0).label("settled"),
            )
            .where(*conditions)
            .group_by(_a.c.currency)
        )
        return {
            row.currency: (int(row.total), int(row.unsettled), int(row.settled))
            for row in await (await self._connection()).execute(query)
        }

    async def page(
        self, where: CommissionFilter, limit: int, after: tuple[datetime, str] | None
    ) -> list[Commission]:
        """Up to ``limit`` commissions newest first, after the (created_at, id) key ``after``."""
        query: Select[Any] = select(_c).where(*_conditions(where))
        if after is not None:
            query = query.where(tuple_(_c.c.created_at, _c.c.id) < tuple_(after[0], after[1]))
        query = query.order_by(_c.c.created_at.desc(), _c.c.id.desc()).limit(limit)
        conn = await self._connection()
        return [commission_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def more_than(self, where: CommissionFilter, rows: int) -> bool:
        """Whether more than ``rows`` commissions match (without counting them all)."""
        beyond = select(_c.c.id).where(*_conditions(where)).offset(rows).limit(1)
        return (await (await self._connection()).execute(beyond)).first() is not None

    async def top_referrers(self, limit: int) -> list[ReferrerEarnings]:
        """Per referrer and currency, from the daily totals (their cost follows days, not commissions),
        the ``limit`` who earned most; then banned referrers not among them, newest ban first."""
        gross = func.sum(_t.c.original_amount)
        query = (
            select(
                _t.c.referrer_id,
                _t.c.currency,
                func.sum(_t.c.count).label("commissions"),
                gross.label("gross"),
                func.sum(_t.c.amount).label("current"),
                referral_bans.c.banned_at,
                referral_bans.c.reason,
            )
            .join(referral_bans, referral_bans.c.referrer_id == _t.c.referrer_id, isouter=True)
            .where(_t.c.status.in_([s.value for s in EARNING_STATUSES]))
            .group_by(_t.c.referrer_id, _t.c.currency, referral_bans.c.banned_at, referral_bans.c.reason)
            .having(func.sum(_t.c.count) > 0)
            .order_by(gross.desc(), _t.c.referrer_id, _t.c.currency)
            .limit(limit)
        )
        conn = await self._connection()
        rows = (await conn.execute(query)).all()
        banned_only = (
            (
                await conn.execute(
                    select(referral_bans).order_by(referral_bans.c.banned_at.desc()).limit(limit)
                )
            )
            .mappings()
            .all()
        )
        ranked = [
            ReferrerEarnings(
                referrer_id=row.referrer_id,
                currency=row.currency,
                commissions=int(row.commissions),
                gross=int(row.gross or 0),
                current=int(row.current or 0),
                banned_at=as_utc_or_none(row.banned_at),
                ban_reason=row.reason,
            )
            for row in rows
        ]
        # A banned referrer with nothing earned still needs its unban button.
        listed = {r.referrer_id for r in ranked}
        ranked += [
            ReferrerEarnings(b["referrer_id"], "", 0, 0, 0, as_utc_or_none(b["banned_at"]), b["reason"])
            for b in banned_only
            if b["referrer_id"] not in listed
        ]
        return ranked
