"""envelope_problem with the raw body: the cheap path must not let a NUL or a lone surrogate through."""

from __future__ import annotations

import json

from payments.webhooks.stripe_events import envelope_problem


def _parsed(raw: bytes) -> dict[str, object]:
    event: dict[str, object] = json.loads(raw.decode("utf-8"))
    return event


def test_a_nul_escape_in_the_raw_body_is_still_refused() -> None:
    raw = b'{"id":"evt_1","type":"charge.refunded","data":{"object":{"description":"a\\u0000b"}}}'
    assert envelope_problem(_parsed(raw), raw) == "the event holds a NUL character"


def test_a_lone_surrogate_escape_in_the_raw_body_is_still_refused() -> None:
    raw = b'{"id":"evt_1","type":"charge.refunded","data":{"object":{"description":"\\ud800"}}}'
    assert envelope_problem(_parsed(raw), raw) == "the event holds text that is not valid Unicode"


def test_a_body_without_escapes_passes_and_plain_utf8_text_is_fine() -> None:
    raw = '{"id":"evt_1","type":"charge.refunded","data":{"object":{"description":"Müsli ☕"}}}'.encode()
    assert envelope_problem(_parsed(raw), raw) is None


def test_the_envelope_fields_are_checked_whatever_the_body() -> None:
    raw = b'{"id":"","type":"charge.refunded"}'
    assert envelope_problem(_parsed(raw), raw) == "id must be a string of 1 to 255 characters"
