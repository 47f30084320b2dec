"""Canceling a payment: Stripe first, then the payment; a payment Stripe says was paid stays paid."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.checkout.cancel import AlreadyPaid
from payments.checkout.service import CheckoutMode, CreatePayment, PaymentService
from payments.domain.payment_state import PaymentFacts
from payments.errors import Conflict, FailedPrecondition, UpstreamError
from payments.stripe_port import CheckoutSession, GatewayError, GatewayErrorKind
from tests.support import stripe_events as se
from tests.support.clock import NOW
from tests.support.fakes import FakeStripeGateway
from tests.support.payment_steps import apply_facts, chain
from tests.support.service import running_service, service_settings

CMD = CreatePayment(order_id="ord_c", user_id="u_1", amount=2500, currency="eur")
PI_CMD = replace(CMD, mode=CheckoutMode.PAYMENT_INTENT)
T0 = int(NOW.timestamp())


def _service(engine: AsyncEngine, gateway: FakeStripeGateway) -> PaymentService:
    return PaymentService(SqlPaymentStore(engine), gateway, service_settings(), lambda: NOW)


async def test_cancel_expires_the_session_and_the_payment_is_canceled(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(CMD)).payment
    canceled = await service.cancel_payment(payment.id)
    assert canceled.status == "canceled"
    assert gateway.sessions[payment.stripe_checkout_session_id or ""].status == "expired"
    assert await chain(engine, "ord_c") == [(1, "pending", "canceled")]
    again = await service.cancel_payment(payment.id)  # nothing more to do, nothing more said
    assert again.status == "canceled" and len(gateway.keys_of("expire_checkout_session")) == 1
    await apply_facts(engine, payment.id, PaymentFacts(expired=True), "evt_session_expired")
    assert (await service.get_payment(payment.id)).status == "canceled"
    assert len(await chain(engine, "ord_c")) == 1


async def test_a_session_paid_before_the_cancel_reached_stripe_is_answered_already_paid(
    engine: AsyncEngine,
) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(CMD)).payment
    gateway.pay_session(payment.stripe_checkout_session_id or "")  # the webhook has not arrived yet
    with pytest.raises(AlreadyPaid) as info:
        await service.cancel_payment(payment.id)
    assert info.value.code == "already_paid" and info.value.payment.status == "succeeded"
    assert await chain(engine, "ord_c") == [(1, "pending", "paid")]


async def test_cancel_cancels_a_payment_intent_at_stripe(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(PI_CMD)).payment
    canceled = await service.cancel_payment(payment.id)
    assert canceled.status == "canceled"
    assert gateway.intents[payment.stripe_payment_intent_id or ""].status == "canceled"


async def test_an_intent_that_succeeded_meanwhile_is_answered_already_paid(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(PI_CMD)).payment
    gateway.pay_intent(payment.stripe_payment_intent_id or "")
    with pytest.raises(AlreadyPaid) as info:
        await service.cancel_payment(payment.id)
    assert info.value.payment.status == "succeeded" and info.value.payment.amount_refunded == 0


async def test_a_paid_payment_is_not_canceled_and_stripe_is_not_called(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(CMD)).payment
    await apply_facts(
        engine, payment.id, PaymentFacts(succeeded=True, amount_received=2500, currency_received="eur"), "e"
    )
    with pytest.raises(AlreadyPaid):
        await service.cancel_payment(payment.id)
    assert gateway.keys_of("expire_checkout_session") == []


async def test_an_expired_payment_is_answered_as_it_is(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(CMD)).payment
    await apply_facts(engine, payment.id, PaymentFacts(expired=True), "evt_expired")
    assert (await service.cancel_payment(payment.id)).status == "expired"
    assert gateway.keys_of("expire_checkout_session") == []


async def test_a_payment_being_processed_cannot_be_canceled(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    service = _service(engine, gateway)
    payment = (await service.create_payment(PI_CMD)).payment
    intent_id = payment.stripe_payment_intent_id or ""
    gateway.intents[intent_id] = replace(gateway.intents[intent_id], status="processing")
    with pytest.raises(Conflict) as info:
        await service.cancel_payment(payment.id)
    assert info.value.code == "payment_processing"
    assert (await service.get_payment(payment.id)).status == "processing"


async def test_stripe_down_changes_nothing(engine: AsyncEngine) -> None:
    class Down(FakeStripeGateway):
        async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> Any:
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "down")

    service = _service(engine, Down())
    payment = (await service.create_payment(CMD)).payment
    with pytest.raises(UpstreamError) as info:
        await service.cancel_payment(payment.id)
    assert info.value.retryable
    assert (await service.get_payment(payment.id)).status == "open" and await chain(engine, "ord_c") == []


async def test_a_cancel_while_stripe_opens_the_session_leaves_nothing_payable(
    engine: AsyncEngine,
) -> None:
    holder: dict[str, PaymentService] = {}

    class CancelDuringCreate(FakeStripeGateway):
        async def create_checkout_session(self, req: Any, *, idempotency_key: str) -> CheckoutSession:
            # The cancel lands while our create call is at Stripe.
            canceled = await holder["service"].cancel_payment(req.metadata["payment_id"])
            assert canceled.status == "canceled"
            return await super().create_checkout_session(req, idempotency_key=idempotency_key)

    gateway = CancelDuringCreate()
    service = holder["service"] = _service(engine, gateway)
    result = await service.create_payment(CMD)
    assert result.payment.status == "canceled"
    assert [s.status for s in gateway.sessions.values()] == ["expired"]


async def test_over_http_cancel_lists_and_already_paid_carries_the_payment(engine: AsyncEngine) -> None:
    gateway = FakeStripeGateway()
    async with running_service(engine) as svc:
        c = svc.container
        c.payments = PaymentService(SqlPaymentStore(engine), gateway, c.settings, c.clock, c.orchestrator)
        body = {"order_id": "ord_h", "user_id": "u_1", "amount": 700, "currency": "eur"}
        first = (await svc.http.post("/v1/payments", json=body)).json()
        canceled = await svc.http.post(f"/v1/payments/{first['id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        second = await svc.http.post("/v1/payments", json=body)
        assert second.status_code == 201 and second.json()["attempt"] == 2
        gateway.pay_session(second.json()["stripe_checkout_session_id"])
        refused = await svc.http.post(f"/v1/payments/{second.json()['id']}/cancel")
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "already_paid"
        assert refused.json()["payment"]["status"] == "succeeded"
        listed = await svc.http.get("/v1/orders/ord_h/payments")
        assert [(p["attempt"], p["status"]) for p in listed.json()] == [(1, "canceled"), (2, "succeeded")]
        latest = await svc.http.get("/v1/payments", params={"order_id": "ord_h"})
        assert latest.json()["id"] == second.json()["id"]
        paid_order = await svc.http.post("/v1/payments", json=body)
        assert paid_order.status_code == 409 and paid_order.json()["error"]["code"] == "order_already_paid"
        history = (await svc.http.get("/v1/orders/ord_h/history")).json()
        assert [(h["from_state"], h["to_state"]) for h in history] == [
            ("pending", "canceled"),
            ("canceled", "pending"),
            ("pending", "paid"),
        ]
        assert (await svc.http.get("/v1/orders/ord_none/payments")).status_code == 404
        assert (await svc.http.post("/v1/payments/pay_none/cancel")).status_code == 404


class _PausedAt:
    """A unit-of-work factory whose ``n``-th transaction waits, before it starts, until released."""

    def __init__(self, inner: SqlPaymentStore, n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0
        self.reached, self.go = asyncio.Event(), asyncio.Event()

    def autocommit(self) -> Any:
        return self.inner.autocommit()

    def __call__(self) -> Any:
        self.calls += 1
        pause = self.calls == self.n

        @contextlib.asynccontextmanager
        async def paused() -> AsyncIterator[Any]:
            if pause:
                self.reached.set()
                await self.go.wait()
            async with self.inner() as uow:
                yield uow

        return paused()


class _HeldAtStripe(FakeStripeGateway):
    """Holds the first create call at Stripe until released."""

    def __init__(self) -> None:
        super().__init__()
        self.payment_id = ""
        self.started, self.release = asyncio.Event(), asyncio.Event()

    async def create_checkout_session(self, req: Any, *, idempotency_key: str) -> CheckoutSession:
        self.payment_id = req.metadata["payment_id"]
        self.started.set()
        await self.release.wait()
        return await super().create_checkout_session(req, idempotency_key=idempotency_key)


@pytest.mark.parametrize(
    ("cancel_waits_at", "answered"),
    [(2, "open"), (3, "canceled")],
    ids=["linked before the cancel records its request", "linked after it, before the cancel ends"],
)
async def test_a_cancel_racing_the_session_link_leaves_nothing_payable(
    engine: AsyncEngine, cancel_waits_at: int, answered: str
) -> None:
    """The cancel read the row before the session was linked, and the link is stored while the cancel is
    under way: Stripe's session must end expired, and our payment canceled."""
    gateway, store = _HeldAtStripe(), SqlPaymentStore(engine)
    create = asyncio.create_task(_service(engine, gateway).create_payment(CMD))
    await gateway.started.wait()
    # The cancel's transactions: 1 reads the row, 2 records the request, 3 records what Stripe said.
    paused = _PausedAt(store, n=cancel_waits_at)
    canceling = PaymentService(paused, gateway, service_settings(), lambda: NOW)
    cancel = asyncio.create_task(canceling.cancel_payment(gateway.payment_id))
    await paused.reached.wait()
    gateway.release.set()
    created = (await create).payment  # linked: before the request (it answers the session) or after it
    paused.go.set()
    canceled = await cancel
    (session,) = gateway.sessions.values()
    now = await canceling.get_payment(created.id)
    assert (session.status, canceled.status, now.status, created.status) == (
        "expired",
        "canceled",
        "canceled",
        answered,
    )


async def test_an_intent_declined_then_confirmed_with_a_delayed_method_is_processing(
    engine: AsyncEngine,
) -> None:
    """payment_intent.payment_failed, then payment_intent.processing a minute later (a bank debit after a
    declined card): Stripe is processing, so we are; a cancel is refused and a request answers the attempt."""
    gateway = FakeStripeGateway()
    async with running_service(engine, gateway=gateway) as svc:
        service = svc.container.payments
        payment = (await service.create_payment(PI_CMD)).payment
        pi = payment.stripe_payment_intent_id or ""
        intent = se.payment_intent(pi, payment.id, "ord_c", amount=2500, status="requires_payment_method")
        intent["metadata"]["payment_type"] = "payment_intent"
        declined = se.event("payment_intent.payment_failed", intent, created=T0)
        processing = se.event(
            "payment_intent.processing", {**intent, "status": "processing"}, created=T0 + 60
        )
        for event in (processing, declined):  # in either order: the later one decides
            assert (await svc.deliver(event)).status_code == 200
        assert (await service.get_payment(payment.id)).status == "processing"

        gateway.intents[pi] = replace(gateway.intents[pi], status="processing")
        with pytest.raises(FailedPrecondition) as refused:
            await service.cancel_payment(payment.id)
        assert refused.value.code == "payment_processing"
        again = await service.create_payment(PI_CMD)
        assert (again.payment.id, again.created) == (payment.id, False)
        assert await svc.history("ord_c") == []  # pending throughout: Orders was never told it failed
