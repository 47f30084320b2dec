"""What the gateway asks Stripe for when it opens a Checkout Session."""

from __future__ import annotations

import pytest

from payments.adapters.stripe_gateway.client import StripeGateway
from payments.stripe_port import CheckoutRequest


async def test_a_checkout_session_is_asked_in_our_currency_whatever_the_dashboard_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adaptive Pricing would charge the customer's currency: the amounts would no longer be the order's."""
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:9")
    sent: dict[str, object] = {}

    async def raw_request_async(method: str, path: str, **params: object) -> object:
        sent.update(params)
        return type("Answer", (), {"data": {"id": "cs_1", "url": "https://checkout.example/cs_1"}})()

    monkeypatch.setattr(gateway._client, "raw_request_async", raw_request_async)
    request = CheckoutRequest(
        amount=2500,
        currency="eur",
        description="Mug",
        client_reference_id="ord_1",
        metadata={"payment_id": "pay_1"},
        success_url="https://shop.example/ok",
        cancel_url="https://shop.example/cancel",
        expires_at=1_900_000_000,
        customer_email=None,
    )
    session = await gateway.create_checkout_session(request, idempotency_key="pay_1:checkout_session")
    assert session.id == "cs_1"
    assert sent["adaptive_pricing"] == {"enabled": False}
