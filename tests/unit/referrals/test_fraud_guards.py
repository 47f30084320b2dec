from dataclasses import replace

import pytest

from payments.domain.fraud_guards import (
    GuardDecision,
    GuardFacts,
    GuardReason,
    Verdict,
    decide,
    normalise_email,
)

CLEAN = GuardFacts(
    referrer_id="ref_1",
    customer_user_id="user_1",
    customer_email="buyer@example.com",
    card_fingerprint="fp_buyer",
    amount=10_000,
    min_amount=100,
    order_has_commission=False,
    recent_accruals=0,
    velocity_limit=20,
    referrer_emails=frozenset({"referrer@example.com"}),
    referrer_fingerprints=frozenset({"fp_referrer"}),
    risk_level="normal",
    needs_review=False,
    banned=False,
)

CASES = [
    ("no_referrer", {"referrer_id": None}, GuardDecision.refuse(GuardReason.NO_REFERRER)),
    ("blank_referrer", {"referrer_id": "  "}, GuardDecision.refuse(GuardReason.NO_REFERRER)),
    ("banned_referrer", {"banned": True}, GuardDecision.refuse(GuardReason.BANNED_REFERRER)),
    ("duplicate_order", {"order_has_commission": True}, GuardDecision.refuse(GuardReason.DUPLICATE_ORDER)),
    ("self_referral", {"customer_user_id": "ref_1"}, GuardDecision.refuse(GuardReason.SELF_REFERRAL)),
    (
        "shared_email",
        {"customer_email": "referrer@example.com"},
        GuardDecision.refuse(GuardReason.SHARED_EMAIL),
    ),
    ("shared_card", {"card_fingerprint": "fp_referrer"}, GuardDecision.refuse(GuardReason.SHARED_CARD)),
    ("below_minimum", {"amount": 99}, GuardDecision.refuse(GuardReason.BELOW_MINIMUM)),
    ("amount_mismatch", {"needs_review": True}, GuardDecision.hold(GuardReason.AMOUNT_MISMATCH)),
    ("elevated_risk", {"risk_level": "elevated"}, GuardDecision.hold(GuardReason.ELEVATED_RISK)),
    ("highest_risk", {"risk_level": "highest"}, GuardDecision.hold(GuardReason.ELEVATED_RISK)),
    ("velocity", {"recent_accruals": 20}, GuardDecision.hold(GuardReason.VELOCITY)),
]


@pytest.mark.parametrize(("name", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_guard_gives_its_verdict_and_reason(
    name: str, change: dict[str, object], expected: GuardDecision
) -> None:
    assert decide(replace(CLEAN, **change)) == expected  # type: ignore[arg-type]


def test_clean_referral_accrues() -> None:
    assert decide(CLEAN) == GuardDecision.accrue()


def test_velocity_just_below_the_limit_accrues() -> None:
    assert decide(replace(CLEAN, recent_accruals=19)).verdict is Verdict.ACCRUE


def test_amount_at_the_minimum_accrues() -> None:
    assert decide(replace(CLEAN, amount=100)).verdict is Verdict.ACCRUE


def test_refusals_win_over_holds() -> None:
    decision = decide(replace(CLEAN, customer_user_id="ref_1", risk_level="highest", recent_accruals=99))
    assert decision == GuardDecision.refuse(GuardReason.SELF_REFERRAL)


def test_empty_email_and_fingerprint_never_match() -> None:
    facts = replace(
        CLEAN, customer_email="", card_fingerprint="", referrer_emails={""}, referrer_fingerprints={""}
    )
    assert decide(facts).verdict is Verdict.ACCRUE


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("  Jane.Doe+shop@GMail.com ", "janedoe@gmail.com"),
        ("j.a.n.e.doe@googlemail.com", "janedoe@gmail.com"),
        ("jane.doe+x@example.com", "jane.doe@example.com"),
        ("JANE@Example.COM", "jane@example.com"),
        ("", ""),
        (None, ""),
        ("not-an-address", ""),
        ("+tag@example.com", ""),
    ],
)
def test_email_normalisation(raw: str | None, normalised: str) -> None:
    assert normalise_email(raw) == normalised
