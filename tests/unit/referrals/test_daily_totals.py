from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from payments.domain.commission import CommissionStatus
from payments.referrals.models import Commission
from payments.referrals.totals import TotalsChanges, day_of, first_whole_day

NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 28, tzinfo=UTC)

COMMISSION = Commission(
    id="com_1",
    order_id="ord_1",
    payment_id="pay_1",
    referrer_id="ref_1",
    customer_user_id="user_1",
    currency="eur",
    payment_amount=10_000,
    original_amount=1_000,
    amount=1_000,
    rate_bps=1_000,
    min_amount=100,
    hold_days=30,
    status=CommissionStatus.PENDING,
    reason=None,
    status_before_hold=None,
    hold_until=None,
    paid_at=None,
    payout_id=None,
    created_at=NOON,
    updated_at=NOON,
)


def test_days_are_utc_days() -> None:
    late_evening_in_new_york = datetime(2026, 11, 28, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert day_of(late_evening_in_new_york) == datetime(2026, 11, 29, tzinfo=UTC)


def test_first_whole_day_of_a_period() -> None:
    assert first_whole_day(MIDNIGHT) == MIDNIGHT
    assert first_whole_day(NOON) == MIDNIGHT + timedelta(days=1)


def test_a_move_takes_the_row_from_one_total_to_another() -> None:
    changes = TotalsChanges()
    changes.moved(COMMISSION, replace(COMMISSION, status=CommissionStatus.APPROVED, amount=700))
    assert {(r["status"], r["count"], r["original_amount"], r["amount"]) for r in changes.rows()} == {
        ("pending", -1, -1_000, -1_000),
        ("approved", 1, 1_000, 700),
    }


def test_changes_that_cancel_out_write_nothing() -> None:
    changes = TotalsChanges()
    approved = replace(COMMISSION, status=CommissionStatus.APPROVED)
    changes.added(COMMISSION)
    changes.moved(COMMISSION, approved)
    changes.moved(approved, COMMISSION)
    changes.moved(COMMISSION, replace(COMMISSION, updated_at=NOON + timedelta(hours=1)))
    assert [(r["status"], r["count"]) for r in changes.rows()] == [("pending", 1)]
