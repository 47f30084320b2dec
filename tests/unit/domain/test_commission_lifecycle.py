"""The commission life cycle's transitions, on records alone (no database)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain import commission_lifecycle as life
from payments.domain.commission import (
    Adjustment,
    AuditAction,
    Commission,
    CommissionRule,
    CommissionStatus,
    PayoutLine,
)
from payments.domain.fraud_guards import GuardDecision, GuardReason, Verdict
from payments.domain.payment_state import DisputePhase, PaymentFacts, RefundFact, RefundStatus

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
RULE = CommissionRule(rate_bps=1_000, min_amount=100, hold_days=30)
S = CommissionStatus


def accrued(amount: int = 10_000, verdict: Verdict = Verdict.ACCRUE) -> Commission:
    reason = None if verdict is Verdict.ACCRUE else GuardReason.ELEVATED_RISK
    new = life.NewCommission("com_1", "ord_1", "pay_1", "ref_1", "user_1", "eur", amount)
    return life.accrue(new, RULE, GuardDecision(verdict, reason), NOW).state


def facts(*refunds: tuple[int, RefundStatus], dispute: DisputePhase | None = None) -> PaymentFacts:
    return PaymentFacts(
        succeeded=True,
        amount_received=10_000,
        currency_received="eur",
        refunds={f"re_{i}": RefundFact(amount, status, i) for i, (amount, status) in enumerate(refunds)},
        disputes={"dp_1": dispute} if dispute else {},
    )


def test_accrual_takes_the_rate_and_the_hold_period_of_the_rule() -> None:
    step = life.accrue(
        life.NewCommission("com_1", "ord_1", "pay_1", "ref_1", "user_1", "eur", 10_000),
        RULE,
        GuardDecision(Verdict.ACCRUE, None),
        NOW,
    )
    assert (step.action, step.reason) == (AuditAction.ACCRUED, None)
    c = step.state
    assert (c.status, c.amount, c.original_amount, c.rate_bps) == (S.PENDING, 1_000, 1_000, 1_000)
    assert c.hold_until == NOW + timedelta(days=30)


def test_a_guard_holds_or_refuses_with_its_reason_and_a_refusal_has_no_hold_period() -> None:
    held = accrued(verdict=Verdict.HOLD)
    refused = accrued(verdict=Verdict.REFUSE)
    assert (held.status, held.reason) == (S.HELD, "elevated_risk")
    assert (refused.status, refused.reason, refused.hold_until) == (S.REFUSED, "elevated_risk", None)


def test_refunds_shrink_pro_rata_and_a_failed_refund_restores() -> None:
    commission = accrued()
    shrunk = life.follow_unpaid(commission, facts((3_000, RefundStatus.SUCCEEDED)), NOW)
    assert shrunk.after.amount == 700
    assert [(s.action, s.reason) for s in shrunk.steps] == [(AuditAction.ADJUSTED, "refund")]
    restored = life.follow_unpaid(shrunk.after, facts((3_000, RefundStatus.FAILED)), NOW)
    assert restored.after.amount == 1_000
    assert [(s.action, s.reason) for s in restored.steps] == [(AuditAction.ADJUSTED, "refund_failed")]


def test_the_same_facts_again_change_nothing() -> None:
    once = life.follow_unpaid(accrued(), facts((3_000, RefundStatus.SUCCEEDED)), NOW)
    again = life.follow_unpaid(once.after, facts((3_000, RefundStatus.SUCCEEDED)), NOW)
    assert not again.changed and again.after == once.after


def test_an_open_dispute_holds_and_a_won_one_gives_back_the_status_it_had() -> None:
    approved = replace(accrued(), status=S.APPROVED)
    opened = life.follow_unpaid(approved, facts(dispute=DisputePhase.OPEN), NOW)
    assert (opened.after.status, opened.after.status_before_hold) == (S.HELD, S.APPROVED)
    won = life.follow_unpaid(opened.after, facts(dispute=DisputePhase.WON), NOW)
    assert (won.after.status, won.after.status_before_hold, won.after.reason) == (S.APPROVED, None, None)
    assert [s.action for s in won.steps] == [AuditAction.RESTORED]


def test_a_lost_dispute_reverses_an_unpaid_commission_to_nothing() -> None:
    lost = life.follow_unpaid(accrued(), facts(dispute=DisputePhase.LOST), NOW)
    assert (lost.after.status, lost.after.amount, lost.after.reason) == (S.REVERSED, 0, "dispute_lost")
    assert [s.action for s in lost.steps] == [AuditAction.REVERSED]


def test_a_paid_commission_is_never_edited_a_refund_becomes_an_adjustment() -> None:
    paid = life.pay(replace(accrued(), status=S.APPROVED), "po_1", NOW).after
    change = life.follow_paid(paid, facts((5_000, RefundStatus.SUCCEEDED)), adjustments_total=0)
    assert change == life.PaidChange(1_000, 500, -500, AuditAction.ADJUSTED, "refund")
    # Once written, the same facts ask for nothing more; the refund failing asks for it back.
    assert life.follow_paid(paid, facts((5_000, RefundStatus.SUCCEEDED)), adjustments_total=-500) is None
    back = life.follow_paid(paid, facts((5_000, RefundStatus.FAILED)), adjustments_total=-500)
    assert back is not None and (back.delta, back.reason) == (500, "refund_failed")
    lost = life.follow_paid(paid, facts(dispute=DisputePhase.LOST), adjustments_total=-500)
    assert lost is not None and (lost.delta, lost.action, lost.reason) == (
        -500,
        AuditAction.REVERSED,
        "dispute_lost",
    )


def test_release_approves_only_a_pending_commission_whose_hold_is_over() -> None:
    commission = accrued()
    with pytest.raises(life.TransitionRefused, match="hold period"):
        life.release(commission, NOW + timedelta(days=29))
    released = life.release(commission, NOW + timedelta(days=30))
    assert released.after.status is S.APPROVED
    assert [s.action for s in released.steps] == [AuditAction.RELEASED]
    with pytest.raises(life.TransitionRefused, match="not pending"):
        life.release(released.after, NOW + timedelta(days=31))


def test_only_an_approved_commission_is_paid() -> None:
    with pytest.raises(life.TransitionRefused, match="not approved"):
        life.pay(accrued(), "po_1", NOW)
    paid = life.pay(replace(accrued(), status=S.APPROVED), "po_1", NOW).after
    assert (paid.status, paid.payout_id, paid.paid_at) == (S.PAID, "po_1", NOW)


def test_a_person_approves_a_held_commission_into_its_hold_period_or_rejects_it() -> None:
    held = accrued(verdict=Verdict.HOLD)
    assert life.decide_held(held, True, NOW).after.status is S.PENDING
    assert life.decide_held(held, True, NOW + timedelta(days=31)).after.status is S.APPROVED
    rejected = life.decide_held(held, False, NOW).after
    assert (rejected.status, rejected.reason) == (S.REFUSED, "rejected_by_admin")


def test_a_commission_held_by_a_dispute_waits_for_the_dispute_not_for_a_person() -> None:
    disputed = life.follow_unpaid(accrued(), facts(dispute=DisputePhase.OPEN), NOW).after
    with pytest.raises(life.TransitionRefused, match="dispute"):
        life.decide_held(disputed, True, NOW)
    with pytest.raises(life.TransitionRefused, match="not held"):
        life.decide_held(accrued(), True, NOW)


def test_a_dispute_on_a_commission_a_guard_held_makes_the_person_wait_and_ends_back_with_the_person() -> None:
    held = accrued(verdict=Verdict.HOLD)
    opened = life.follow_unpaid(held, facts(dispute=DisputePhase.OPEN), NOW)
    c = opened.after
    assert (c.status, c.status_before_hold, c.reason) == (S.HELD, S.HELD, "elevated_risk")
    assert [(s.action, s.reason) for s in opened.steps] == [(AuditAction.HELD, "dispute_open")]
    with pytest.raises(life.TransitionRefused, match="dispute"):
        life.decide_held(c, True, NOW + timedelta(days=31))
    assert not life.follow_unpaid(c, facts(dispute=DisputePhase.OPEN), NOW).changed
    won = life.follow_unpaid(c, facts(dispute=DisputePhase.WON), NOW).after
    assert (won.status, won.status_before_hold, won.reason) == (S.HELD, None, "elevated_risk")
    assert life.decide_held(won, True, NOW + timedelta(days=31)).after.status is S.APPROVED


def test_the_charge_guards_asked_again_refuse_or_hold_an_unpaid_commission() -> None:
    shared_card = GuardDecision(Verdict.REFUSE, GuardReason.SHARED_CARD)
    risky = GuardDecision(Verdict.HOLD, GuardReason.ELEVATED_RISK)
    for status in life.UNPAID:
        refused = life.reconsider(replace(accrued(), status=status), shared_card, NOW)
        assert (refused.after.status, refused.after.reason) == (S.REFUSED, "shared_card")
        assert [s.action for s in refused.steps] == [AuditAction.REFUSED]
    held = life.reconsider(replace(accrued(), status=S.APPROVED), risky, NOW)
    assert (held.after.status, held.after.reason, held.after.status_before_hold) == (
        S.HELD,
        "elevated_risk",
        None,
    )
    assert not life.reconsider(held.after, risky, NOW).changed
    assert not life.reconsider(accrued(), GuardDecision(Verdict.ACCRUE), NOW).changed
    with pytest.raises(life.TransitionRefused):
        life.reconsider(replace(accrued(), status=S.PAID), shared_card, NOW)


def test_a_guard_hold_learned_during_a_dispute_outlives_the_dispute() -> None:
    disputed = life.follow_unpaid(accrued(), facts(dispute=DisputePhase.OPEN), NOW).after
    held = life.reconsider(disputed, GuardDecision(Verdict.HOLD, GuardReason.ELEVATED_RISK), NOW).after
    assert (held.status, held.status_before_hold, held.reason) == (S.HELD, S.HELD, "elevated_risk")
    won = life.follow_unpaid(held, facts(dispute=DisputePhase.WON), NOW).after
    assert (won.status, won.status_before_hold, won.reason) == (S.HELD, None, "elevated_risk")


def test_a_ban_cancels_unpaid_commissions_only() -> None:
    for status in life.UNPAID:
        canceled = life.cancel_for_ban(replace(accrued(), status=status), NOW).after
        assert (canceled.status, canceled.reason) == (S.CANCELED, "banned_referrer")
    with pytest.raises(life.TransitionRefused):
        life.cancel_for_ban(replace(accrued(), status=S.PAID), NOW)


def test_a_payout_nets_adjustments_per_currency_and_never_goes_negative() -> None:
    eur = replace(accrued(), status=S.APPROVED)
    usd = replace(accrued(), id="com_2", currency="usd", status=S.APPROVED)

    def adjustment(adjustment_id: str, amount: int, currency: str = "eur") -> Adjustment:
        return Adjustment(adjustment_id, "com_0", "ref_1", currency, amount, "refund", "evt", NOW, None, None)

    plan = life.plan_payout([eur, usd], [adjustment("adj_1", -300), adjustment("adj_2", -5_000, "usd")])
    # usd: 1 000 approved, 5 000 owed back. Nothing of it is sent or settled; it all waits.
    assert plan.lines == (PayoutLine("eur", 1_000, -300, 700, 1, 1),)
    assert [a.id for a in plan.settled] == ["adj_1"]
    assert [c.id for c in plan.paid] == [eur.id]
    assert life.plan_payout([], []).lines == ()

    # A refund that failed after payout gives back; a larger clawback still owed keeps it from being sent.
    owed_back = [adjustment("adj_3", -2_000), adjustment("adj_4", -1_000), adjustment("adj_5", 1_000)]
    assert life.plan_payout([], owed_back) == life.PayoutPlan((), (), ())
    even = life.plan_payout([eur], [adjustment("adj_6", -1_000)])
    assert (even.lines, [c.id for c in even.paid]) == ((PayoutLine("eur", 1_000, -1_000, 0, 1, 1),), [eur.id])


# -- properties ---------------------------------------------------------------------------------------

refund_amounts = st.lists(st.integers(min_value=1, max_value=4_000), min_size=1, max_size=6)


@given(refund_amounts, st.randoms(use_true_random=False))
def test_remaining_stays_within_zero_and_the_original_and_ignores_the_order_refunds_arrive_in(
    amounts: list[int], rng: random.Random
) -> None:
    commission = accrued()
    refunds = {f"re_{i}": RefundFact(amount, RefundStatus.SUCCEEDED, i) for i, amount in enumerate(amounts)}

    def arrive(order: list[str]) -> Commission:
        current, known = (
            commission,
            PaymentFacts(succeeded=True, amount_received=10_000, currency_received="eur"),
        )
        for refund_id in order:
            known = known.merge(PaymentFacts(refunds={refund_id: refunds[refund_id]}))
            current = life.follow_unpaid(current, known, NOW).after
            assert 0 <= current.amount <= current.original_amount
        return current

    ids = list(refunds)
    shuffled = list(ids)
    rng.shuffle(shuffled)
    assert arrive(ids).amount == arrive(shuffled).amount


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=2 * 10**9))
def test_remaining_never_exceeds_the_original_nor_goes_below_zero(amount: int, refunded: int) -> None:
    commission = accrued(max(amount, 1))
    known = facts((refunded, RefundStatus.SUCCEEDED)) if refunded else facts()
    known = replace(known, amount_received=max(amount, 1))
    after = life.follow_unpaid(commission, known, NOW).after
    assert 0 <= after.amount <= after.original_amount


@given(refund_amounts)
def test_refunds_that_fail_give_back_exactly_what_they_took(amounts: list[int]) -> None:
    commission = accrued()
    succeeded = facts(*((a, RefundStatus.SUCCEEDED) for a in amounts))
    failed = facts(*((a, RefundStatus.FAILED) for a in amounts))
    shrunk = life.follow_unpaid(commission, succeeded, NOW).after
    assert life.follow_unpaid(shrunk, failed, NOW).after.amount == commission.amount
