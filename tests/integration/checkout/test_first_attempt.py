"""``PaymentRepository.add_first``: a new order's first attempt in one statement, refused (nothing written)
whenever the order has history or a unique key is taken; on both databases."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.checkout.service import CreatePayment, PaymentService
from payments.records import PaymentRecord
from tests.support.clock import NOW
from tests.support.fakes import FakeStripeGateway
from tests.support.service import service_settings


async def _record(engine: AsyncEngine, order_id: str) -> PaymentRecord:
    """A first attempt's row as the service builds it, for another order and without its Stripe ids."""
    service = PaymentService(SqlPaymentStore(engine), FakeStripeGateway(), service_settings(), lambda: NOW)
    created = (await service.create_payment(CreatePayment(order_id, "u_1", 2500, "eur"))).payment
    return replace(
        created,
        id=created.id + "x",
        order_id=order_id + "-new",
        checkout_url=None,
        stripe_checkout_session_id=None,
        stripe_payment_intent_id=None,
    )


async def _add_first(engine: AsyncEngine, record: PaymentRecord) -> bool:
    async with SqlPaymentStore(engine).autocommit() as uow:
        return await uow.payments.add_first(record)


async def _attempts(engine: AsyncEngine, order_id: str) -> list[str]:
    async with SqlPaymentStore(engine)() as uow:
        return [p.id for p in await uow.payments.list_for_order(order_id)]


async def test_a_new_order_gets_it_and_an_order_with_an_attempt_does_not(engine: AsyncEngine) -> None:
    record = await _record(engine, "ord_f1")
    assert await _add_first(engine, record)
    assert await _attempts(engine, record.order_id) == [record.id]

    again = replace(record, id="pay_other")
    assert not await _add_first(engine, again)
    ended = replace(record, id="pay_third", status="expired")  # any attempt counts, live or not
    assert not await _add_first(engine, ended)
    assert await _attempts(engine, record.order_id) == [record.id]


async def test_a_taken_idempotency_key_refuses_it_without_writing(engine: AsyncEngine) -> None:
    first = replace(await _record(engine, "ord_f2"), idempotency_key="key-f2")
    assert await _add_first(engine, first)

    other_order = replace(first, id="pay_f2b", order_id="ord_f2-other")
    assert not await _add_first(engine, other_order)
    assert await _attempts(engine, "ord_f2-other") == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_value_longer_than_its_column_is_refused_not_cut(engine: AsyncEngine) -> None:
    too_long = replace(await _record(engine, "ord_f3"), user_id="u" * 129)  # the column holds 128
    with pytest.raises(Exception, match="too long"):
        await _add_first(engine, too_long)
    assert await _attempts(engine, too_long.order_id) == []
    assert await _add_first(engine, replace(too_long, user_id="u" * 128))
