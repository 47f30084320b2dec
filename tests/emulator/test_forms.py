"""Stripe's form encoding decoded as the SDK means it."""

from __future__ import annotations

from urllib.parse import urlencode

from stripe_emulator.forms import decode_form
from stripe_emulator.money import format_amount


def test_nested_keys_lists_and_expand() -> None:
    body = urlencode(
        [
            ("metadata[order_id]", "o-1"),
            ("metadata[0]", "kept as a key"),
            ("line_items[0][price_data][unit_amount]", "1500"),
            ("line_items[0][price_data][product_data][name]", "Mug"),
            ("line_items[0][quantity]", "2"),
            ("line_items[1][quantity]", "1"),
            ("expand[]", "line_items"),
            ("expand[]", "payment_intent"),
            ("payment_intent_data[metadata][k]", ""),
        ]
    )
    params = decode_form(body)
    assert params["metadata"] == {"order_id": "o-1", "0": "kept as a key"}
    assert params["line_items"][0]["price_data"] == {"unit_amount": "1500", "product_data": {"name": "Mug"}}
    assert params["line_items"][1] == {"quantity": "1"}
    assert params["expand"] == ["line_items", "payment_intent"]
    assert params["payment_intent_data"]["metadata"] == {"k": ""}


def test_indexed_lists_keep_their_order() -> None:
    params = decode_form("expand[1]=b&expand[0]=a&expand[10]=c")
    assert params["expand"] == ["a", "b", "c"]


def test_money_formatting_uses_the_currency_exponent() -> None:
    assert format_amount(123456, "usd") == "$1,234.56"
    assert format_amount(4500, "jpy") == "¥4,500"
    assert format_amount(1234, "kwd") == "1.234 KWD"
    assert format_amount(5, "eur") == "€0.05"
