"""The emulator's own copy of Stripe's currency rules (it shares nothing with the service's)."""

from __future__ import annotations

import pytest
import stripe

from stripe_emulator.money import amount_problem, exponent, format_amount


def test_exponents_follow_stripes_currency_table() -> None:
    assert [exponent(c) for c in ("usd", "jpy", "krw", "xof", "ugx", "kwd", "tnd", "isk")] == [
        2, 0, 0, 0, 0, 3, 3, 2
    ]  # fmt: skip


def test_three_decimal_amounts_must_end_in_zero() -> None:
    assert amount_problem(5120, "kwd") is None
    problem = amount_problem(5124, "kwd")
    assert problem is not None and problem[0] == "invalid_charge_amount"
    assert amount_problem(5124, "usd") is None


def test_isk_is_two_decimal_but_whole_kronur_only() -> None:
    assert amount_problem(4000, "isk") is None
    problem = amount_problem(4010, "isk")
    assert problem is not None and problem[0] == "invalid_charge_amount_no_decimal_compatible"
    assert format_amount(4000, "isk") == "40 ISK"


@pytest.mark.parametrize(("amount", "currency"), [(5124, "kwd"), (4010, "isk")])
def test_payment_intent_refuses_an_amount_the_currency_cannot_carry(
    client: stripe.StripeClient, amount: int, currency: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(params={"amount": amount, "currency": currency})
    assert refused.value.http_status == 400
    assert refused.value.error.param == "amount"


def test_checkout_session_refuses_a_total_the_currency_cannot_carry(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": "https://shop.example/ok",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "bhd",
                            "unit_amount": 1005,
                            "product_data": {"name": "Lamp"},
                        },
                        "quantity": 1,
                    }
                ],
            }
        )
    assert refused.value.error.code == "invalid_charge_amount"
    assert refused.value.error.param == "line_items"


def test_an_amount_past_eight_digits_is_too_large_as_on_stripe(client: stripe.StripeClient) -> None:
    assert amount_problem(99_999_999, "usd") is None
    assert amount_problem(100_000_000, "usd") == (
        "amount_too_large",
        "Amount must be no more than $999,999.99",
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.payment_intents.create(params={"amount": 100_000_000, "currency": "usd"})
    assert (refused.value.error.code, refused.value.error.param) == ("amount_too_large", "amount")
