"""Parameters Stripe refuses, refused here too: a leniency would hide the service's mistake until live."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import stripe

from .conftest import make_client, session_params


def _intent(client: stripe.StripeClient, **params: Any) -> Any:
    return client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", **params})


@pytest.mark.parametrize(
    "metadata",
    [{f"k{i}": "v" for i in range(51)}, {"k" * 41: "v"}, {"order_id": "x" * 501}],
    ids=["51 keys", "a key of 41", "a value of 501"],
)
def test_metadata_past_stripes_limits_is_refused(
    client: stripe.StripeClient, metadata: dict[str, str]
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(client, metadata=metadata)
    assert str(refused.value.param).startswith("metadata")
    assert _intent(client, metadata={f"k{i}": "v" * 500 for i in range(50)}).status  # the limits themselves


@pytest.mark.parametrize("name", ["success_url", "cancel_url"])
@pytest.mark.parametrize(
    "url", ["shop.example.com/ok", "not a url", "https://", "https://shop.example/a b", "http://[::1/ok"]
)
def test_a_redirect_that_is_not_an_absolute_url_is_refused(
    client: stripe.StripeClient, marker: str, name: str, url: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=session_params(marker, **{name: url}))
    assert (refused.value.param, refused.value.code) == (name, "url_invalid")


def test_an_email_that_is_not_one_is_refused(client: stripe.StripeClient, marker: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(params=session_params(marker, customer_email="not-an-email"))
    assert (refused.value.param, refused.value.code) == ("customer_email", "email_invalid")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(client, receipt_email="not-an-email")
    assert refused.value.param == "receipt_email"


def test_a_description_past_1000_characters_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        _intent(client, description="d" * 1001)
    assert refused.value.param == "description"


def test_an_idempotency_key_belongs_to_the_api_key_that_used_it(base_url: str) -> None:
    key = f"idem-{uuid.uuid4().hex}"
    first = make_client(base_url, "sk_test_account_one").v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd"}, options={"idempotency_key": key}
    )
    second = make_client(base_url, "sk_test_account_two").v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd"}, options={"idempotency_key": key}
    )
    assert second.id != first.id and second.amount == 2000


def test_an_update_cannot_take_metadata_past_50_keys(client: stripe.StripeClient) -> None:
    intent = _intent(client, metadata={f"k{i}": "v" for i in range(50)})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.update(intent.id, params={"metadata": {"k50": "v"}})


async def test_the_saved_state_never_holds_an_api_key(tmp_path: Any) -> None:
    import httpx

    from stripe_emulator.server import build_app

    state = tmp_path / "state.json"
    transport = httpx.ASGITransport(app=build_app(state_file=str(state)))
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as http:
        answer = await http.post(
            "/v1/payment_intents",
            data={"amount": "100", "currency": "usd"},
            headers={"Authorization": "Bearer sk_test_SECRETvalue1234", "Idempotency-Key": "k1"},
        )
        assert answer.status_code == 200
    assert "k1" in state.read_text() and "SECRETvalue1234" not in state.read_text()
