"""Daily totals per referrer, status and currency, kept in step with the commissions table.

Changes are collected while a transaction changes commissions and applied once at its end, after the
audit chain head is locked: every writer of these rows holds that lock, so the upserts are serialised and
two transactions can never take the same total rows in opposite orders.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.referral_tables import referral_commissions, referral_daily_totals
from payments.domain.commission import CommissionStatus
from payments.referrals.models import Commission
from payments.referrals.portable import upsert_adding, utc

_t = referral_daily_totals
_c = referral_commissions
_DAY = timedelta(days=1)

TotalsKey = tuple[CommissionStatus, str]  # status, currency
TotalsValue = tuple[int, int, int]  # count, original amount, amount


def day_of(moment: datetime) -> datetime:
    return utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def first_whole_day(moment: datetime) -> datetime:
    start = day_of(moment)
    return start if start == utc(moment) else start + _DAY


class TotalsChanges:
    """What one transaction did to the daily totals, netted per row."""

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, datetime, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])

    def added(self, commission: Commission) -> None:
        self._add(commission, 1)

    def moved(self, before: Commission, after: Commission) -> None:
        if (before.status, before.amount, before.original_amount) != (
            after.status,
            after.amount,
            after.original_amount,
        ):
            self._add(before, -1)
            self._add(after, 1)

    def _add(self, commission: Commission, sign: int) -> None:
        key = (
            commission.referrer_id,
            day_of(commission.created_at),
            commission.status.value,
            commission.currency,
        )
        delta = self._deltas[key]
        delta[0] += sign
        delta[1] += sign * commission.original_amount
        delta[2] += sign * commission.amount

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "referrer_id": referrer_id,
                "day": day,
                "status": status,
                "currency": currency,
                "count": count,
                "original_amount": original,
                "amount": amount,
            }
            for (referrer_id, day, status, currency), (count, original, amount) in sorted(
                self._deltas.items()
            )
            if count or original or amount
        ]

    def __bool__(self) -> bool:
        return bool(self.rows())


class DailyTotals:
    async def apply(self, conn: AsyncConnection, changes: TotalsChanges) -> None:
        await upsert_adding(
            conn,
            _t,
            changes.rows(),
            ["referrer_id", "day", "status", "currency"],
            ["count", "original_amount", "amount"],
        )

    async def sum(
        self,
        conn: AsyncConnection,
        referrer_id: str,
        period_from: datetime | None,
        period_to: datetime | None,
        status: CommissionStatus | None,
    ) -> dict[TotalsKey, TotalsValue]:
        """Totals for [period_from, period_to): whole days from this table, partial days from commissions."""
        lo = first_whole_day(period_from) if period_from is not None else None
        hi = day_of(period_to) if period_to is not None else None
        edges: list[tuple[datetime, datetime]] = []
        whole_days = True
        if (
            period_from is not None
            and period_to is not None
            and lo is not None
            and hi is not None
            and lo >= hi
        ):
            whole_days = False  # no whole day inside the period
            edges.append((period_from, period_to))
        else:
            if period_from is not None and lo is not None and period_from < lo:
                edges.append((period_from, lo))
            if period_to is not None and hi is not None and hi < period_to:
                edges.append((hi, period_to))

        acc: dict[TotalsKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        if whole_days:
            where: list[ColumnElement[bool]] = [_t.c.referrer_id == referrer_id]
            if lo is not None:
                where.append(_t.c.day >= lo)
            if hi is not None:
                where.append(_t.c.day < hi)
            if status is not None:
                where.append(_t.c.status == status.value)
            query = (
                select(
                    _t.c.status,
                    _t.c.currency,
                    func.sum(_t.c.count),
                    func.sum(_t.c.original_amount),
                    func.sum(_t.c.amount),
                )
                .where(*where)
                .group_by(_t.c.status, _t.c.currency)
            )
            _accumulate(acc, await conn.execute(query))
        for start, end in edges:
            where = [
                _c.c.referrer_id == referrer_id,
                _c.c.created_at >= utc(start),
                _c.c.created_at < utc(end),
            ]
            if status is not None:
                where.append(_c.c.status == status.value)
            query = (
                select(
                    _c.c.status,
                    _c.c.currency,
                    func.count(),
                    func.sum(_c.c.original_amount),
                    func.sum(_c.c.amount),
                )
                .where(*where)
                .group_by(_c.c.status, _c.c.currency)
            )
            _accumulate(acc, await conn.execute(query))
        return {key: (v[0], v[1], v[2]) for key, v in acc.items() if v[0]}


def _accumulate(acc: dict[TotalsKey, list[int]], rows: Any) -> None:
    for status, currency, count, original, amount in rows:
        total = acc[(CommissionStatus(status), currency)]
        total[0] += int(count or 0)
        total[1] += int(original or 0)
        total[2] += int(amount or 0)
