"""Disputes opened and closed by test helpers, with the events Stripe sends."""

from __future__ import annotations

import httpx
import pytest
import stripe

from .receiver import Receiver


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_dispute_lifecycle(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, outcome: str
) -> None:
    pi = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    opened = helpers.post(f"/_emulator/charges/{pi.latest_charge}/dispute", json={})
    assert opened.status_code == 200, opened.text
    dispute = opened.json()
    assert dispute["object"] == "dispute"
    assert dispute["status"] == "needs_response"
    assert dispute["amount"] == 5000
    assert client.v1.charges.retrieve(pi.latest_charge).disputed is True
    assert client.v1.disputes.retrieve(dispute["id"]).charge == pi.latest_charge

    with pytest.raises(stripe.InvalidRequestError) as refund_blocked:
        client.v1.refunds.create(params={"payment_intent": pi.id})
    assert refund_blocked.value.code == "charge_disputed"

    closed = helpers.post(f"/_emulator/disputes/{dispute['id']}/close", json={"outcome": outcome})
    assert closed.json()["status"] == outcome

    expected = ["charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.closed"]
    if outcome == "won":
        expected.append("charge.dispute.funds_reinstated")
    types = receiver.wait_for_types({pi.id}, 3 + len(expected))
    assert [t for t in types if t.startswith("charge.dispute.")] == expected
    withdrawn = next(e for e in receiver.events_for({pi.id}) if e["type"] == "charge.dispute.funds_withdrawn")
    assert withdrawn["data"]["object"]["balance_transactions"][0]["amount"] == -5000

    again = helpers.post(f"/_emulator/disputes/{dispute['id']}/close", json={"outcome": outcome})
    assert again.status_code == 400
