"""The attempt rules and the Checkout window, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.attempts import (
    MAX_LIFETIME,
    MIN_LIFETIME,
    CheckoutWindow,
    NextStep,
    idempotency_key,
    next_step,
    window_for_call,
)
from payments.domain.payment_state import PaymentFacts, PaymentStatus, derive_status

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("latest", "step"),
    [
        (None, NextStep.FIRST),
        (PaymentStatus.OPEN, NextStep.ANSWER_LIVE),
        (PaymentStatus.PROCESSING, NextStep.ANSWER_LIVE),
        (PaymentStatus.EXPIRED, NextStep.NEW_ATTEMPT),
        (PaymentStatus.FAILED, NextStep.NEW_ATTEMPT),
        (PaymentStatus.CANCELED, NextStep.NEW_ATTEMPT),
        (PaymentStatus.SUCCEEDED, NextStep.ALREADY_PAID),
        (PaymentStatus.PARTIALLY_REFUNDED, NextStep.ALREADY_PAID),
        (PaymentStatus.REFUNDED, NextStep.ALREADY_PAID),
        (PaymentStatus.DISPUTED, NextStep.ALREADY_PAID),
        (PaymentStatus.NEEDS_REVIEW, NextStep.ALREADY_PAID),
    ],
)
def test_next_step_after_the_latest_attempt(latest: PaymentStatus | None, step: NextStep) -> None:
    assert next_step(latest) is step


@given(
    lifetime=st.integers(min_value=32, max_value=24 * 60 - 2),
    delays=st.lists(st.integers(min_value=0, max_value=5 * 24 * 3600), max_size=8),
)
def test_every_call_gets_a_window_stripe_accepts_and_a_new_one_only_with_a_new_key(
    lifetime: int, delays: list[int]
) -> None:
    now, window = T0, window_for_call(T0, None, timedelta(minutes=lifetime))
    assert window.generation == 0
    for delay in sorted(delays):
        now = T0 + timedelta(seconds=delay)
        nxt = window_for_call(now, window, timedelta(minutes=lifetime))
        assert MIN_LIFETIME <= nxt.expires_at - now <= MAX_LIFETIME
        assert timedelta(minutes=30) < nxt.expires_at - now < timedelta(hours=24)
        if nxt != window:
            assert nxt.generation == window.generation + 1
        window = nxt


def test_the_window_is_kept_while_stripe_would_accept_it() -> None:
    window = CheckoutWindow(T0 + timedelta(minutes=60), 0)
    assert window_for_call(T0 + timedelta(minutes=28), window, timedelta(minutes=60)) == window
    renewed = window_for_call(T0 + timedelta(minutes=29), window, timedelta(minutes=60))
    assert renewed == CheckoutWindow(T0 + timedelta(minutes=89), 1)


def test_idempotency_keys_by_generation() -> None:
    assert idempotency_key("pay_1", "checkout_session", 0) == "pay_1:checkout_session"
    assert idempotency_key("pay_1", "checkout_session", 2) == "pay_1:checkout_session:2"


def test_an_expiry_after_our_cancel_request_is_the_cancel() -> None:
    requested = PaymentFacts(cancel_requested=True)
    assert derive_status(requested, 100, "eur") is PaymentStatus.OPEN
    assert derive_status(requested.merge(PaymentFacts(expired=True)), 100, "eur") is PaymentStatus.CANCELED
    assert derive_status(PaymentFacts(expired=True), 100, "eur") is PaymentStatus.EXPIRED
    paid = PaymentFacts(succeeded=True, amount_received=100, currency_received="eur")
    assert derive_status(requested.merge(paid), 100, "eur") is PaymentStatus.SUCCEEDED
    assert PaymentFacts.from_json(requested.to_json()) == requested
