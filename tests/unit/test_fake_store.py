"""The in-memory store keeps the unit of work's rules, or the service tests on it would prove nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from payments.domain.payment_state import PaymentFacts
from payments.records import PaymentRecord
from payments.unit_of_work import ConcurrentWrite
from tests.support.clock import NOW
from tests.support.fakes import FakeStore

OPEN = PaymentRecord(
    id="pay_1",
    order_id="ord_1",
    attempt=1,
    superseded=False,
    user_id="u_1",
    amount=100,
    currency="eur",
    mode="checkout",
    status="open",
    amount_refunded=0,
    description=None,
    customer_email=None,
    referrer_id=None,
    success_url=None,
    cancel_url=None,
    terms_hash="t",
    idempotency_key="k1",
    checkout_url=None,
    client_secret=None,
    stripe_checkout_session_id=None,
    stripe_payment_intent_id=None,
    stripe_charge_id=None,
    facts=PaymentFacts().to_json(),
    last_error=None,
    stripe_expires_at=None,
    stripe_key_generation=0,
    version=0,
    diff_seq=0,
    created_at=NOW,
    updated_at=NOW,
)


class Boom(Exception):
    pass


async def test_a_block_that_ends_commits_and_one_that_raises_leaves_nothing() -> None:
    store = FakeStore()
    async with store() as uow:
        await uow.payments.add(OPEN)
    with pytest.raises(Boom):
        async with store() as uow:
            await uow.payments.save_error("pay_1", NOW, "written, then undone")
            await uow.payments.add(replace(OPEN, id="pay_2", order_id="ord_2", idempotency_key=None))
            raise Boom
    assert list(store.tables.payments) == ["pay_1"]
    assert store.tables.payment("pay_1").last_error is None
    assert (store.commits, store.rollbacks) == (1, 1)


@pytest.mark.parametrize(
    "second",
    [
        replace(OPEN, id="pay_2", attempt=2, idempotency_key=None),  # a second live attempt of the order
        replace(OPEN, id="pay_2", order_id="ord_2", idempotency_key="k1"),  # the same idempotency key
    ],
)
async def test_a_write_a_unique_key_refuses_is_a_concurrent_write(second: PaymentRecord) -> None:
    store = FakeStore()
    async with store() as uow:
        await uow.payments.add(OPEN)
    with pytest.raises(ConcurrentWrite):
        async with store() as uow:
            await uow.payments.add(second)
    assert list(store.tables.payments) == ["pay_1"]


async def test_a_unit_of_work_inside_another_is_refused_instead_of_waiting_for_itself() -> None:
    store = FakeStore()
    with pytest.raises(RuntimeError):
        async with store(), store():
            pass
