"""Acceptance: an order pays again after an expiry or a decline; cancel; cancel racing a payment.

Real `payments serve` and emulator processes, Stripe's own calls through the official SDK.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import stripe

from tests.e2e.conftest import Stack
from tests.support.processes import eventually


def _order() -> str:
    return f"ord_{uuid.uuid4().hex[:10]}"


async def _status(stack: Stack, payment_id: str, status: str) -> bool:
    return (await stack.payment(payment_id))["status"] == status


async def _history(stack: Stack, order: str) -> list[tuple[str, str, int]]:
    rows = (await stack.http.get(f"/v1/orders/{order}/history")).json()
    return [(h["from_state"], h["to_state"], h["amount_paid"]) for h in rows]


async def _orders_heard(stack: Stack, order: str, states: list[str]) -> None:
    def heard_states() -> list[str]:
        calls = [c.diff for c in stack.orders.behaviour.applied if c.diff["order_id"] == order]
        return [c["to_state"] for c in sorted(calls, key=lambda d: int(d["seq"]))]

    try:
        await eventually(lambda: heard_states() == states, what=f"Orders to hear {states}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Orders heard {heard_states()}") from None


async def test_an_expired_session_and_the_order_pays_again(stack: Stack) -> None:
    order = _order()
    body = {"order_id": order, "user_id": "u_a", "amount": 3100, "currency": "eur"}
    first = (await stack.http.post("/v1/payments", json=body)).json()
    # As the dashboard would: Stripe's expire call on the session, not ours.
    stack.stripe.v1.checkout.sessions.expire(first["stripe_checkout_session_id"])
    await eventually(lambda: _status(stack, first["id"], "expired"), what="the expiry webhook")

    again = await stack.http.post("/v1/payments", json=body)
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["id"] != first["id"] and second["attempt"] == 2
    assert second["stripe_checkout_session_id"] != first["stripe_checkout_session_id"]
    paid = await stack.helper(
        f"/checkout/sessions/{second['stripe_checkout_session_id']}/pay", {"card": "4242424242424242"}
    )
    assert paid.status_code == 200, paid.text
    await eventually(lambda: _status(stack, second["id"], "succeeded"), what="the second attempt to pay")

    assert await _history(stack, order) == [
        ("pending", "expired", 0),
        ("expired", "pending", 0),
        ("pending", "paid", 3100),
    ]
    await _orders_heard(stack, order, ["expired", "pending", "paid"])
    latest = (await stack.http.get("/v1/payments", params={"order_id": order})).json()
    assert latest["id"] == second["id"]
    listed = (await stack.http.get(f"/v1/orders/{order}/payments")).json()
    assert [(p["attempt"], p["status"]) for p in listed] == [(1, "expired"), (2, "succeeded")]
    refused = await stack.http.post("/v1/payments", json=body)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_already_paid"


async def test_a_declined_payment_intent_and_the_order_pays_again(stack: Stack) -> None:
    order = _order()
    body = {"order_id": order, "user_id": "u_d", "amount": 1200, "currency": "usd", "mode": "payment_intent"}
    first = (await stack.http.post("/v1/payments", json=body)).json()
    try:
        stack.stripe.v1.payment_intents.confirm(
            first["stripe_payment_intent_id"], params={"payment_method": "pm_card_chargeDeclined"}
        )
    except stripe.CardError:
        pass
    else:
        raise AssertionError("the declining card was accepted")
    await eventually(lambda: _status(stack, first["id"], "failed"), what="the decline webhook")

    again = await stack.http.post("/v1/payments", json=body)
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["attempt"] == 2 and second["stripe_payment_intent_id"] != first["stripe_payment_intent_id"]
    # The declined intent could still have been confirmed with another card: it was canceled first.
    assert stack.stripe.v1.payment_intents.retrieve(first["stripe_payment_intent_id"]).status == "canceled"
    stack.stripe.v1.payment_intents.confirm(
        second["stripe_payment_intent_id"], params={"payment_method": "pm_card_visa"}
    )
    await eventually(lambda: _status(stack, second["id"], "succeeded"), what="the second attempt to pay")
    assert await _history(stack, order) == [
        ("pending", "payment_failed", 0),
        ("payment_failed", "pending", 0),
        ("pending", "paid", 1200),
    ]
    await _orders_heard(stack, order, ["payment_failed", "pending", "paid"])


async def test_cancel_an_open_payment_and_its_page_no_longer_pays(stack: Stack) -> None:
    order = _order()
    payment = (
        await stack.http.post(
            "/v1/payments", json={"order_id": order, "user_id": "u_c", "amount": 900, "currency": "eur"}
        )
    ).json()
    canceled = await stack.http.post(f"/v1/payments/{payment['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    session = stack.stripe.v1.checkout.sessions.retrieve(payment["stripe_checkout_session_id"])
    assert session.status == "expired"
    page = httpx.get(payment["checkout_url"])
    assert "This checkout session has expired." in page.text
    late = await stack.helper(
        f"/checkout/sessions/{payment['stripe_checkout_session_id']}/pay", {"card": "4242424242424242"}
    )
    assert late.status_code == 400
    await _orders_heard(stack, order, ["canceled"])
    # Stripe's own expiry event arrives after ours: the payment stays canceled, Orders hears nothing new.
    await eventually(
        lambda: _delivered(stack, payment["stripe_checkout_session_id"]), what="the expiry webhook"
    )
    assert (await stack.payment(payment["id"]))["status"] == "canceled"
    assert await _history(stack, order) == [("pending", "canceled", 0)]


async def _delivered(stack: Stack, session_id: str) -> bool:
    """Stripe's checkout.session.expired for this session was answered 2xx by the service."""
    events = stack.stripe.v1.events.list(params={"type": "checkout.session.expired", "limit": 100}).data
    ids = {e.id for e in events if e.data.object.id == session_id}
    async with httpx.AsyncClient(base_url=stack.emulator_url) as client:
        records = (await client.get("/_emulator/deliveries")).json()["data"]
    return any(r["event_id"] in ids and r["status_code"] == 200 for r in records)


async def test_cancel_racing_a_payment_ends_in_one_consistent_outcome(stack: Stack) -> None:
    for _ in range(6):
        order = _order()
        payment = (
            await stack.http.post(
                "/v1/payments", json={"order_id": order, "user_id": "u_r", "amount": 700, "currency": "eur"}
            )
        ).json()
        session_id = payment["stripe_checkout_session_id"]
        cancel, pay = await asyncio.gather(
            stack.http.post(f"/v1/payments/{payment['id']}/cancel"),
            stack.helper(f"/checkout/sessions/{session_id}/pay", {"card": "4242424242424242"}),
        )
        session = stack.stripe.v1.checkout.sessions.retrieve(session_id)
        if cancel.status_code == 200:
            # The cancel reached Stripe first: the session expired, the payment was refused, nothing paid.
            assert cancel.json()["status"] == "canceled" and pay.status_code == 400, pay.text
            assert session.status == "expired" and session.payment_status == "unpaid"
            final = "canceled"
        else:
            # The payment reached Stripe first: the cancel says so and shows the paid payment.
            assert cancel.status_code == 409, cancel.text
            assert cancel.json()["error"]["code"] == "already_paid"
            assert cancel.json()["payment"]["status"] == "succeeded" and pay.status_code == 200
            assert session.status == "complete" and session.payment_status == "paid"
            final = "succeeded"
        await eventually(lambda p=payment["id"], f=final: _status(stack, p, f), what=f"payment {final}")
        to_state = {"canceled": "canceled", "succeeded": "paid"}[final]
        await _orders_heard(stack, order, [to_state])
        assert [row[1] for row in await _history(stack, order)] == [to_state]
