"""The gateway finds a refund by our metadata among a PaymentIntent's refunds, on the emulator over HTTP."""

from __future__ import annotations

import stripe

from payments.adapters.stripe_gateway.client import StripeGateway
from payments.config import EMULATOR_API_KEY
from tests.support.processes import start_emulator


async def test_list_refunds_returns_each_refund_with_its_metadata() -> None:
    emulator, url = start_emulator()
    try:
        client = stripe.StripeClient(EMULATOR_API_KEY, base_addresses={"api": url})
        intent = client.v1.payment_intents.create(params={"amount": 5_000, "currency": "eur"})
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
        other = client.v1.payment_intents.create(params={"amount": 900, "currency": "eur"})
        client.v1.payment_intents.confirm(other.id, params={"payment_method": "pm_card_visa"})
        gateway = StripeGateway(EMULATOR_API_KEY, url)
        for n, pi in ((1, intent.id), (2, intent.id), (3, other.id)):
            await gateway.create_refund(
                payment_intent_id=pi,
                amount=300,
                reason=None,
                metadata={"refund_id": f"rf_{n}"},
                idempotency_key=f"rf_{n}:refund",
            )
        listed = await gateway.list_refunds(intent.id, page_size=1)  # pages through has_more
        assert sorted(r.metadata.get("refund_id", "") for r in listed) == ["rf_1", "rf_2"]
        assert {(r.amount, r.payment_intent_id) for r in listed} == {(300, intent.id)}
    finally:
        emulator.stop()
