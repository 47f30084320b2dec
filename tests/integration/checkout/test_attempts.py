"""An order's payment attempts: pay again after an unpaid end, one live at a time, one history chain."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import payments_repo
from payments.adapters.db.tables import payments
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.checkout.cancel import AlreadyPaid
from payments.checkout.service import CheckoutMode, CreatePayment, PaymentService
from payments.domain.payment_state import DisputePhase, PaymentFacts
from payments.errors import Conflict, NotFound
from payments.records import PaymentRecord
from tests.support.clock import NOW
from tests.support.fakes import FakeStripeGateway
from tests.support.payment_steps import apply_facts, chain
from tests.support.service import service_settings

CMD = CreatePayment(order_id="ord_1", user_id="u_1", amount=2500, currency="eur")
PAID = PaymentFacts(succeeded=True, amount_received=2500, currency_received="eur")


def _service(engine: AsyncEngine, gateway: FakeStripeGateway) -> PaymentService:
    return PaymentService(SqlPaymentStore(engine), gateway, service_settings(), lambda: NOW)


@pytest.mark.parametrize("ending", ["expired", "failed", "canceled"])
async def test_an_order_whose_payment_ended_unpaid_pays_again_with_a_new_payment(
    engine: AsyncEngine, ending: str
) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(**{ending: True}), "evt_end")

    second = await service.create_payment(CMD)

    assert second.created and second.payment.id != first.id and second.payment.attempt == 2
    assert second.payment.status == "open" and second.payment.checkout_url
    assert gateway.keys_of("create_checkout_session") == [
        f"{first.id}:checkout_session",
        f"{second.payment.id}:checkout_session",
    ]
    assert (await service.get_payment_for_order("ord_1")).id == second.payment.id
    assert [p.id for p in await service.list_order_payments("ord_1")] == [first.id, second.payment.id]
    assert (await service.get_payment(first.id)).superseded


async def test_the_order_history_is_one_chain_across_attempts(engine: AsyncEngine) -> None:
    service = _service(engine, FakeStripeGateway())
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    second = (await service.create_payment(replace(CMD, amount=2600))).payment
    await apply_facts(
        engine,
        second.id,
        PaymentFacts(succeeded=True, amount_received=2600, currency_received="eur"),
        "evt_paid",
    )
    assert await chain(engine, "ord_1") == [
        (1, "pending", "expired"),
        (2, "expired", "pending"),
        (3, "pending", "paid"),
    ]


async def test_a_late_fact_about_a_replaced_attempt_tells_orders_nothing(engine: AsyncEngine) -> None:
    service = _service(engine, FakeStripeGateway())
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    await service.create_payment(CMD)
    await apply_facts(engine, first.id, PaymentFacts(canceled=True), "evt_late_cancel")
    assert (await service.get_payment(first.id)).status == "canceled"
    assert await chain(engine, "ord_1") == [(1, "pending", "expired"), (2, "expired", "pending")]


async def test_money_on_a_replaced_attempt_reaches_orders_and_retires_the_live_one(
    engine: AsyncEngine,
) -> None:
    """Attempt 1's session was paid after attempt 2 replaced it. Orders hears 'paid' in the one chain and
    nothing after it from attempt 2; the next request ends attempt 2 at Stripe and answers the order paid."""
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    second = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PAID, "evt_paid_anyway")

    with pytest.raises(AlreadyPaid) as paid:
        await service.create_payment(CMD)
    assert (paid.value.code, paid.value.payment.id) == ("order_already_paid", first.id)
    assert gateway.sessions[second.stripe_checkout_session_id or ""].status == "expired"
    assert (await service.get_payment(second.id)).status == "canceled"
    await apply_facts(engine, second.id, PaymentFacts(expired=True), "evt_second_expired")
    assert await chain(engine, "ord_1") == [
        (1, "pending", "expired"),
        (2, "expired", "pending"),
        (3, "pending", "paid"),
    ]


async def _paid_on_the_replaced_attempt(
    engine: AsyncEngine, gateway: FakeStripeGateway, second_cmd: CreatePayment, second_facts: PaymentFacts
) -> tuple[PaymentService, PaymentRecord, PaymentRecord]:
    """Attempt 1 expired, attempt 2 opened (then ``second_facts``), and then attempt 1 was paid after all."""
    service = _service(engine, gateway)
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    second = (await service.create_payment(second_cmd)).payment
    await apply_facts(engine, second.id, second_facts, "evt_second")
    await apply_facts(engine, first.id, PAID, "evt_paid_anyway")
    return service, first, second


async def test_once_paid_on_a_replaced_attempt_a_declined_intent_of_the_newest_is_canceled(
    engine: AsyncEngine,
) -> None:
    """A card could still confirm it: the order would be paid twice."""
    gateway = FakeStripeGateway()
    service, _, second = await _paid_on_the_replaced_attempt(
        engine, gateway, replace(CMD, mode=CheckoutMode.PAYMENT_INTENT), PaymentFacts(failed=True)
    )
    with pytest.raises(AlreadyPaid):
        await service.create_payment(CMD)
    assert gateway.intents[second.stripe_payment_intent_id or ""].status == "canceled"


async def test_once_paid_on_a_replaced_attempt_a_processing_newest_one_is_answered_paid_at_once(
    engine: AsyncEngine,
) -> None:
    """Stripe cannot end a payment it is processing: no loop of refused calls, no retryable error."""
    gateway = FakeStripeGateway()
    service, first, _ = await _paid_on_the_replaced_attempt(
        engine, gateway, CMD, PaymentFacts(processing=True)
    )
    calls = len(gateway.calls)
    with pytest.raises(AlreadyPaid) as paid:
        await service.create_payment(CMD)
    assert (paid.value.payment.id, len(gateway.calls)) == (first.id, calls)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_money_on_an_old_attempt_racing_a_new_one_chains_on_the_newest(engine: AsyncEngine) -> None:
    """Attempt 3's insert holds attempt 2's row lock when attempt 1's money arrives; the money waits for
    it, then must carry the chain on attempt 3, not the attempt 2 it first locked."""
    store, gateway = SqlPaymentStore(engine), FakeStripeGateway()
    service = _service(engine, gateway)
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(canceled=True), "evt_1")
    second = (await service.create_payment(CMD)).payment
    await apply_facts(engine, second.id, PaymentFacts(expired=True), "evt_2")

    reached, go = asyncio.Event(), asyncio.Event()

    class HeldCommit:
        def autocommit(self) -> Any:
            return store.autocommit()

        def __call__(self) -> Any:
            @contextlib.asynccontextmanager
            async def held() -> AsyncIterator[Any]:
                async with store() as uow:
                    yield uow
                    reached.set()
                    await go.wait()

            return held()

    creating = PaymentService(HeldCommit(), gateway, service_settings(), lambda: NOW)  # type: ignore[arg-type]
    create = asyncio.create_task(creating.create_payment(CMD))
    await reached.wait()  # attempt 3 inserted, attempt 2 locked, not committed
    paid = asyncio.create_task(apply_facts(engine, first.id, PAID, "evt_3"))
    await asyncio.sleep(0.2)  # the money is waiting on attempt 2's lock
    go.set()
    third = (await create).payment
    await paid
    await apply_facts(engine, third.id, PaymentFacts(expired=True), "evt_4")  # no seq given twice
    history = await chain(engine, "ord_1")
    assert [seq for seq, _, _ in history] == list(range(1, len(history) + 1))
    assert all(a[2] == b[1] for a, b in itertools.pairwise(history)), history


async def test_a_live_payment_answers_the_same_terms_and_refuses_others(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    first = await service.create_payment(CMD)
    again = await service.create_payment(CMD)
    assert first.created and not again.created and again.payment.id == first.payment.id
    await apply_facts(engine, first.payment.id, PaymentFacts(processing=True), "evt_processing")
    with pytest.raises(Conflict) as info:
        await service.create_payment(replace(CMD, amount=9))
    assert info.value.code == "payment_terms_conflict"
    assert len(gateway.calls) == 1


@pytest.mark.parametrize(
    "facts",
    [
        PAID,
        PAID.merge(PaymentFacts(disputes={"dp_1": DisputePhase.OPEN})),
        PaymentFacts(succeeded=True, amount_received=1, currency_received="eur"),  # needs_review
    ],
)
async def test_a_paid_order_takes_no_further_attempt(engine: AsyncEngine, facts: PaymentFacts) -> None:
    service = _service(engine, FakeStripeGateway())
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, facts, "evt_paid")
    with pytest.raises(AlreadyPaid) as info:
        await service.create_payment(replace(CMD, amount=3000))
    assert info.value.code == "order_already_paid" and info.value.payment.id == first.id
    assert len(await service.list_order_payments("ord_1")) == 1


async def test_a_declined_intent_is_canceled_at_stripe_before_the_next_attempt(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    cmd = replace(CMD, mode=CheckoutMode.PAYMENT_INTENT)
    first = (await service.create_payment(cmd)).payment
    await apply_facts(engine, first.id, PaymentFacts(failed=True), "evt_declined")
    second = await service.create_payment(cmd)
    assert second.created and second.payment.attempt == 2
    assert gateway.intents[first.stripe_payment_intent_id or ""].status == "canceled"
    assert gateway.keys_of("create_payment_intent") == [
        f"{first.id}:payment_intent",
        f"{second.payment.id}:payment_intent",
    ]


async def test_a_declined_intent_paid_meanwhile_with_another_card_is_the_orders_payment(
    engine: AsyncEngine,
) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    cmd = replace(CMD, mode=CheckoutMode.PAYMENT_INTENT)
    first = (await service.create_payment(cmd)).payment
    await apply_facts(engine, first.id, PaymentFacts(failed=True), "evt_declined")
    gateway.pay_intent(first.stripe_payment_intent_id or "")
    with pytest.raises(AlreadyPaid) as info:
        await service.create_payment(cmd)
    assert info.value.payment.id == first.id and info.value.payment.status == "succeeded"
    assert await chain(engine, "ord_1") == [(1, "pending", "payment_failed"), (2, "payment_failed", "paid")]


async def test_twenty_concurrent_requests_make_one_payment(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    results = await asyncio.gather(*(service.create_payment(CMD) for _ in range(20)))
    assert sum(r.created for r in results) == 1 and len({r.payment.id for r in results}) == 1
    assert len(gateway.sessions) == 1


async def test_twenty_concurrent_requests_after_an_expiry_make_one_new_attempt(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    first = (await service.create_payment(CMD)).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    results = await asyncio.gather(*(service.create_payment(CMD) for _ in range(20)))
    assert sum(r.created for r in results) == 1 and len({r.payment.id for r in results}) == 1
    assert [p.attempt for p in await service.list_order_payments("ord_1")] == [1, 2]
    assert [seq for seq, _, _ in await chain(engine, "ord_1")] == [1, 2]


async def test_the_database_refuses_a_second_live_payment_for_an_order(engine: AsyncEngine) -> None:
    service = _service(engine, FakeStripeGateway())
    first = (await service.create_payment(CMD)).payment
    async with engine.connect() as conn:
        row = dict((await conn.execute(select(payments).where(payments.c.id == first.id))).mappings().one())
    row.update(id="pay_sneaky", attempt=2, idempotency_key=None, stripe_checkout_session_id=None)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await payments_repo.insert_payment(conn, row)


async def test_unknown_orders_are_not_found(engine: AsyncEngine) -> None:
    service = _service(engine, FakeStripeGateway())
    with pytest.raises(NotFound):
        await service.list_order_payments("ord_none")
    with pytest.raises(NotFound):
        await service.get_payment_for_order("ord_none")


async def test_an_idempotency_key_answers_its_own_payment_even_after_a_new_attempt(
    engine: AsyncEngine,
) -> None:
    service = _service(engine, FakeStripeGateway())
    first = (await service.create_payment(replace(CMD, idempotency_key="k1"))).payment
    await apply_facts(engine, first.id, PaymentFacts(expired=True), "evt_expired")
    replay = await service.create_payment(replace(CMD, idempotency_key="k1"))
    assert not replay.created and replay.payment.id == first.id and replay.payment.status == "expired"
    fresh = await service.create_payment(replace(CMD, idempotency_key="k2"))
    assert fresh.created and fresh.payment.attempt == 2
