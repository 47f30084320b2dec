"""Daily totals per referrer, status and currency, kept in step with the commissions table.

The referral services collect a transaction's changes (``referrals/totals.py``) and apply them once at its
end, after the audit chain head is locked: every writer of these rows holds that lock, so the upserts are
serialised and two transactions can never take the same total rows in opposite orders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from payments.adapters.db.referral_tables import referral_commissions, referral_daily_totals
from payments.adapters.db.referrals.portable import upsert_adding
from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.timestamps import as_utc as utc
from payments.domain.commission import CommissionStatus, day_of, first_whole_day

_t = referral_daily_totals
_c = referral_commissions

TotalsKey = tuple[CommissionStatus, str]  # status, currency
TotalsValue = tuple[int, int, int]  # count, original amount, amount


class SqlDailyTotals:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def apply(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add each row's count and sums to its (referrer_id, day, status, currency) total."""
        await upsert_adding(
            await self._connection(),
            _t,
            rows,
            ["referrer_id", "day", "status", "currency"],
            ["count", "original_amount", "amount"],
        )

    async def sum(
        self,
        referrer_id: str,
        period_from: datetime | None,
        period_to: datetime | None,
        status: CommissionStatus | None,
    ) -> dict[TotalsKey, TotalsValue]:
        """Totals for [period_from, period_to): whole days from this table, partial days from commissions."""
        conn = await self._connection()
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
