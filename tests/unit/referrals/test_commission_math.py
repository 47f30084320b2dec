from fractions import Fraction
from itertools import accumulate, pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.commission import (
    CommissionRule,
    commission_for,
    payout_net,
    remaining_after_refunds,
    target_amount,
)

amounts = st.integers(min_value=1, max_value=10**12)
rates = st.integers(min_value=0, max_value=10_000)


def test_ten_percent_of_ten_thousand_is_one_thousand() -> None:
    assert commission_for(10_000, 1_000) == 1_000


def test_refunds_of_three_three_and_four_thousand_leave_700_400_0() -> None:
    cumulative = list(accumulate([3_000, 3_000, 4_000]))
    assert [remaining_after_refunds(1_000, 10_000, r) for r in cumulative] == [700, 400, 0]


def test_commission_rounds_down() -> None:
    assert commission_for(999, 1_000) == 99
    assert commission_for(1, 9_999) == 0


def test_remaining_is_never_negative_even_when_refunds_exceed_the_amount() -> None:
    assert remaining_after_refunds(1_000, 10_000, 12_000) == 0
    assert remaining_after_refunds(1_000, 10_000, -5) == 1_000


def test_a_lost_dispute_leaves_nothing() -> None:
    assert target_amount(1_000, 10_000, 0, dispute_lost=True) == 0


def test_rule_rejects_rates_above_one_hundred_percent() -> None:
    with pytest.raises(ValueError):
        CommissionRule(rate_bps=10_001, min_amount=0, hold_days=0)


@given(amounts, rates)
def test_commission_is_the_exact_floor_and_never_exceeds_the_amount(amount: int, rate: int) -> None:
    commission = commission_for(amount, rate)
    assert commission == int(Fraction(amount * rate, 10_000))
    assert 0 <= commission <= amount


@given(amounts, rates, st.lists(st.integers(min_value=1, max_value=10**12), max_size=8))
def test_remaining_only_shrinks_as_refunds_accumulate_and_ends_within_bounds(
    amount: int, rate: int, refunds: list[int]
) -> None:
    original = commission_for(amount, rate)
    values = [remaining_after_refunds(original, amount, r) for r in accumulate([0, *refunds])]
    assert values[0] == original
    assert all(later <= earlier for earlier, later in pairwise(values))
    assert all(0 <= v <= original for v in values)


@given(
    amounts, rates, st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=6), st.randoms()
)
def test_remaining_depends_on_the_refunded_total_not_on_the_order(
    amount: int, rate: int, refunds: list[int], rnd: object
) -> None:
    original = commission_for(amount, rate)
    shuffled = list(refunds)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert remaining_after_refunds(original, amount, sum(refunds)) == remaining_after_refunds(
        original, amount, sum(shuffled)
    )


@given(amounts, rates)
def test_a_full_refund_claws_back_everything(amount: int, rate: int) -> None:
    assert remaining_after_refunds(commission_for(amount, rate), amount, amount) == 0


@given(st.integers(min_value=0, max_value=10**6), st.lists(st.integers(min_value=-(10**5), max_value=10**5)))
def test_a_payout_sends_the_balance_when_it_is_not_negative_and_nothing_otherwise(
    owed: int, adjustments: list[int]
) -> None:
    net = payout_net(owed, adjustments)
    balance = owed + sum(adjustments)
    assert net == (balance if balance >= 0 else None)


def test_a_clawback_larger_than_what_is_owed_waits_with_everything_else() -> None:
    assert payout_net(500, [-300, -400, 100]) is None  # not 300 sent while 400 stays owed
    assert payout_net(0, [-2_000, -1_000, 1_000]) is None  # not the 1 000 a failed refund gave back
    assert payout_net(2_000, [-300, -300, -400]) == 1_000
    assert payout_net(0, [-1_000, 1_000]) == 0
