"""Translation of both payload shapes: the paid amount's fallbacks, and a charge's unexplained refunds."""

from typing import Any

import pytest

from payments.domain.payment_state import PaymentFacts, RefundFact, RefundStatus
from payments.webhooks.stripe_events import MalformedEvent, translate, with_listed_refunds
from tests.support import stripe_events as se


def _received(intent: dict[str, Any]) -> int:
    found = translate(se.event("payment_intent.succeeded", intent))
    assert found is not None
    return found.facts.amount_received


def test_the_paid_amount_comes_from_amount_received_then_charges_then_amount() -> None:
    intent = se.payment_intent("pi_1", "pay_1", "ord_1", amount=10_000)
    assert _received({**intent, "amount_received": 9_000}) == 9_000
    del intent["amount_received"]
    failed = {**se.charge("ch_0", "pi_1", amount=10_000), "status": "failed", "amount_captured": 0}
    charges = {"object": "list", "data": [failed, se.charge("ch_1", "pi_1", amount=8_000)]}
    assert _received({**intent, "charges": charges}) == 8_000
    assert _received({**intent, "latest_charge": se.charge("ch_1", "pi_1", amount=7_000)}) == 7_000
    assert _received({**intent, "latest_charge": "ch_1"}) == 10_000
    assert _received(intent) == 10_000


def test_a_charge_without_refunds_says_how_much_is_unexplained_until_they_are_listed() -> None:
    charge = {**se.charge("ch_1", "pi_1"), "amount_refunded": 3_000}
    del charge["refunds"]
    found = translate(se.event("charge.refunded", charge))
    assert found is not None and found.refunds == ()
    assert found.refunds_unexplained(PaymentFacts()) == 3_000
    known = PaymentFacts(refunds={"re_1": RefundFact(1_000, RefundStatus.SUCCEEDED, 1)})
    assert found.refunds_unexplained(known) == 2_000
    assert found.refunds_outstanding(known) == 2_000
    # A failed refund of the same amount explains a total from before it failed, but no longer counts: a
    # refund made after it may be behind the total, so the refunds are still listed.
    failed = PaymentFacts(refunds={"re_1": RefundFact(3_000, RefundStatus.FAILED, 1)})
    assert found.refunds_unexplained(failed) == 0
    assert found.refunds_outstanding(failed) == 3_000

    listed = [se.refund("re_1", "pi_1", "ch_1", 1_000), se.refund("re_2", "pi_1", "ch_1", 2_000)]
    completed = with_listed_refunds(found, listed)
    assert sorted(r.stripe_refund_id for r in completed.refunds) == ["re_1", "re_2"]
    assert completed.refunds_unexplained(PaymentFacts()) == 0
    assert completed.charge_amount_refunded == 3_000
    assert with_listed_refunds(completed, listed) == completed


@pytest.mark.parametrize(
    ("label", "event"),
    [
        ("an id past 255", se.event("refund.created", se.refund("re_1", "pi_" + "x" * 300, "ch_1", 100))),
        ("an amount past 2**53", se.event("refund.created", se.refund("re_1", "pi_1", "ch_1", 2**60))),
        ("a negative amount", se.event("refund.created", se.refund("re_1", "pi_1", "ch_1", -5))),
        (
            "a currency not ISO",
            se.event("refund.created", {**se.refund("re_1", "pi_1", "ch_1", 1), "currency": "euro"}),
        ),
    ],
)
def test_a_value_no_column_can_hold_makes_the_event_malformed(label: str, event: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        translate(event)


def test_metadata_ids_that_cannot_be_ours_are_not_read_as_ours() -> None:
    charge = se.charge("ch_1", "pi_1")
    charge["metadata"] = {"payment_id": "p" * 41}
    found = translate(se.event("charge.succeeded", charge))
    assert found is not None and found.payment_id is None and found.payment_intent_id == "pi_1"
    refund = {
        **se.refund("re_1", "pi_1", "ch_1", 100),
        "metadata": {"refund_id": "r" * 41},
        "reason": "x" * 65,
    }
    (seen,) = translate(se.event("refund.created", refund)).refunds  # type: ignore[union-attr]
    assert (seen.our_refund_id, seen.reason, seen.currency) == (None, None, "eur")
