"""The referrer report: totals per status and net of clawbacks, filters, keyset pages, CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.commission import CommissionStatus as S
from payments.domain.payment_state import DisputePhase
from payments.referrals import Commission, CommissionService, CurrencyNet, InvalidCursor, StatusTotal
from payments.referrals.models import ExportTooLarge
from payments.referrals.reporting import CSV_COLUMNS, ReportFilter, Reports
from tests.integration.referrals.support import SETTINGS, Webhooks, dispute, paid, refund, snapshot
from tests.support.clock import NOW

DAY = timedelta(days=1)


async def _seed(engine: AsyncEngine, service: CommissionService) -> None:
    def order(name: str, amount: int = 10_000, currency: str = "eur", referrer: str = "ref_1") -> Webhooks:
        payment = snapshot(
            name, amount=amount, currency=currency, referrer_id=referrer, user_id=f"user_{name}", email=None
        )
        return Webhooks(engine, service, payment)

    old = order("ord_3", 5_000)
    await old.deliver(paid(5_000), now=NOW - 40 * DAY)
    await service.release_due(NOW - 5 * DAY)
    await service.pay_referrer("ref_1", "admin:alice", NOW - 5 * DAY)
    await old.deliver(refund("re_all", 5_000))

    first = order("ord_1")
    await first.deliver(paid(), now=NOW - 10 * DAY)
    await first.deliver(refund("re_1", 3_000))
    await order("ord_2", 20_000).deliver(paid(20_000, risk="elevated"), now=NOW - 9 * DAY)
    await order("ord_4", 50).deliver(paid(50), now=NOW - 8 * DAY)
    await order("ord_5", 30_000, "usd").deliver(paid(30_000, currency="usd"), now=NOW - 7 * DAY)
    lost = order("ord_6")
    await lost.deliver(paid(), now=NOW - 6 * DAY)
    await lost.deliver(dispute("dp_1", DisputePhase.LOST))
    await order("ord_noise", referrer="ref_2").deliver(paid(), now=NOW - 6 * DAY)


async def test_totals_per_status_and_net_of_clawbacks(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)

    report = await service.get_report(
        "ref_1", period_from=None, period_to=None, status=None, limit=50, cursor=None
    )

    assert set(report.totals) == {
        StatusTotal(S.PAID, "eur", 1, 500, 500),
        StatusTotal(S.PENDING, "eur", 1, 1_000, 700),
        StatusTotal(S.PENDING, "usd", 1, 3_000, 3_000),
        StatusTotal(S.HELD, "eur", 1, 2_000, 2_000),
        StatusTotal(S.REFUSED, "eur", 1, 5, 5),
        StatusTotal(S.REVERSED, "eur", 1, 1_000, 0),
    }
    assert report.net == (
        CurrencyNet("eur", gross=4_500, clawed_back=1_800, net=2_700, paid=500, unsettled_adjustments=-500),
        CurrencyNet("usd", gross=3_000, clawed_back=0, net=3_000, paid=0, unsettled_adjustments=0),
    )
    assert [c.order_id for c in report.items] == ["ord_6", "ord_5", "ord_4", "ord_2", "ord_1", "ord_3"]
    assert report.next_cursor is None


async def test_period_filter_is_from_inclusive_to_exclusive(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)

    report = await service.get_report(
        "ref_1",
        period_from=NOW - 9 * DAY,
        period_to=NOW - 7 * DAY,
        status=None,
        limit=50,
        cursor=None,
    )

    assert [c.order_id for c in report.items] == ["ord_4", "ord_2"]
    assert {(t.status, t.count) for t in report.totals} == {(S.REFUSED, 1), (S.HELD, 1)}


async def test_status_filter_narrows_items_and_totals(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)

    report = await service.get_report(
        "ref_1", period_from=None, period_to=None, status="paid", limit=50, cursor=None
    )

    assert [c.order_id for c in report.items] == ["ord_3"]
    assert report.totals == (StatusTotal(S.PAID, "eur", 1, 500, 500),)
    assert report.net == (CurrencyNet("eur", 500, 500, 0, 500, -500),)


async def test_keyset_pages_cover_every_commission_once(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)
    for i in range(5):  # same second: the id breaks the tie
        await Webhooks(engine, service, snapshot(f"ord_tie_{i}", user_id=f"u{i}")).deliver(paid(), now=NOW)

    pages, cursor = [], None
    while True:
        report = await service.get_report(
            "ref_1", period_from=None, period_to=None, status=None, limit=2, cursor=cursor
        )
        pages.append([c.order_id for c in report.items])
        cursor = report.next_cursor
        if cursor is None:
            break

    seen = [order for page in pages for order in page]
    assert len(pages) == 6 and all(len(page) == 2 for page in pages[:-1])
    assert sorted(seen) == sorted(
        [f"ord_tie_{i}" for i in range(5)] + ["ord_1", "ord_2", "ord_3", "ord_4", "ord_5", "ord_6"]
    )
    assert seen[-6:] == ["ord_6", "ord_5", "ord_4", "ord_2", "ord_1", "ord_3"]


async def test_a_forged_cursor_is_refused(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    with pytest.raises(InvalidCursor):
        await service.get_report(
            "ref_1", period_from=None, period_to=None, status=None, limit=2, cursor="abc"
        )


async def test_csv_streams_every_row_of_the_referrer(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)

    lines = [line async for line in service.stream_report_csv("ref_1")]

    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert tuple(rows[0]) == CSV_COLUMNS
    by_order = {row[2]: dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]}
    assert sorted(by_order) == ["ord_1", "ord_2", "ord_3", "ord_4", "ord_5", "ord_6"]
    first = by_order["ord_1"]
    assert (first["status"], first["original_amount"], first["amount"]) == ("pending", "1000", "700")
    assert by_order["ord_4"]["reason"] == "below_minimum"


async def test_csv_is_read_in_keyset_batches(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)

    lines = [
        line async for line in Reports().csv_lines(SqlPaymentStore(engine), ReportFilter("ref_1"), batch=2)
    ]

    assert len(lines) == 1 + 6
    assert [line.split(",")[2] for line in lines[1:]] == [
        "ord_6",
        "ord_5",
        "ord_4",
        "ord_2",
        "ord_1",
        "ord_3",
    ]


async def test_an_export_over_the_row_cap_is_refused_before_its_header(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)  # six rows for ref_1
    queries = Reports()

    capped = queries.csv_lines(SqlPaymentStore(engine), ReportFilter("ref_1"), batch=2, max_rows=5)
    with pytest.raises(ExportTooLarge, match="more than 5 rows"):
        await anext(capped)
    exact = [
        line
        async for line in queries.csv_lines(
            SqlPaymentStore(engine), ReportFilter("ref_1"), batch=4, max_rows=6
        )
    ]
    assert len(exact) == 1 + 6


async def test_a_csv_export_holds_no_connection_between_batches(engine: AsyncEngine) -> None:
    """A slow reader (one that stops between lines) leaves every connection in the pool."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)
    lines = Reports().csv_lines(SqlPaymentStore(engine), ReportFilter("ref_1"), batch=2)
    await anext(lines)
    await anext(lines)  # mid-way through the first batch
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    rest = [line async for line in lines]
    assert len(rest) == 5


async def test_totals_for_any_period_equal_a_count_of_the_rows(engine: AsyncEngine) -> None:
    """Whole days come from the daily totals and partial days from the rows; both must agree with the rows."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await _seed(engine, service)
    rows = [c async for c in _all_commissions(service)]
    boundaries = [
        (None, None),
        (NOW - 9 * DAY, NOW - 7 * DAY),  # partial days at both ends, one whole day inside
        (NOW - 9 * DAY - 12 * timedelta(hours=1), NOW - 6 * DAY - 12 * timedelta(hours=1)),  # day-aligned
        (NOW - 10 * DAY - timedelta(hours=1), NOW - 10 * DAY + timedelta(hours=1)),  # inside one day
        (NOW - 8 * DAY, None),
        (None, NOW - 8 * DAY),
    ]
    for start, end in boundaries:
        report = await service.get_report("ref_1", period_from=start, period_to=end, limit=1)
        expected: dict[tuple[S, str], list[int]] = {}
        for c in rows:
            if (start is None or c.created_at >= start) and (end is None or c.created_at < end):
                total = expected.setdefault((c.status, c.currency), [0, 0, 0])
                total[0] += 1
                total[1] += c.original_amount
                total[2] += c.amount
        got = {(t.status, t.currency): [t.count, t.original_amount, t.amount] for t in report.totals}
        assert got == expected, (start, end)


async def _all_commissions(service: CommissionService) -> AsyncIterator[Commission]:
    cursor = None
    while True:
        report = await service.get_report("ref_1", limit=100, cursor=cursor)
        for item in report.items:
            yield item
        cursor = report.next_cursor
        if cursor is None:
            return
