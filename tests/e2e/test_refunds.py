"""Refunds through our API and from the Stripe dashboard, every webhook delivered three times."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e.conftest import Stack
from tests.support.processes import eventually


@pytest_asyncio.fixture
async def triple_delivery(stack: Stack) -> AsyncIterator[None]:
    await stack.helper("/chaos", {"duplicates": 3, "shuffle": True})
    try:
        yield
    finally:
        await stack.helper("/chaos", {"duplicates": 1, "shuffle": False, "delay_ms": 0, "drop_first": False})


async def _paid_payment(stack: Stack, amount: int = 10_000) -> dict:
    order = f"ord_{uuid.uuid4().hex[:10]}"
    payment = (
        await stack.http.post(
            "/v1/payments", json={"order_id": order, "user_id": "u_r", "amount": amount, "currency": "eur"}
        )
    ).json()
    await stack.helper(
        f"/checkout/sessions/{payment['stripe_checkout_session_id']}/pay", {"card": "4242424242424242"}
    )

    async def paid() -> dict | None:
        current = await stack.payment(payment["id"])
        return current if current["status"] == "succeeded" else None

    return await eventually(paid, what="payment to succeed")


async def _settled(stack: Stack, payment_id: str, refunded: int, status: str) -> None:
    async def check() -> bool:
        p = await stack.payment(payment_id)
        return (p["amount_refunded"], p["status"]) == (refunded, status)

    await eventually(check, what=f"amount_refunded={refunded} status={status}")


def _stripe_refund_count(stack: Stack, pi: str) -> int:
    return len(stack.stripe.v1.refunds.list(params={"payment_intent": pi, "limit": 100}).data)


async def test_api_refunds_thirty_thirty_rest_then_over_refund(stack: Stack, triple_delivery: None) -> None:
    payment = await _paid_payment(stack)
    pid, pi = payment["id"], payment["stripe_payment_intent_id"]
    for amount, total, status in (
        (3000, 3000, "partially_refunded"),
        (3000, 6000, "partially_refunded"),
        (None, 10_000, "refunded"),
    ):
        body = {"amount": amount} if amount else {}
        answer = await stack.http.post(f"/v1/payments/{pid}/refunds", json=body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["stripe_refund_id"]
        await _settled(stack, pid, total, status)
    before = _stripe_refund_count(stack, pi)
    over = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 1})
    assert over.status_code == 409
    assert _stripe_refund_count(stack, pi) == before == 3
    history = (await stack.http.get(f"/v1/orders/{payment['order_id']}/history")).json()
    assert [(h["to_state"], h["amount_refunded"]) for h in history] == [
        ("paid", 0),
        ("partially_refunded", 3000),
        ("partially_refunded", 6000),
        ("refunded", 10_000),
    ]


async def test_dashboard_refunds_arrive_by_webhook(stack: Stack, triple_delivery: None) -> None:
    payment = await _paid_payment(stack)
    pid, pi = payment["id"], payment["stripe_payment_intent_id"]
    for amount, total, status in (
        (3000, 3000, "partially_refunded"),
        (3000, 6000, "partially_refunded"),
        (4000, 10_000, "refunded"),
    ):
        # "In the dashboard": someone other than the service asks Stripe directly.
        stack.stripe.v1.refunds.create(params={"payment_intent": pi, "amount": amount})
        await _settled(stack, pid, total, status)
    over = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 1})
    assert over.status_code == 409 and over.json()["error"]["code"] == "already_refunded"


async def test_refund_idempotency_key_and_over_refund_by_api(stack: Stack) -> None:
    payment = await _paid_payment(stack, amount=5000)
    pid, pi = payment["id"], payment["stripe_payment_intent_id"]
    headers = {"Idempotency-Key": "refund-1"}
    first = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 2000}, headers=headers)
    again = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 2000}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    other = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 100}, headers=headers)
    assert other.status_code == 409
    too_much = await stack.http.post(f"/v1/payments/{pid}/refunds", json={"amount": 3001})
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "over_refund"
    assert _stripe_refund_count(stack, pi) == 1
    await _settled(stack, pid, 2000, "partially_refunded")
