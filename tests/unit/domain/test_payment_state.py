"""The payment state machine: facts merge as a semilattice, so order and duplicates cannot matter."""

from __future__ import annotations

import itertools
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from payments.domain.payment_state import (
    DisputePhase,
    PaymentFacts,
    PaymentStatus,
    RefundFact,
    RefundStatus,
    derive_status,
    refundable_amount,
)

AMOUNT = 10_000
PAID = PaymentFacts(succeeded=True, amount_received=AMOUNT, currency_received="eur")

refund_facts = st.builds(
    lambda rid, amount, status, created: PaymentFacts(refunds={rid: RefundFact(amount, status, created)}),
    st.sampled_from(["re_1", "re_2", "re_3"]),
    st.sampled_from([3000, 4000]),
    st.sampled_from(list(RefundStatus)),
    st.integers(1, 5),
)
facts = st.one_of(
    st.just(PAID),
    st.just(PaymentFacts(processing=True)),
    st.just(PaymentFacts(failed=True)),
    st.builds(lambda at: PaymentFacts(processing=True, processing_at=at), st.integers(1, 5)),
    st.builds(lambda at: PaymentFacts(failed=True, failed_at=at), st.integers(1, 5)),
    st.just(PaymentFacts(expired=True)),
    st.just(PaymentFacts(card_fingerprint="fp_1", risk_level="normal")),
    st.builds(lambda p: PaymentFacts(disputes={"dp_1": p}), st.sampled_from(list(DisputePhase))),
    refund_facts,
)


@given(st.lists(facts, min_size=1, max_size=8), st.randoms())
def test_any_order_and_any_duplication_gives_the_same_facts_and_status(items, rnd):
    shuffled = list(items) + rnd.sample(items, k=min(3, len(items)))
    rnd.shuffle(shuffled)
    a = reduce(PaymentFacts.merge, items, PaymentFacts())
    b = reduce(PaymentFacts.merge, shuffled, PaymentFacts())
    assert a == b
    assert derive_status(a, AMOUNT, "eur") == derive_status(b, AMOUNT, "eur")


@given(facts, facts)
def test_merge_is_commutative_and_idempotent(x, y):
    assert x.merge(y) == y.merge(x)
    assert x.merge(x) == x


@given(st.lists(facts, max_size=6))
def test_json_round_trip(items):
    merged = reduce(PaymentFacts.merge, items, PaymentFacts())
    assert PaymentFacts.from_json(merged.to_json()) == merged


def _refund(rid: str, amount: int, status: RefundStatus = RefundStatus.SUCCEEDED) -> PaymentFacts:
    return PaymentFacts(refunds={rid: RefundFact(amount, status, 1)})


def test_statuses_follow_the_facts():
    assert derive_status(PaymentFacts(), AMOUNT, "eur") is PaymentStatus.OPEN
    assert derive_status(PaymentFacts(processing=True), AMOUNT, "eur") is PaymentStatus.PROCESSING
    assert derive_status(PAID, AMOUNT, "eur") is PaymentStatus.SUCCEEDED
    assert derive_status(PAID.merge(_refund("re_1", 3000)), AMOUNT, "eur") is PaymentStatus.PARTIALLY_REFUNDED
    full = PAID.merge(_refund("re_1", 3000)).merge(_refund("re_2", 7000))
    assert derive_status(full, AMOUNT, "eur") is PaymentStatus.REFUNDED
    assert derive_status(PaymentFacts(expired=True), AMOUNT, "eur") is PaymentStatus.EXPIRED
    assert derive_status(PaymentFacts(failed=True), AMOUNT, "eur") is PaymentStatus.FAILED


def test_success_outranks_an_earlier_failure_and_never_regresses():
    assert derive_status(PaymentFacts(failed=True).merge(PAID), AMOUNT, "eur") is PaymentStatus.SUCCEEDED
    assert derive_status(PAID.merge(PaymentFacts(expired=True)), AMOUNT, "eur") is PaymentStatus.SUCCEEDED


def test_a_refund_seen_before_the_payment_is_kept_and_applied_once_paid():
    early = _refund("re_1", 3000)
    assert derive_status(early, AMOUNT, "eur") is PaymentStatus.OPEN
    assert derive_status(early.merge(PAID), AMOUNT, "eur") is PaymentStatus.PARTIALLY_REFUNDED


def test_a_failed_refund_no_longer_counts_whichever_event_came_first():
    for order in itertools.permutations(
        [
            _refund("re_1", 3000, RefundStatus.PENDING),
            _refund("re_1", 3000, RefundStatus.SUCCEEDED),
            _refund("re_1", 3000, RefundStatus.FAILED),
            PAID,
        ]
    ):
        merged = reduce(PaymentFacts.merge, order, PaymentFacts())
        assert merged.amount_refunded == 0
        assert derive_status(merged, AMOUNT, "eur") is PaymentStatus.SUCCEEDED


def test_other_amount_or_currency_needs_review():
    assert derive_status(PAID, 9_999, "eur") is PaymentStatus.NEEDS_REVIEW
    assert derive_status(PAID, AMOUNT, "usd") is PaymentStatus.NEEDS_REVIEW


def test_disputes_open_lost_and_won():
    opened = PAID.merge(PaymentFacts(disputes={"dp_1": DisputePhase.OPEN}))
    assert derive_status(opened, AMOUNT, "eur") is PaymentStatus.DISPUTED
    won = opened.merge(PaymentFacts(disputes={"dp_1": DisputePhase.WON}))
    assert derive_status(won, AMOUNT, "eur") is PaymentStatus.SUCCEEDED
    lost = opened.merge(PaymentFacts(disputes={"dp_1": DisputePhase.LOST}))
    assert derive_status(lost, AMOUNT, "eur") is PaymentStatus.DISPUTED


def test_refundable_amount_counts_unconfirmed_requests():
    assert refundable_amount(PaymentFacts(), 0) == 0
    assert refundable_amount(PAID, 0) == AMOUNT
    assert refundable_amount(PAID.merge(_refund("re_1", 3000)), 3000) == 7000
    assert refundable_amount(PAID, 6000) == 4000


def test_a_declined_intent_confirmed_again_with_a_delayed_method_is_processing_until_it_fails_again() -> None:
    declined = PaymentFacts(failed=True, failed_at=100)
    retried = PaymentFacts(processing=True, processing_at=200)
    for merged in (declined.merge(retried), retried.merge(declined)):
        assert derive_status(merged, AMOUNT, "eur") is PaymentStatus.PROCESSING
    failed_again = declined.merge(retried).merge(PaymentFacts(failed=True, failed_at=300))
    assert derive_status(failed_again, AMOUNT, "eur") is PaymentStatus.FAILED
    # Without times (facts stored before they were kept) the failure wins, as it always did.
    assert derive_status(PaymentFacts(failed=True, processing=True), AMOUNT, "eur") is PaymentStatus.FAILED
    assert PaymentFacts.from_json(failed_again.to_json()) == failed_again
