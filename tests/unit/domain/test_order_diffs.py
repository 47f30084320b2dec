"""What Orders hears: ``paid`` first and once, whatever order the facts arrive in."""

import itertools

from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import (
    DisputePhase,
    PaymentFacts,
    PaymentStatus,
    RefundFact,
    RefundStatus,
    derive_status,
)
from payments.domain.state_diff import Cause, OrderState, order_diffs

AMOUNT = 10_000
CAUSE = Cause("evt_1", "test")
PAID = PaymentFacts(succeeded=True, amount_received=AMOUNT, currency_received="eur")
REFUND_1 = PaymentFacts(refunds={"re_1": RefundFact(3000, RefundStatus.SUCCEEDED, 1)})
REFUND_2 = PaymentFacts(refunds={"re_2": RefundFact(2000, RefundStatus.SUCCEEDED, 2)})
DISPUTE = PaymentFacts(disputes={"dp_1": DisputePhase.OPEN})


def snapshot(facts: PaymentFacts, amount: int = AMOUNT) -> PaymentSnapshot:
    return PaymentSnapshot(
        payment_id="pay_1",
        order_id="ord_1",
        user_id="u_1",
        amount=amount,
        currency="eur",
        referrer_id=None,
        customer_email=None,
        status=derive_status(facts, amount, "eur"),
        facts=facts,
    )


def test_a_refund_seen_before_the_payment_still_tells_paid_first():
    before = snapshot(REFUND_1)
    after = snapshot(REFUND_1.merge(PAID))
    diffs = order_diffs(before, after, CAUSE)
    assert [(d.from_state, d.to_state, d.amount_paid, d.amount_refunded) for d in diffs] == [
        (OrderState.PENDING, OrderState.PAID, AMOUNT, 0),
        (OrderState.PAID, OrderState.PARTIALLY_REFUNDED, AMOUNT, 3000),
    ]


def test_every_arrival_order_begins_with_paid_once_and_chains_to_the_same_end():
    ends = set()
    for order in itertools.permutations([PAID, REFUND_1, REFUND_2, DISPUTE]):
        facts = PaymentFacts()
        heard: list[tuple[OrderState, OrderState]] = []
        for fact in order:
            merged = facts.merge(fact)
            diffs = order_diffs(snapshot(facts), snapshot(merged), CAUSE)
            heard += [(d.from_state, d.to_state) for d in diffs]
            facts = merged
        assert heard[0] == (OrderState.PENDING, OrderState.PAID), order
        assert [to for _, to in heard].count(OrderState.PAID) == 1, heard
        assert all(a[1] == b[0] for a, b in itertools.pairwise(heard)), heard
        ends.add(heard[-1][1])
    assert ends == {OrderState.DISPUTED}


def test_a_mismatch_refunded_after_review_was_never_paid():
    seen = PaymentFacts(succeeded=True, amount_received=9000, currency_received="eur")
    review = order_diffs(snapshot(PaymentFacts()), snapshot(seen), CAUSE)
    assert [(d.to_state, d.amount_paid) for d in review] == [(OrderState.NEEDS_REVIEW, 9000)]
    refunded = seen.merge(PaymentFacts(refunds={"re_1": RefundFact(9000, RefundStatus.PENDING, 1)}))
    assert snapshot(refunded).status is PaymentStatus.REFUNDED
    diffs = order_diffs(snapshot(seen), snapshot(refunded), CAUSE)
    assert [(d.from_state, d.to_state) for d in diffs] == [(OrderState.NEEDS_REVIEW, OrderState.REFUNDED)]


def test_accepting_a_review_counts_what_stripe_received_as_paid():
    seen = PaymentFacts(succeeded=True, amount_received=9000, currency_received="eur")
    accepted = seen.merge(PaymentFacts(review_accepted=True))
    assert snapshot(accepted).status is PaymentStatus.SUCCEEDED
    assert PaymentFacts.from_json(accepted.to_json()) == accepted
    diffs = order_diffs(snapshot(seen), snapshot(accepted), CAUSE)
    assert [(d.from_state, d.to_state, d.amount_paid, d.currency) for d in diffs] == [
        (OrderState.NEEDS_REVIEW, OrderState.PAID, 9000, "eur")
    ]


def test_the_paid_told_before_a_jump_carries_the_currency_stripe_took() -> None:
    """Asked 100.00 EUR, Stripe took 110.00 USD, 30.00 refunded, then a person accepted it."""
    took_usd = PaymentFacts(succeeded=True, amount_received=11_000, currency_received="usd")
    review = took_usd.merge(REFUND_1)
    accepted = review.merge(PaymentFacts(review_accepted=True))
    diffs = order_diffs(snapshot(review), snapshot(accepted), CAUSE)
    assert [(d.to_state, d.amount_paid, d.amount_refunded, d.currency) for d in diffs] == [
        (OrderState.PAID, 11_000, 0, "usd"),
        (OrderState.PARTIALLY_REFUNDED, 11_000, 3_000, "usd"),
    ]
