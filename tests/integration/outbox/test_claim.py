"""The lease that keeps relays from sending the same diff twice, and a client that blows up."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.state_diff import OrderUpdate
from payments.outbox.relay import OutboxRelay
from tests.integration.outbox.outbox_rows import FakeClock, diff_row, insert_diffs, rows_by_id
from tests.support.clock import NOW

LEASE = NOW + timedelta(seconds=60)


async def test_a_claimed_diff_is_not_due_for_anyone_else_until_its_lease_ends(engine: AsyncEngine) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2), diff_row("o2", 1)])
    store = SqlPaymentStore(engine)
    async with store() as uow:
        first = await uow.outbox.claim_due(NOW, LEASE, 10)
    assert sorted(m.id for m in first) == ["osd_o1_1", "osd_o2_1"]  # one head per order
    async with store() as uow:
        assert await uow.outbox.claim_due(NOW + timedelta(seconds=59), LEASE, 10) == []
    # The relay that took them died without a word: after the lease they are due again.
    async with store() as uow:
        again = await uow.outbox.claim_due(LEASE, LEASE + timedelta(seconds=60), 10, skip_orders={"o2"})
    assert [m.id for m in again] == ["osd_o1_1"]
    assert (await rows_by_id(engine))["osd_o1_1"]["attempts"] == 0  # a lease is not an attempt


class ExplodingClient:
    def __init__(self) -> None:
        self.calls = 0

    async def apply(self, update: OrderUpdate) -> None:
        self.calls += 1
        raise RuntimeError("secret-token-in-a-bug")

    async def close(self) -> None:
        pass


async def test_an_unexpected_client_error_is_recorded_and_retried_later(engine: AsyncEngine) -> None:
    await insert_diffs(engine, [diff_row("o1", 1), diff_row("o1", 2)])
    client = ExplodingClient()
    assert await OutboxRelay(SqlPaymentStore(engine), client, clock=FakeClock()).run_once() == 0
    assert client.calls == 1
    rows = await rows_by_id(engine)
    assert rows["osd_o1_1"]["attempts"] == 1
    assert rows["osd_o1_1"]["last_error"] == "unexpected RuntimeError"
    assert rows["osd_o1_1"]["next_attempt_at"] > NOW
    assert rows["osd_o1_2"]["attempts"] == 0
