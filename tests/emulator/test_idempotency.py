"""`Idempotency-Key`: replay byte for byte, mismatch rejected, concurrent requests make one object."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import stripe

from .conftest import make_client


def test_replay_returns_the_first_answer_byte_for_byte(client: stripe.StripeClient) -> None:
    key = f"idem-{uuid.uuid4()}"
    params = {"amount": 1234, "currency": "usd", "metadata": {"order_id": key}}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": key})

    assert second.id == first.id
    assert second.last_response.body == first.last_response.body
    assert second.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None


def test_replay_of_a_decline_is_the_same_decline(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"})
    key = f"idem-{uuid.uuid4()}"
    bodies = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_intents.confirm(
                pi.id, params={"payment_method": "pm_card_chargeDeclined"}, options={"idempotency_key": key}
            )
        bodies.append(declined.value.http_body)
    assert bodies[0] == bodies[1]
    charges = client.v1.charges.list(params={"payment_intent": pi.id})
    assert len(charges.data) == 1  # the replay did not attempt a second payment


def test_same_key_other_parameters_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    key = f"idem-{uuid.uuid4()}"
    client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd"}, options={"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError) as mismatch:
        client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": key}
        )
    assert mismatch.value.http_status == 400
    assert mismatch.value.error.type == "idempotency_error"


def test_concurrent_requests_with_one_key_make_one_object(base_url: str) -> None:
    key = f"idem-{uuid.uuid4()}"
    marker = uuid.uuid4().hex
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {"currency": "usd", "unit_amount": 1000, "product_data": {"name": "x"}},
                "quantity": 1,
            }
        ],
        "client_reference_id": marker,
        "success_url": "http://127.0.0.1:9/ok",
    }

    def create(_: int) -> tuple[str, str]:
        session = make_client(base_url).v1.checkout.sessions.create(
            params=params, options={"idempotency_key": key}
        )
        return session.id, session.last_response.body

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(create, range(10)))

    assert len({session_id for session_id, _ in answers}) == 1
    assert len({body for _, body in answers}) == 1
    listed = make_client(base_url).v1.checkout.sessions.list(params={"limit": 100})
    assert sum(1 for s in listed.data if s.client_reference_id == marker) == 1
