"""A referrer's report: totals computed by the database, and commissions paged by keyset.

Totals are GROUP BY queries: over the daily totals for the whole days of the period and over the
commissions for the partial days at its edges (see ``totals``), and over the referrer's adjustments by
currency. Their cost follows the number of days in the period, not the number of commissions.

Pages are ordered newest first on (created_at, id) and continue from an opaque cursor holding the last
row's key, which an index on (referrer_id, created_at, id) serves without OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.adapters.db.referral_tables import referral_adjustments, referral_commissions
from payments.domain.audit_chain import iso
from payments.domain.commission import EARNING_STATUSES, CommissionStatus
from payments.domain.text import in_report_range, unstorable_reason
from payments.referrals.csv_rows import (
    CSV_COLUMNS,
    REFERRER_CSV_COLUMNS,
    admin_values,
    csv_line,
    referrer_values,
)
from payments.referrals.models import (
    Commission,
    CurrencyNet,
    ExportTooLarge,
    InvalidCursor,
    InvalidReportQuery,
    Report,
    StatusTotal,
)
from payments.referrals.repository import commission_from_row
from payments.referrals.totals import DailyTotals

_c = referral_commissions
_a = referral_adjustments

MAX_PAGE = 500
MAX_ID = 40  # referral_commissions.id
CSV_BATCH = 1000
CSV_MAX_ROWS = 100_000  # one download; beyond it, narrow the period (ExportTooLarge, HTTP 422)


@dataclass(frozen=True, slots=True)
class ReportFilter:
    referrer_id: str
    period_from: datetime | None = None  # inclusive, on created_at
    period_to: datetime | None = None  # exclusive
    status: CommissionStatus | None = None

    @classmethod
    def of(
        cls, referrer_id: str, period_from: datetime | None, period_to: datetime | None, status: str | None
    ) -> ReportFilter:
        try:
            parsed = CommissionStatus(status) if status else None
        except ValueError:
            raise InvalidReportQuery(f"unknown status {status!r}") from None
        start, end = _instant(period_from, "from"), _instant(period_to, "to")
        if start and end and start >= end:
            raise InvalidReportQuery("from must be before to")
        if reason := unstorable_reason(referrer_id):
            raise InvalidReportQuery(f"referrer_id {reason}")
        return cls(referrer_id, start, end, parsed)

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [_c.c.referrer_id == self.referrer_id]
        if self.period_from is not None:
            where.append(_c.c.created_at >= self.period_from)
        if self.period_to is not None:
            where.append(_c.c.created_at < self.period_to)
        if self.status is not None:
            where.append(_c.c.status == self.status.value)
        return where

    def describe(self) -> dict[str, str | None]:
        return {
            "from": iso(self.period_from) if self.period_from else None,
            "to": iso(self.period_to) if self.period_to else None,
            "status": self.status.value if self.status else None,
        }


def _instant(value: datetime | None, name: str) -> datetime | None:
    try:
        return in_report_range(value)
    except ValueError as exc:
        raise InvalidReportQuery(f"{name} {exc}") from None


def encode_cursor(created_at: datetime, commission_id: str) -> str:
    raw = json.dumps({"t": iso(created_at), "i": commission_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        created_at = datetime.fromisoformat(data["t"])
        commission_id = data["i"]
        if not isinstance(commission_id, str) or created_at.tzinfo is None:
            raise ValueError("not ours")
        if len(commission_id) > MAX_ID or unstorable_reason(commission_id):
            raise ValueError("not ours")
        at = in_report_range(created_at)  # near datetime's edges, converting to UTC overflows
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
        raise InvalidCursor("the cursor is not one this service issued") from None
    assert at is not None
    return at, commission_id


class ReportQueries:
    def __init__(self, daily: DailyTotals | None = None) -> None:
        self._daily = daily or DailyTotals()

    async def report(
        self, conn: AsyncConnection, where: ReportFilter, limit: int, cursor: str | None
    ) -> Report:
        if limit < 1:
            raise InvalidReportQuery("limit must be at least 1")
        limit = min(limit, MAX_PAGE)
        totals = await self._totals(conn, where)
        net = await self._net(conn, where, totals)
        rows = await self._page(conn, where, limit + 1, decode_cursor(cursor) if cursor else None)
        items = tuple(rows[:limit])
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
        return Report(
            referrer_id=where.referrer_id,
            totals=totals,
            net=net,
            items=items,
            next_cursor=next_cursor,
            filters=where.describe(),
        )

    async def earnings(self, conn: AsyncConnection, where: ReportFilter) -> tuple[CurrencyNet, ...]:
        """The report's ``net`` alone (no page): what a chart of several periods asks once per period."""
        return await self._net(conn, where, await self._totals(conn, where))

    async def csv_lines(
        self,
        engine: AsyncEngine,
        where: ReportFilter,
        batch: int = CSV_BATCH,
        *,
        for_referrer: bool = False,
        max_rows: int = CSV_MAX_ROWS,
    ) -> AsyncIterator[str]:
        """The admin's columns, or with ``for_referrer`` the referrer's (see ``referrer_view``).

        Each batch borrows a connection for its one query and gives it back before its lines are sent,
        so a slow reader holds no connection and no transaction. An export larger than ``max_rows`` is
        refused (ExportTooLarge) before the header, rather than cut short by a file that looks whole.
        """
        async with engine.connect() as conn:
            beyond = select(_c.c.id).where(*where.conditions()).offset(max_rows).limit(1)
            if (await conn.execute(beyond)).first() is not None:
                raise ExportTooLarge(
                    f"the export matches more than {max_rows} rows; narrow it with from/to or status"
                )
        values = referrer_values if for_referrer else admin_values
        yield csv_line(REFERRER_CSV_COLUMNS if for_referrer else CSV_COLUMNS)
        after: tuple[datetime, str] | None = None
        sent = 0
        while sent < max_rows:  # rows added during the export are newer than its first page: not in it
            async with engine.connect() as conn:
                rows = await self._page(conn, where, min(batch, max_rows - sent), after)
            for commission in rows:
                yield csv_line(values(commission))
            sent += len(rows)
            if len(rows) < batch:
                return
            after = (rows[-1].created_at, rows[-1].id)

    async def _totals(self, conn: AsyncConnection, where: ReportFilter) -> tuple[StatusTotal, ...]:
        sums = await self._daily.sum(
            conn, where.referrer_id, where.period_from, where.period_to, where.status
        )
        return tuple(
            StatusTotal(status, currency, count, original, amount)
            for (status, currency), (count, original, amount) in sorted(sums.items())
        )

    async def _net(
        self, conn: AsyncConnection, where: ReportFilter, totals: tuple[StatusTotal, ...]
    ) -> tuple[CurrencyNet, ...]:
        gross: dict[str, int] = defaultdict(int)
        current: dict[str, int] = defaultdict(int)
        paid: dict[str, int] = defaultdict(int)
        for total in totals:
            if total.status in EARNING_STATUSES:
                gross[total.currency] += total.original_amount
                current[total.currency] += total.amount
            if total.status is CommissionStatus.PAID:
                paid[total.currency] += total.amount
        adjusted = await self._adjustments(conn, where)
        result = []
        for currency in sorted(set(gross) | set(adjusted)):
            adj_total, unsettled, settled = adjusted.get(currency, (0, 0, 0))
            net = current[currency] + adj_total
            result.append(
                CurrencyNet(
                    currency=currency,
                    gross=gross[currency],
                    clawed_back=gross[currency] - net,
                    net=net,
                    paid=paid[currency] + settled,
                    unsettled_adjustments=unsettled,
                )
            )
        return tuple(result)

    async def _adjustments(
        self, conn: AsyncConnection, where: ReportFilter
    ) -> dict[str, tuple[int, int, int]]:
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
            for row in await conn.execute(query)
        }

    async def _page(
        self, conn: AsyncConnection, where: ReportFilter, limit: int, after: tuple[datetime, str] | None
    ) -> list[Commission]:
        query: Select[Any] = select(_c).where(*where.conditions())
        if after is not None:
            query = query.where(tuple_(_c.c.created_at, _c.c.id) < tuple_(after[0], after[1]))
        query = query.order_by(_c.c.created_at.desc(), _c.c.id.desc()).limit(limit)
        return [commission_from_row(row) for row in (await conn.execute(query)).mappings()]


__all__ = ["CSV_COLUMNS", "ReportFilter", "ReportQueries", "decode_cursor", "encode_cursor"]
