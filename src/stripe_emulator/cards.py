"""Stripe's documented test cards and test PaymentMethod ids, plus the emulator's delayed method."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DELAYED = "delayed"


@dataclass(frozen=True)
class TestCard:
    number: str
    brand: str
    funding: str = "credit"
    country: str = "US"
    decline_code: str | None = None
    risk_level: str = "normal"
    risk_score: int = 20

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        # Stable per number (and across restarts) so fraud rules keyed on it can be exercised.
        digest = hashlib.sha256(f"emulator-card:{self.number}".encode()).digest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % len(alphabet)] for b in digest[:16])


@dataclass(frozen=True)
class DelayedMethod:
    """A bank debit: the payment sits in `processing` until a test helper settles it."""

    last4: str = "6789"
    bank_name: str = "STRIPE TEST BANK"

    @property
    def fingerprint(self) -> str:
        return "EmuDelayedBank01"


PaymentMethodSpec = TestCard | DelayedMethod

_CARDS = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "visa"),
        TestCard("4000056655665556", "visa", funding="debit"),
        TestCard("5555555555554444", "mastercard"),
        TestCard("378282246310005", "amex"),
        TestCard("4000000000009235", "visa", risk_level="elevated", risk_score=65),
        TestCard("4000000000000002", "visa", decline_code="generic_decline"),
        TestCard("4000000000009995", "visa", decline_code="insufficient_funds"),
        TestCard("4000000000009987", "visa", decline_code="lost_card"),
        TestCard("4000000000000069", "visa", decline_code="expired_card"),
        TestCard("4100000000000019", "visa", decline_code="fraudulent", risk_level="highest", risk_score=95),
    )
}

_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_riskLevelElevated": "4000000000009235",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_radarBlock": "4100000000000019",
}
_DELAYED_METHODS = frozenset({"pm_delayed", "pm_usBankAccount", "pm_usBankAccount_success"})

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "fraudulent": "Your card was declined.",
    "test_mode_live_card": (
        "Your card was declined. Your request was in test mode, but used a non test card. "
        "For a list of valid test cards, visit: https://stripe.com/docs/testing."
    ),
}


def normalise_number(raw: str) -> str:
    return "".join(ch for ch in raw if ch.isdigit())


def card_for_number(raw: str) -> TestCard:
    number = normalise_number(raw)
    known = _CARDS.get(number)
    if known is not None:
        return known
    # A real number in test mode is declined, never charged; that is what Stripe does too.
    return TestCard(number or "0000", "unknown", decline_code="test_mode_live_card")


def method_for_payment_method_id(pm_id: str) -> PaymentMethodSpec | None:
    if pm_id in _DELAYED_METHODS:
        return DelayedMethod()
    number = _PAYMENT_METHODS.get(pm_id)
    return _CARDS[number] if number else None
