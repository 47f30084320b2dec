"""Refunds: partial, repeated, over-refund rejected, failing later; the charge keeps count."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .receiver import Receiver


def _paid(client: stripe.StripeClient, amount: int = 10_000) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        params={"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )


def test_partial_second_partial_and_over_refund(
    client: stripe.StripeClient, receiver: Receiver, marker: str
) -> None:
    pi = _paid(client)

    first = client.v1.refunds.create(
        params={
            "payment_intent": pi.id,
            "amount": 3000,
            "reason": "requested_by_customer",
            "metadata": {"refund_request": f"r1-{marker}"},
        }
    )
    assert first.status == "succeeded"
    assert first.amount == 3000
    assert first.charge == pi.latest_charge
    assert first.metadata.to_dict() == {"refund_request": f"r1-{marker}"}
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 3000
    assert charge.refunded is False

    second = client.v1.refunds.create(params={"charge": pi.latest_charge, "amount": 2000})
    charge = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["refunds"]})
    assert charge.amount_refunded == 5000
    assert [r.id for r in charge.refunds.data] == [second.id, first.id]

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 5001})
    assert too_much.value.http_status == 400
    assert too_much.value.code == "amount_too_large"
    assert too_much.value.param == "amount"

    rest = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert rest.amount == 5000
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.refunded is True
    assert charge.amount_refunded == 10_000

    with pytest.raises(stripe.InvalidRequestError) as already:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1})
    assert already.value.code == "charge_already_refunded"

    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [rest.id, second.id, first.id]
    assert [r.id for r in client.v1.refunds.list(params={"charge": pi.latest_charge, "limit": 1}).data] == [
        rest.id
    ]
    assert client.v1.refunds.retrieve(first.id).reason == "requested_by_customer"

    types = [t for t in receiver.wait_for_types({pi.id}, 12) if t.startswith(("refund.", "charge.refunded"))]
    assert types == ["refund.created", "charge.refunded", "refund.updated"] * 3
    refunded_events = [e for e in receiver.events_for({pi.id}) if e["type"] == "charge.refunded"]
    assert [e["data"]["object"]["amount_refunded"] for e in refunded_events] == [3000, 5000, 10_000]
    updated = next(e for e in receiver.events_for({pi.id}) if e["type"] == "refund.updated")
    assert updated["data"]["object"]["status"] == "succeeded"


def test_refund_failure_gives_the_amount_back_to_the_charge(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver
) -> None:
    pi = _paid(client, 4000)
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1500})

    failed = helpers.post(f"/_emulator/refunds/{refund.id}/fail")
    assert failed.status_code == 200
    assert failed.json()["status"] == "failed"
    event = receiver.wait_for_type({pi.id}, "refund.failed")
    assert event["data"]["object"]["status"] == "failed"
    assert event["data"]["object"]["failure_reason"]
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 0
    assert client.v1.refunds.retrieve(refund.id).status == "failed"
    # What failed can be refunded again.
    assert client.v1.refunds.create(params={"payment_intent": pi.id}).amount == 4000


def test_refund_needs_a_succeeded_charge(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.refunds.create(params={"payment_intent": pi.id})
    assert error.value.code == "charge_not_refundable"
    with pytest.raises(stripe.InvalidRequestError) as neither:
        client.v1.refunds.create(params={"amount": 100})
    assert neither.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.refunds.create(params={"charge": "ch_missing"})
    assert unknown.value.http_status == 404
