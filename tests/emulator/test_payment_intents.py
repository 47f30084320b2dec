"""PaymentIntents driven directly (the service's `payment_intent` mode)."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .receiver import Receiver


def _create(client: stripe.StripeClient, marker: str, amount: int = 2500) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "eur",
            "metadata": {"order_id": f"order-{marker}"},
            "description": "Order " + marker,
            "receipt_email": "buyer@example.com",
            "automatic_payment_methods": {"enabled": True},
        }
    )


def test_create_and_confirm_with_visa(client: stripe.StripeClient, receiver: Receiver, marker: str) -> None:
    pi = _create(client, marker)
    assert pi.status == "requires_payment_method"
    assert pi.client_secret.startswith(f"{pi.id}_secret_")
    assert pi.automatic_payment_methods.enabled is True
    assert pi.receipt_email == "buyer@example.com"

    confirmed = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    assert confirmed.amount_received == 2500
    charge = client.v1.charges.retrieve(confirmed.latest_charge)
    assert charge.metadata.to_dict() == {"order_id": f"order-{marker}"}
    assert charge.payment_method_details.card.brand == "visa"

    types = receiver.wait_for_types({pi.id}, 3)
    assert types == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    succeeded = receiver.events_for({pi.id})[-1]
    assert succeeded["data"]["previous_attributes"]["status"] == "requires_payment_method"


def test_decline_is_402_and_emits_payment_failed(
    client: stripe.StripeClient, receiver: Receiver, marker: str
) -> None:
    pi = _create(client, marker)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_chargeDeclined"})
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    assert declined.value.error.decline_code == "generic_decline"

    after = client.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "card_declined"
    failed = receiver.wait_for_type({pi.id}, "payment_intent.payment_failed")
    assert failed["data"]["object"]["last_payment_error"]["type"] == "card_error"


def test_delayed_method_is_processing_until_settled(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str
) -> None:
    pi = _create(client, marker)
    processing = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_delayed"})
    assert processing.status == "processing"
    settled = helpers.post(f"/_emulator/payment_intents/{pi.id}/settle", json={"outcome": "succeeded"})
    assert settled.json()["status"] == "succeeded"
    receiver.wait_for_type({pi.id}, "payment_intent.succeeded")
    again = helpers.post(f"/_emulator/payment_intents/{pi.id}/settle", json={"outcome": "succeeded"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"


def test_cancel_emits_canceled_and_blocks_confirm(
    client: stripe.StripeClient, receiver: Receiver, marker: str
) -> None:
    pi = _create(client, marker)
    canceled = client.v1.payment_intents.cancel(
        pi.id, params={"cancellation_reason": "requested_by_customer"}
    )
    assert canceled.status == "canceled"
    assert canceled.cancellation_reason == "requested_by_customer"
    assert canceled.canceled_at is not None
    receiver.wait_for_type({pi.id}, "payment_intent.canceled")
    with pytest.raises(stripe.InvalidRequestError) as unexpected:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert unexpected.value.code == "payment_intent_unexpected_state"


def test_card_fingerprint_is_stable_per_number_and_risk_is_reported(
    client: stripe.StripeClient, marker: str
) -> None:
    def pay(pm: str) -> stripe.Charge:
        pi = client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method": pm, "confirm": True}
        )
        return client.v1.charges.retrieve(pi.latest_charge)

    first, second, other = pay("pm_card_visa"), pay("pm_card_visa"), pay("pm_card_mastercard")
    assert first.payment_method_details.card.fingerprint == second.payment_method_details.card.fingerprint
    assert first.payment_method_details.card.fingerprint != other.payment_method_details.card.fingerprint
    assert other.payment_method_details.card.last4 == "4444"
    elevated = pay("pm_card_riskLevelElevated")
    assert elevated.outcome.risk_level == "elevated"
    assert first.outcome.risk_level == "normal"


def test_unknown_payment_method_and_bad_amount(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing_pm:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method": "pm_nope", "confirm": True}
        )
    assert missing_pm.value.http_status == 404
    assert missing_pm.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as no_amount:
        client.v1.payment_intents.create(params={"currency": "usd"})
    assert no_amount.value.param == "amount"
