"""Reporting: a referrer's totals, net of clawbacks, one page of commissions, earnings per period, CSV.

The database computes the totals (``ReportRepository``: daily totals for whole days, commissions for the
partial days at the period's edges, adjustments by currency), so their cost follows the number of days
in the period, not the number of commissions. Pages are ordered newest first on (created_at, id) and
continue from an opaque cursor holding the last row's key (keyset, no OFFSET).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from payments.domain.audit_chain import iso
from payments.domain.commission import EARNING_STATUSES, CommissionFilter, CommissionStatus
from payments.domain.text import in_report_range, unstorable_reason
from payments.referrals.csv_rows import (
    CSV_COLUMNS,
    REFERRER_CSV_COLUMNS,
    admin_values,
    csv_line,
    referrer_values,
)
from payments.referrals.models import (
    CurrencyNet,
    ExportTooLarge,
    InvalidCursor,
    InvalidReportQuery,
    Report,
    StatusTotal,
)
from payments.referrals.ports import ReportRepository
from payments.unit_of_work import UnitOfWorkFactory

MAX_PAGE = 500
MAX_ID = 40  # referral_commissions.id
CSV_BATCH = 1000
CSV_MAX_ROWS = 100_000  # one download; beyond it, narrow the period (ExportTooLarge, HTTP 422)


@dataclass(frozen=True, slots=True)
class ReportFilter(CommissionFilter):
    """A ``CommissionFilter`` checked as a caller's report query: ``of`` refuses what cannot be answered."""

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


class Reports:
    async def report(
        self, reports: ReportRepository, where: ReportFilter, limit: int, cursor: str | None
    ) -> Report:
        if limit < 1:
            raise InvalidReportQuery("limit must be at least 1")
        limit = min(limit, MAX_PAGE)
        after = decode_cursor(cursor) if cursor else None
        totals = await self._totals(reports, where)
        net = await self._net(reports, where, totals)
        rows = await reports.page(where, limit + 1, after)
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

    async def earnings(self, reports: ReportRepository, where: ReportFilter) -> tuple[CurrencyNet, ...]:
        """The report's ``net`` alone (no page): what a chart of several periods asks once per period."""
        return await self._net(reports, where, await self._totals(reports, where))

    async def csv_lines(
        self,
        exports: UnitOfWorkFactory,
        where: ReportFilter,
        batch: int = CSV_BATCH,
        *,
        for_referrer: bool = False,
        max_rows: int = CSV_MAX_ROWS,
    ) -> AsyncIterator[str]:
        """The admin's columns, or with ``for_referrer`` the referrer's (``csv_rows``).

        Each batch is a unit of work of its own that ends before its lines are sent, so a slow reader
        holds no connection and no transaction. An export larger than ``max_rows`` is refused
        (ExportTooLarge) before the header, rather than cut short by a file that looks whole.
        """
        async with exports() as uow:
            too_large = await uow.referrals.reports.more_than(where, max_rows)
        if too_large:
            raise ExportTooLarge(
                f"the export matches more than {max_rows} rows; narrow it with from/to or status"
            )
        values = referrer_values if for_referrer else admin_values
        yield csv_line(REFERRER_CSV_COLUMNS if for_referrer else CSV_COLUMNS)
        after: tuple[datetime, str] | None = None
        sent = 0
        while sent < max_rows:  # rows added during the export are newer than its first page: not in it
            async with exports() as uow:
                rows = await uow.referrals.reports.page(where, min(batch, max_rows - sent), after)
            for commission in rows:
                yield csv_line(values(commission))
            sent += len(rows)
            if len(rows) < batch:
                return
            after = (rows[-1].created_at, rows[-1].id)

    async def _totals(self, reports: ReportRepository, where: ReportFilter) -> tuple[StatusTotal, ...]:
        sums = await reports.totals(where)
        return tuple(
            StatusTotal(status, currency, count, original, amount)
            for (status, currency), (count, original, amount) in sorted(sums.items())
        )

    async def _net(
        self, reports: ReportRepository, where: ReportFilter, totals: tuple[StatusTotal, ...]
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
        adjusted = await reports.adjustments(where)
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


__all__ = ["CSV_COLUMNS", "ReportFilter", "Reports", "decode_cursor", "encode_cursor"]
