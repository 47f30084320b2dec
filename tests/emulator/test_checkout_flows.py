"""Checkout Session flows end to end: SDK in, signed webhooks out, in the order a real account sends them."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from .conftest import session_params
from .receiver import Receiver


def test_session_create_parses_nested_form_fields(client: stripe.StripeClient, marker: str) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))

    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.payment_intent is None  # as Stripe: no PaymentIntent until someone tries to pay
    assert session.amount_total == 2 * 1500 + 499
    assert session.currency == "usd"
    assert session.metadata.to_dict() == {"order_id": f"order-{marker}"}
    assert session.client_reference_id == f"order-{marker}"
    assert session.customer_email == "buyer@example.com"
    assert session.url.endswith(f"/pay/{session.id}")

    again = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["line_items"]})
    names = [item.description for item in again.line_items.data]
    assert names == ["Blue mug", "Coaster"]
    assert [item.quantity for item in again.line_items.data] == [2, 1]
    listed = client.v1.checkout.sessions.line_items.list(session.id)
    assert [item.amount_total for item in listed.data] == [3000, 499]


def test_session_validation_errors_have_stripes_shape(client: stripe.StripeClient, marker: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params=session_params(marker, line_items=[]))
    assert missing.value.http_status == 400
    assert missing.value.code == "parameter_missing"
    assert missing.value.param == "line_items"

    bad_item = [
        {
            "price_data": {"currency": "usd", "unit_amount": "abc", "product_data": {"name": "x"}},
            "quantity": 1,
        }
    ]
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.checkout.sessions.create(params=session_params(marker, line_items=bad_item))
    assert invalid.value.param == "line_items[0][price_data][unit_amount]"

    with pytest.raises(stripe.InvalidRequestError) as not_found:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert not_found.value.http_status == 404
    assert not_found.value.code == "resource_missing"


def test_card_payment_completes_session_with_events_in_order(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))

    paid = helpers.post(f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4242424242424242"})
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "complete"
    assert paid.json()["payment_status"] == "paid"

    pi_id = paid.json()["payment_intent"]
    types = receiver.wait_for_types({session.id, pi_id}, 4)
    assert types == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    completed = receiver.events_for({session.id})[-1]
    assert completed["data"]["object"]["payment_status"] == "paid"
    assert completed["data"]["object"]["payment_intent"] == pi_id
    assert completed["api_version"] == stripe.api_version

    pi = client.v1.payment_intents.retrieve(pi_id)
    assert pi.status == "succeeded"
    assert pi.metadata.to_dict() == {"order_id": f"order-{marker}", "user_id": "u-1"}
    assert pi.amount_received == 3499
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.paid and charge.status == "succeeded"
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.outcome.risk_level == "normal"

    by_pi = client.v1.checkout.sessions.list(params={"payment_intent": pi_id})
    assert [s.id for s in by_pi.data] == [session.id]


def test_decline_keeps_session_open_then_a_good_card_pays(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))

    declined = helpers.post(
        f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4000000000000002"}
    )
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert error["type"] == "card_error"
    assert error["code"] == "card_declined"
    assert error["decline_code"] == "generic_decline"

    after_decline = client.v1.checkout.sessions.retrieve(session.id)
    assert after_decline.status == "open"
    pi_id = after_decline.payment_intent
    assert pi_id is not None
    failed = receiver.wait_for_type({pi_id}, "payment_intent.payment_failed")
    assert failed["data"]["object"]["status"] == "requires_payment_method"
    assert failed["data"]["object"]["last_payment_error"]["code"] == "card_declined"
    pi = client.v1.payment_intents.retrieve(pi_id)
    assert pi.last_payment_error.decline_code == "generic_decline"

    ok = helpers.post(f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4242 4242 4242 4242"})
    assert ok.status_code == 200
    assert ok.json()["payment_intent"] == pi_id  # the same PaymentIntent, as Stripe reuses it
    types = receiver.wait_for_types({session.id, pi_id}, 6)
    assert types == [
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_delayed_method_completes_unpaid_then_settles(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str, outcome: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))
    paid = helpers.post(f"/_emulator/checkout/sessions/{session.id}/pay", json={"method": "delayed"})
    assert paid.status_code == 200
    assert paid.json()["status"] == "complete"
    assert paid.json()["payment_status"] == "unpaid"
    pi_id = paid.json()["payment_intent"]

    completed = receiver.wait_for_type({session.id}, "checkout.session.completed")
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    assert client.v1.payment_intents.retrieve(pi_id).status == "processing"

    settled = helpers.post(f"/_emulator/payment_intents/{pi_id}/settle", json={"outcome": outcome})
    assert settled.status_code == 200, settled.text
    if outcome == "succeeded":
        assert settled.json()["status"] == "succeeded"
        receiver.wait_for_type({session.id}, "checkout.session.async_payment_succeeded")
        expected_tail = [
            "charge.succeeded",
            "payment_intent.succeeded",
            "checkout.session.async_payment_succeeded",
        ]
        assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
    else:
        assert settled.json()["status"] == "requires_payment_method"
        receiver.wait_for_type({session.id}, "checkout.session.async_payment_failed")
        expected_tail = [
            "charge.failed",
            "payment_intent.payment_failed",
            "checkout.session.async_payment_failed",
        ]
        assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"
    assert receiver.types_for({session.id, pi_id}) == [
        "payment_intent.created",
        "charge.pending",
        "payment_intent.processing",
        "checkout.session.completed",
        *expected_tail,
    ]


def test_expire_by_api(client: stripe.StripeClient, receiver: Receiver, marker: str) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    event = receiver.wait_for_type({session.id}, "checkout.session.expired")
    assert event["data"]["object"]["status"] == "expired"
    assert event["request"]["id"] is not None

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)


def test_expire_when_expires_at_passes(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(
        params=session_params(marker, expires_at=int(time.time()) + 31 * 60)
    )
    # 30 minutes later the session still takes payment; a minute after expires_at the clock ended it.
    assert (
        helpers.post(
            f"/_emulator/checkout/sessions/{session.id}/fast_forward", json={"seconds": 1800}
        ).json()["status"]
        == "open"
    )
    helpers.post(f"/_emulator/checkout/sessions/{session.id}/fast_forward", json={"seconds": 120})
    event = receiver.wait_for_type({session.id}, "checkout.session.expired", timeout=10)
    assert event["request"]["id"] is None  # the clock did it, not an API call
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    late = helpers.post(f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4242424242424242"})
    assert late.status_code == 400


@pytest.mark.parametrize(
    ("lifetime", "message"),
    [
        (29 * 60, "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."),
        (-60, "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation."),
        (
            24 * 3600 + 120,
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
        ),
    ],
)
def test_expires_at_outside_stripes_window_is_refused_as_stripe_does(
    client: stripe.StripeClient, marker: str, lifetime: int, message: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(
            params=session_params(marker, expires_at=int(time.time()) + lifetime)
        )
    assert info.value.http_status == 400
    assert info.value.user_message == message and info.value.param == "expires_at"
    assert info.value.error is not None and info.value.error.type == "invalid_request_error"


@pytest.mark.parametrize("lifetime", [30 * 60 + 5, 24 * 3600 - 5])
def test_expires_at_inside_the_window_is_accepted(
    client: stripe.StripeClient, marker: str, lifetime: int
) -> None:
    expires_at = int(time.time()) + lifetime
    session = client.v1.checkout.sessions.create(params=session_params(marker, expires_at=expires_at))
    assert session.expires_at == expires_at and session.status == "open"


def test_an_expired_sessions_page_no_longer_pays(
    client: stripe.StripeClient, helpers: httpx.Client, base_url: str, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))
    client.v1.checkout.sessions.expire(session.id)
    page = httpx.get(session.url)
    assert "This checkout session has expired." in page.text and 'name="card_number"' not in page.text
    submitted = httpx.post(session.url, data={"card_number": "4242424242424242"})
    assert "This checkout session has expired." in submitted.text
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "unpaid"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.expire(session.id)
    assert info.value.user_message == (
        'Only Checkout Sessions with a status in ["open"] can be expired. '
        "This Checkout Session has a status of `expired`."
    )


def test_a_checkout_sessions_payment_intent_cannot_be_canceled_directly(
    client: stripe.StripeClient, helpers: httpx.Client, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker))
    declined = helpers.post(
        f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4000000000000002"}
    )
    assert declined.status_code == 402
    pi_id = client.v1.checkout.sessions.retrieve(session.id).payment_intent
    assert isinstance(pi_id, str)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.cancel(pi_id)
    assert info.value.user_message == "You cannot perform this action on PaymentIntents created by Checkout."
    client.v1.checkout.sessions.expire(session.id)  # the way Stripe offers instead, which ends the intent
    assert client.v1.payment_intents.retrieve(pi_id).status == "canceled"


def test_session_list_filters_and_paginates(client: stripe.StripeClient, marker: str) -> None:
    ids = [client.v1.checkout.sessions.create(params=session_params(marker)).id for _ in range(3)]
    first = client.v1.checkout.sessions.list(params={"limit": 2})
    assert [s.id for s in first.data] == ids[::-1][:2]
    assert first.has_more is True
    second = client.v1.checkout.sessions.list(params={"limit": 2, "starting_after": first.data[-1].id})
    assert second.data[0].id == ids[0]
