"""Taking payment end to end: real emulator process, real service process, the official SDK between."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import httpx

from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from tests.e2e.conftest import TOKEN, Stack
from tests.support.processes import eventually


def _order() -> str:
    return f"ord_{uuid.uuid4().hex[:10]}"


async def _status_is(stack: Stack, payment_id: str, status: str) -> bool:
    return (await stack.payment(payment_id))["status"] == status


async def test_checkout_over_http_paid_on_the_hosted_page_reaches_orders(stack: Stack) -> None:
    order = _order()
    created = await stack.http.post(
        "/v1/payments",
        json={"order_id": order, "user_id": "u_1", "amount": 2500, "currency": "eur", "description": "Mug"},
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "open" and payment["checkout_url"].startswith(stack.emulator_url)
    page = httpx.get(payment["checkout_url"])
    assert page.status_code == 200 and "25.00" in page.text
    session = stack.stripe.v1.checkout.sessions.retrieve(payment["stripe_checkout_session_id"])
    assert session.client_reference_id == order
    assert session.metadata["payment_id"] == payment["id"] and session.metadata["payment_type"] == "checkout"
    paid = await stack.helper(f"/checkout/sessions/{session.id}/pay", {"card": "4242424242424242"})
    assert paid.status_code == 200, paid.text
    await eventually(lambda: _status_is(stack, payment["id"], "succeeded"), what="payment to succeed")
    history = (await stack.http.get(f"/v1/orders/{order}/history")).json()
    assert [(h["from_state"], h["to_state"], h["amount_paid"]) for h in history] == [
        ("pending", "paid", 2500)
    ]
    await eventually(lambda: stack.orders.behaviour.applied_seqs().get(order) == [1], what="Orders to hear")
    # The webhook counter moves after the transaction commits, so it can trail the status we polled.
    webhook_counted = 'payments_webhook_events_total{outcome="processed",type="checkout.session.completed"}'

    async def metrics_text() -> str:
        return (await stack.http.get("/metrics")).text

    async def webhook_is_counted() -> bool:
        return webhook_counted in await metrics_text()

    await eventually(webhook_is_counted, what="the webhook metric")
    metrics = await metrics_text()
    assert 'payments_stripe_calls_total{operation="checkout.sessions.create",outcome="ok"}' in metrics
    assert 'payments_http_requests_total{method="POST",route="/v1/payments",status="201"}' in metrics
    assert (
        "payments_http_request_seconds_bucket" in metrics and "payments_stripe_call_seconds_bucket" in metrics
    )


async def test_payment_intent_mode_over_http(stack: Stack) -> None:
    created = await stack.http.post(
        "/v1/payments",
        json={
            "order_id": _order(),
            "user_id": "u_2",
            "amount": 1200,
            "currency": "usd",
            "mode": "payment_intent",
        },
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["client_secret"].startswith(payment["stripe_payment_intent_id"] + "_secret_")
    assert payment["checkout_url"] is None
    stack.stripe.v1.payment_intents.confirm(
        payment["stripe_payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    await eventually(lambda: _status_is(stack, payment["id"], "succeeded"), what="intent to succeed")


async def test_both_modes_over_grpc(stack: Stack) -> None:
    async with grpc.aio.insecure_channel(stack.grpc_target) as channel:
        client = pb_grpc.PaymentsStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        checkout = await client.CreatePayment(
            pb.CreatePaymentRequest(order_id=_order(), user_id="u_3", amount=990, currency="EUR"),
            metadata=auth,
        )
        assert checkout.created and checkout.payment.checkout_url.startswith(stack.emulator_url)
        intent = await client.CreatePayment(
            pb.CreatePaymentRequest(
                order_id=_order(), user_id="u_3", amount=500, currency="jpy", mode="payment_intent"
            ),
            metadata=auth,
        )
        assert intent.payment.client_secret and intent.payment.currency == "jpy"
        fetched = await client.GetPayment(pb.GetPaymentRequest(id=intent.payment.id), metadata=auth)
        assert fetched.stripe_payment_intent_id == intent.payment.stripe_payment_intent_id
        try:
            await client.CreatePayment(
                pb.CreatePaymentRequest(order_id=_order(), user_id="u", amount=-1, currency="eur"),
                metadata=auth,
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT and "amount" in (exc.details() or "")
        else:
            raise AssertionError("a negative amount was accepted")
        try:
            await client.GetPayment(pb.GetPaymentRequest(id="pay_x"))
        except grpc.aio.AioRpcError as exc:
            assert exc.code() is grpc.StatusCode.UNAUTHENTICATED
        else:
            raise AssertionError("no token was accepted")


async def test_twenty_concurrent_identical_requests_make_one_payment_and_one_session(stack: Stack) -> None:
    order = _order()
    body = {"order_id": order, "user_id": "u_4", "amount": 4200, "currency": "gbp"}
    answers = await asyncio.gather(*(stack.http.post("/v1/payments", json=body) for _ in range(20)))
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["stripe_checkout_session_id"] for a in answers}) == 1
    sessions = stack.stripe.v1.checkout.sessions.list(params={"limit": 100})
    assert [s.id for s in sessions.data if s.client_reference_id == order] == [
        answers[0].json()["stripe_checkout_session_id"]
    ]
    other_terms = await stack.http.post("/v1/payments", json={**body, "amount": 4300})
    assert other_terms.status_code == 409
    assert other_terms.json()["error"]["code"] == "payment_terms_conflict"


async def test_bad_input_and_missing_token(stack: Stack) -> None:
    bad = {"order_id": "", "user_id": "u", "amount": 10, "currency": "eur"}
    response = await stack.http.post("/v1/payments", json=bad)
    assert response.status_code == 422 and response.json()["error"]["field"] == "order_id"
    for field, value in (("amount", 1.5), ("amount", 0), ("currency", "xyz"), ("amount", 10**12)):
        body = {"order_id": _order(), "user_id": "u", "amount": 100, "currency": "eur", field: value}
        answer = await stack.http.post("/v1/payments", json=body)
        assert answer.status_code == 422, (field, value, answer.text)
        assert answer.json()["error"]["field"] == field
    async with httpx.AsyncClient(base_url=stack.service_url) as anonymous:
        assert (await anonymous.get("/v1/payments/pay_x")).status_code == 401
    assert (await stack.http.get("/v1/payments/pay_missing")).status_code == 404
