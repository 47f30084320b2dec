"""Every object has at least the keys of Stripe's own example of it (fixtures3.json), nested too."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import httpx
import pytest
import stripe

from stripe_emulator.objects import API_VERSION
from stripe_emulator.versions import removed_fields

from .conftest import FIXTURES, session_params
from .receiver import Receiver

# Subtrees whose example holds a different kind of object than a payment flow produces.
SKIP = {"event": {"data.object"}, "charge": {"source"}}


@cache
def fixtures() -> dict[str, Any]:
    if not FIXTURES.exists():
        pytest.fail(
            f"Stripe's fixtures are missing: expected {FIXTURES} (vendored under tests/fixtures/stripe/)"
        )
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def missing_keys(
    expected: dict[str, Any], actual: dict[str, Any], skip: set[str], path: str = ""
) -> list[str]:
    missing = []
    for key, example in expected.items():
        where = f"{path}{key}"
        if where in skip:
            continue
        if key not in actual:
            missing.append(where)
        elif isinstance(example, dict) and example and isinstance(actual[key], dict):
            missing += missing_keys(example, actual[key], skip, where + ".")
    return missing


def raw(obj: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(obj.last_response.body)
    body["__version"] = obj.last_response.headers["Stripe-Version"]  # the version it is answered in
    return body


def assert_shape(kind: str, actual: dict[str, Any]) -> None:
    """Stripe's fixtures show expandable lists (a charge's refunds) that the answer's version omits."""
    assert actual["object"] == fixtures()[kind]["object"]
    skip = SKIP.get(kind, set()) | removed_fields(kind, actual.get("__version", API_VERSION))
    assert missing_keys(fixtures()[kind], actual, skip) == []


def test_flow_objects_have_stripes_keys(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))
    assert_shape("checkout.session", raw(session))  # open: most fields still null
    helpers.post(f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4242424242424242"})
    completed = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    body = raw(completed)
    assert_shape("checkout.session", body)
    assert missing_keys(fixtures()["item"], body["line_items"]["data"][0], set()) == []

    pi = client.v1.payment_intents.retrieve(completed.payment_intent)
    assert_shape("payment_intent", raw(pi))
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert_shape("charge", raw(charge))

    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    assert_shape("refund", raw(refund))
    assert_shape("refund", raw(client.v1.refunds.retrieve(refund.id)))
    assert_shape("charge", raw(client.v1.charges.retrieve(pi.latest_charge)))

    dispute_id = helpers.post(f"/_emulator/charges/{pi.latest_charge}/dispute", json={}).json()["id"]
    assert_shape("dispute", raw(client.v1.disputes.retrieve(dispute_id)))

    receiver.wait_for_type({session.id}, "checkout.session.completed")
    for delivered in receiver.events_for({session.id, pi.id}):
        assert_shape("event", delivered)
        kind = delivered["data"]["object"]["object"]
        if kind in fixtures() and kind != "event":
            # Stripe's fixtures show expandable lists (a charge's refunds) that current versions omit.
            skip = SKIP.get(kind, set()) | removed_fields(kind, delivered["api_version"])
            assert delivered["data"]["object"]["object"] == fixtures()[kind]["object"]
            assert missing_keys(fixtures()[kind], delivered["data"]["object"], skip) == []
    event = client.v1.events.retrieve(receiver.events_for({session.id})[-1]["id"])
    assert_shape("event", raw(event))


def test_declined_payment_intent_and_endpoint_shapes(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_chargeDeclined"})
    failed = client.v1.payment_intents.retrieve(pi.id)
    assert_shape("payment_intent", raw(failed))
    assert_shape("charge", raw(client.v1.charges.retrieve(failed.latest_charge)))

    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]}
    )
    try:
        assert_shape("webhook_endpoint", raw(endpoint))
        assert_shape("webhook_endpoint", raw(client.v1.webhook_endpoints.retrieve(endpoint.id)))
    finally:
        client.v1.webhook_endpoints.delete(endpoint.id)


def test_error_shape(client: stripe.StripeClient, base_url: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.retrieve("pi_missing")
    error = json.loads(missing.value.http_body or "{}")["error"]
    assert {"type", "code", "message", "param"} <= set(error)
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")

    with pytest.raises(stripe.AuthenticationError) as unauthenticated:
        stripe.StripeClient(
            api_key="sk_live_nope", base_addresses={"api": base_url}, max_network_retries=0
        ).v1.events.list()
    assert unauthenticated.value.http_status == 401
    assert json.loads(unauthenticated.value.http_body or "{}")["error"]["type"] == "invalid_request_error"
