"""What the CLI shows and does: ``payments outbox list`` / ``payments outbox retry`` (OutboxBacklog)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.outbox.backlog import OutboxBacklog
from tests.integration.outbox.outbox_rows import diff_row, insert_diffs, rows_by_id
from tests.support.clock import NOW

LATER = NOW + timedelta(hours=1)


async def test_list_pending_shows_undelivered_diffs_oldest_first(engine: AsyncEngine) -> None:
    await insert_diffs(
        engine,
        [
            diff_row(
                "o2", 1, at=NOW + timedelta(seconds=5), due=LATER, attempts=3, last_error="grpc UNAVAILABLE"
            ),
            diff_row("o1", 2, due=LATER),
            diff_row("o1", 1, delivered_at=NOW),
            diff_row("o1", 3, due=LATER),
        ],
    )
    backlog = OutboxBacklog(SqlPaymentStore(engine))
    pending = await backlog.pending()
    assert [(m.order_id, m.seq) for m in pending] == [("o1", 2), ("o1", 3), ("o2", 1)]
    o2 = pending[2]
    assert o2.id == o2.idempotency_key == "osd_o2_1"
    assert (o2.attempts, o2.last_error) == (3, "grpc UNAVAILABLE")
    assert o2.next_attempt_at == LATER
    assert o2.at.tzinfo is not None
    assert o2.delivered_at is None
    assert await backlog.count() == 3


async def test_retry_now_makes_one_or_every_undelivered_diff_due(engine: AsyncEngine) -> None:
    await insert_diffs(
        engine,
        [
            diff_row("o1", 1, due=LATER),
            diff_row("o1", 2, due=LATER),
            diff_row("o2", 1, due=LATER, delivered_at=NOW),
        ],
    )
    backlog = OutboxBacklog(SqlPaymentStore(engine), clock=lambda: NOW)
    assert await backlog.retry_now("osd_o1_2") == 1
    rows = await rows_by_id(engine)
    assert rows["osd_o1_2"]["next_attempt_at"] == NOW
    assert rows["osd_o1_1"]["next_attempt_at"] == LATER

    assert await backlog.retry_now("osd_o2_1") == 0  # delivered: nothing owed
    assert await backlog.retry_now("no_such_id") == 0

    assert await backlog.retry_now() == 2
    rows = await rows_by_id(engine)
    assert rows["osd_o1_1"]["next_attempt_at"] == NOW
    assert rows["osd_o2_1"]["next_attempt_at"] == LATER


async def test_retry_now_without_a_time_uses_the_wall_clock(engine: AsyncEngine) -> None:
    await insert_diffs(engine, [diff_row("o1", 1, due=NOW + timedelta(days=3650))])
    backlog = OutboxBacklog(SqlPaymentStore(engine))
    assert await backlog.retry_now() == 1
    (message,) = await backlog.pending()
    assert message.next_attempt_at < NOW + timedelta(days=3650)
