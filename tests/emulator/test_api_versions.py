"""Each webhook endpoint receives events in its pinned API version (shapes before/after 2022-11-15)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from stripe_emulator.objects import API_VERSION

from .receiver import Receiver

OLD = "2020-08-27"


@pytest.fixture
def old_receiver(client: stripe.StripeClient) -> Iterator[Receiver]:
    recv = Receiver()
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": recv.url + "/old", "enabled_events": ["*"], "api_version": OLD}
    )
    assert endpoint.api_version == OLD
    recv.secret = endpoint.secret
    yield recv
    client.v1.webhook_endpoints.delete(endpoint.id)
    recv.close()
    assert not recv.rejected


def test_charge_refunds_and_intent_charges_follow_the_endpoint_version(
    client: stripe.StripeClient, receiver: Receiver, old_receiver: Receiver, helpers: httpx.Client
) -> None:
    pi = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 1200})
    ids = {pi.id, str(pi.latest_charge)}

    old_refunded = old_receiver.wait_for_type(ids, "charge.refunded")
    new_refunded = receiver.wait_for_type(ids, "charge.refunded")
    assert old_refunded["id"] == new_refunded["id"]
    assert (old_refunded["api_version"], new_refunded["api_version"]) == (OLD, API_VERSION)
    old_charge, new_charge = old_refunded["data"]["object"], new_refunded["data"]["object"]
    assert [r["id"] for r in old_charge["refunds"]["data"]] == [refund.id]
    assert "refunds" not in new_charge
    assert old_charge["amount_refunded"] == new_charge["amount_refunded"] == 1200

    old_paid = old_receiver.wait_for_type(ids, "payment_intent.succeeded")["data"]["object"]
    new_paid = receiver.wait_for_type(ids, "payment_intent.succeeded")["data"]["object"]
    assert [c["id"] for c in old_paid["charges"]["data"]] == [pi.latest_charge]
    assert old_paid["charges"]["data"][0]["amount_captured"] == 5000
    assert "charges" not in new_paid
    assert old_paid["amount_received"] == new_paid["amount_received"] == 5000
    assert old_paid["latest_charge"] == new_paid["latest_charge"] == pi.latest_charge

    # The Events API answers in the account's version.
    listed = client.v1.events.retrieve(new_refunded["id"])
    assert listed.api_version == API_VERSION
    assert "refunds" not in listed.data.object


def test_api_answers_take_the_shape_of_the_version_asked_for(
    client: stripe.StripeClient, base_url: str
) -> None:
    """Since 2022-11-15 a charge lists its refunds only when expanded, as Stripe answers; the SDK pins a
    later version, and an older Stripe-Version header gets the older shape."""
    pi = client.v1.payment_intents.create(
        params={"amount": 5000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 700})
    charge_id = str(pi.latest_charge)

    current = client.v1.charges.retrieve(charge_id)
    assert "refunds" not in current and current.amount_refunded == 700
    expanded = client.v1.charges.retrieve(charge_id, params={"expand": ["refunds"]})
    assert [r.id for r in expanded.refunds.data] == [refund.id]
    intent = client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge"]})
    assert "charges" not in intent and "refunds" not in intent.latest_charge

    with httpx.Client(base_url=base_url, auth=("sk_test_emulator", "")) as http:
        old = http.get(f"/v1/charges/{charge_id}", headers={"Stripe-Version": OLD})
        assert old.headers["stripe-version"] == OLD
        assert [r["id"] for r in old.json()["refunds"]["data"]] == [refund.id]
        old_intent = http.get(f"/v1/payment_intents/{pi.id}", headers={"Stripe-Version": OLD}).json()
        assert [c["id"] for c in old_intent["charges"]["data"]] == [charge_id]
        assert [r["id"] for r in old_intent["charges"]["data"][0]["refunds"]["data"]] == [refund.id]

        # A replay says the version its saved body was rendered in, whatever the retry asks.
        form = {"payment_intent": pi.id, "amount": "100"}
        key = {"Idempotency-Key": f"replay-{pi.id}"}
        first = http.post("/v1/refunds", data=form, headers={**key, "Stripe-Version": OLD})
        again = http.post("/v1/refunds", data=form, headers=key)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.headers["stripe-version"] == first.headers["stripe-version"] == OLD

        for version in ("garbage", "2019-01-01", "2999-01-01"):
            refused = http.get(f"/v1/charges/{charge_id}", headers={"Stripe-Version": version})
            assert refused.status_code == 400, version
            assert refused.json()["error"]["type"] == "invalid_request_error"


def test_an_unknown_api_version_is_refused(client: stripe.StripeClient) -> None:
    for version in ("2010-01-01", "yesterday", "2999-01-01"):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.webhook_endpoints.create(
                params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"], "api_version": version}
            )
        assert refused.value.param == "api_version"
