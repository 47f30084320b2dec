import pytest

from payments.domain.money import InvalidMoney, Money, normalise_currency, validate_amount
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import Cause, OrderState, OrderView, diff_between


def test_money_is_integer_minor_units_and_formats_by_currency_exponent():
    assert Money(1250, "eur").format() == "12.50 EUR"
    assert Money(1000, "jpy").format() == "1000 JPY"
    assert Money(1005, "kwd").format() == "1.005 KWD"
    with pytest.raises(InvalidMoney):
        Money(12.5, "eur")  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney):
        Money(1, "eur") + Money(1, "usd")


def test_currency_and_amount_validation():
    assert normalise_currency(" EUR ") == "eur"
    with pytest.raises(InvalidMoney, match="unsupported currency"):
        normalise_currency("xxx")
    with pytest.raises(InvalidMoney, match="positive"):
        validate_amount(0, "eur", 100)
    with pytest.raises(InvalidMoney, match="maximum"):
        validate_amount(101, "eur", 100)
    with pytest.raises(InvalidMoney, match="multiple of 10"):
        validate_amount(1005, "kwd", 10_000)
    validate_amount(100, "jpy", 100)


def test_diff_only_when_orders_would_see_a_change():
    cause = Cause("evt_1", "checkout.session.completed")
    pending = OrderView.of(PaymentStatus.OPEN, PaymentFacts())
    paid_facts = PaymentFacts(succeeded=True, amount_received=500, currency_received="eur")
    paid = OrderView.of(PaymentStatus.SUCCEEDED, paid_facts)
    diff = diff_between("ord_1", "pay_1", "eur", pending, paid, cause)
    assert diff is not None
    assert (diff.from_state, diff.to_state, diff.amount_paid) == (OrderState.PENDING, OrderState.PAID, 500)
    assert diff_between("ord_1", "pay_1", "eur", paid, paid, cause) is None


def test_needs_review_is_its_own_state_with_the_amounts_stripe_reported():
    facts = PaymentFacts(succeeded=True, amount_received=1, currency_received="usd")
    view = OrderView.of(PaymentStatus.NEEDS_REVIEW, facts)
    assert view.state is OrderState.NEEDS_REVIEW
    assert (view.amount_paid, view.currency) == (1, "usd")
    pending = OrderView.of(PaymentStatus.OPEN, PaymentFacts())
    diff = diff_between("ord_1", "pay_1", "eur", pending, view, Cause("evt_1", "payment_intent.succeeded"))
    assert diff is not None
    assert (diff.to_state, diff.amount_paid, diff.currency) == (OrderState.NEEDS_REVIEW, 1, "usd")
