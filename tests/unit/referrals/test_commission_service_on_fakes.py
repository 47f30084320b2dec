"""CommissionService on the in-memory unit of work: each job end to end, in milliseconds.

The SQL side of the same behaviour (both databases, the ban races) is tests/integration/referrals.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta

import pytest

from payments.config import Settings
from payments.domain.commission import AuditAction, Commission, CommissionStatus, day_of
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus, RefundFact, RefundStatus
from payments.domain.state_diff import Cause
from payments.referrals import CommissionConflict, CommissionNotFound, CommissionService, NothingToPay
from payments.referrals.csv_rows import CSV_COLUMNS, REFERRER_CSV_COLUMNS
from tests.support.clock import NOW
from tests.support.fakes import FakeStore

SETTINGS = Settings(
    commission_rate_bps=1_000,
    commission_min_amount=100,
    commission_hold_days=30,
    referral_velocity_per_hour=20,
)
AFTER_HOLD = NOW + timedelta(days=31)


def payment(order_id: str, *, amount: int = 10_000) -> PaymentSnapshot:
    return PaymentSnapshot(
        payment_id=f"pay_{order_id}",
        order_id=order_id,
        user_id=f"user_{order_id}",
        amount=amount,
        currency="eur",
        referrer_id="ref_1",
        customer_email=f"{order_id}@example.com",
        status=PaymentStatus.OPEN,
        facts=PaymentFacts(),
    )


class Shop:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.service = CommissionService(SETTINGS, self.store)
        self.events = 0

    async def change(self, before: PaymentSnapshot, facts: PaymentFacts) -> PaymentSnapshot:
        """What the webhook path does: the payment's change and its commission in one unit of work."""
        self.events += 1
        after = before.with_facts(before.facts.merge(facts))
        async with self.store() as tx:
            await self.service.on_payment_changed(
                tx,
                before,
                after,
                Cause(f"evt_{self.events}", "test.event"),
                NOW + timedelta(seconds=self.events),
            )
        return after

    async def paid(self, order_id: str, *, amount: int = 10_000, risk: str = "normal") -> PaymentSnapshot:
        facts = PaymentFacts(
            succeeded=True,
            amount_received=amount,
            currency_received="eur",
            card_fingerprint=f"fp_{order_id}",
            risk_level=risk,
        )
        return await self.change(payment(order_id, amount=amount), facts)

    def commission(self, order_id: str) -> Commission:
        rows = self.store.tables.referrals.commissions.values()
        return next(c for c in rows if c.order_id == order_id)

    def daily_totals_match_the_rows(self) -> bool:
        expected: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        for c in self.store.tables.referrals.commissions.values():
            total = expected[(c.referrer_id, day_of(c.created_at), c.status.value, c.currency)]
            total[0] += 1
            total[1] += c.original_amount
            total[2] += c.amount
        stored = {k: list(v) for k, v in self.store.tables.referrals.daily.items() if v != (0, 0, 0)}
        return stored == dict(expected)


async def test_a_referred_payment_accrues_in_the_payments_unit_of_work_and_leaves_nothing_if_it_fails() -> (
    None
):
    shop = Shop()
    before = payment("ord_1")
    after = before.with_facts(PaymentFacts(succeeded=True, amount_received=10_000, currency_received="eur"))
    with pytest.raises(RuntimeError, match="handler failed"):
        async with shop.store() as tx:
            await shop.service.on_payment_changed(tx, before, after, Cause("evt_1", "test.event"), NOW)
            raise RuntimeError("handler failed")
    assert shop.store.tables.referrals.commissions == {}
    assert shop.store.tables.referrals.audit == []

    await shop.paid("ord_1")
    commission = shop.commission("ord_1")
    assert (commission.status, commission.amount) == (CommissionStatus.PENDING, 1_000)
    assert [e.action for e in await shop.service.get_audit(commission.id)] == [AuditAction.ACCRUED]
    assert shop.daily_totals_match_the_rows()


async def test_release_then_payout_and_a_later_refund_is_netted_in_the_next_payout() -> None:
    shop = Shop()
    first = await shop.paid("ord_1")
    assert await shop.service.release_due(NOW) == 0
    assert await shop.service.release_due(AFTER_HOLD) == 1
    payout = await shop.service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)
    assert [(line.currency, line.net_amount) for line in payout.lines] == [("eur", 1_000)]

    refund = PaymentFacts(refunds={"re_1": RefundFact(3_000, RefundStatus.SUCCEEDED, 1)})
    await shop.change(first, refund)
    paid = shop.commission("ord_1")
    assert (paid.status, paid.amount) == (CommissionStatus.PAID, 1_000)  # a paid row is never edited
    assert [a.amount for a in await shop.service.get_adjustments(paid.id)] == [-300]

    await shop.paid("ord_2", amount=20_000)
    await shop.service.release_due(AFTER_HOLD)
    second = await shop.service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)
    (line,) = second.lines
    assert (line.commissions_amount, line.adjustments_amount, line.net_amount) == (2_000, -300, 1_700)
    with pytest.raises(NothingToPay):
        await shop.service.pay_referrer("ref_1", "admin:alice", AFTER_HOLD)
    assert shop.daily_totals_match_the_rows()


async def test_a_ban_cancels_unpaid_commissions_and_refuses_later_ones_until_lifted() -> None:
    shop = Shop()
    await shop.paid("ord_1")
    assert await shop.service.ban_referrer("ref_1", "admin:alice", "ring", NOW) == 1
    assert (shop.commission("ord_1").status, shop.commission("ord_1").reason) == (
        CommissionStatus.CANCELED,
        "banned_referrer",
    )
    await shop.paid("ord_2")
    assert (shop.commission("ord_2").status, shop.commission("ord_2").reason) == (
        CommissionStatus.REFUSED,
        "banned_referrer",
    )
    assert await shop.service.unban_referrer("ref_1", "admin:alice", "appeal", NOW)
    assert not await shop.service.unban_referrer("ref_1", "admin:alice", "again", NOW)
    await shop.paid("ord_3")
    assert shop.commission("ord_3").status is CommissionStatus.PENDING
    assert shop.daily_totals_match_the_rows()


async def test_a_held_commission_waits_for_a_person_and_other_decisions_are_refused() -> None:
    shop = Shop()
    await shop.paid("ord_risky", risk="elevated")
    held = shop.commission("ord_risky")
    assert held.status is CommissionStatus.HELD
    decided = await shop.service.decide_held(held.id, True, "admin:alice", AFTER_HOLD)
    assert decided.status is CommissionStatus.APPROVED
    with pytest.raises(CommissionConflict, match="not held"):
        await shop.service.decide_held(held.id, False, "admin:alice", AFTER_HOLD)
    with pytest.raises(CommissionNotFound):
        await shop.service.mark_commission_paid("com_nothing", "admin:alice", AFTER_HOLD)
    paid = await shop.service.mark_commission_paid(held.id, "admin:alice", AFTER_HOLD)
    assert paid.status is CommissionStatus.PAID
    # A refused action changes nothing: its unit of work is rolled back.
    assert shop.store.rollbacks == 2


async def test_report_csv_and_audit_chain() -> None:
    shop = Shop()
    for n in range(3):
        await shop.paid(f"ord_{n}")
    report = await shop.service.get_report("ref_1", limit=2)
    assert [t.count for t in report.totals] == [3]
    assert report.net[0].net == 3_000
    assert len(report.items) == 2 and report.next_cursor is not None
    rest = await shop.service.get_report("ref_1", limit=2, cursor=report.next_cursor)
    assert [c.order_id for c in report.items + rest.items] == ["ord_2", "ord_1", "ord_0"]

    admin = [line async for line in shop.service.stream_report_csv("ref_1")]
    mine = [line async for line in shop.service.stream_report_csv("ref_1", for_referrer=True)]
    assert tuple(next(csv.reader(io.StringIO(admin[0])))) == CSV_COLUMNS
    assert tuple(next(csv.reader(io.StringIO(mine[0])))) == REFERRER_CSV_COLUMNS
    assert "payment_id" not in REFERRER_CSV_COLUMNS and len(mine) == len(admin) == 4

    verdict = await shop.service.verify_audit_chain()
    assert (verdict.ok, verdict.count) == (True, 3)


async def test_the_console_ranks_referrers_by_what_they_earned_and_lists_bans_without_earnings() -> None:
    shop = Shop()
    await shop.paid("ord_1", amount=10_000)
    await shop.service.ban_referrer("ref_idle", "admin:alice", "spam", NOW)
    ranked = await shop.service.top_referrers()
    assert [(r.referrer_id, r.currency, r.commissions, r.gross, r.ban_reason) for r in ranked] == [
        ("ref_1", "eur", 1, 1_000, None),
        ("ref_idle", "", 0, 0, "spam"),
    ]


SESSION_COMPLETED = PaymentFacts(succeeded=True, amount_received=10_000, currency_received="eur")


def charge_succeeded(card: str, risk: str = "normal") -> PaymentFacts:
    """What the charge adds to SESSION_COMPLETED: the card and Radar's risk (the session carries neither)."""
    return replace(SESSION_COMPLETED, card_fingerprint=card, risk_level=risk)


async def _shop_whose_referrer_paid_with(card: str) -> Shop:
    shop = Shop()
    own = replace(payment("own"), user_id="ref_1", referrer_id=None)
    await shop.change(own, charge_succeeded(card))
    return shop


@pytest.mark.parametrize("charge_first", [True, False])
async def test_the_shared_card_guard_refuses_whichever_event_comes_first(charge_first: bool) -> None:
    shop = await _shop_whose_referrer_paid_with("fp_referrers_card")
    first, second = SESSION_COMPLETED, charge_succeeded("fp_referrers_card")
    if charge_first:
        first, second = second, first
    await shop.change(await shop.change(payment("ord_1"), first), second)
    got = shop.commission("ord_1")
    assert (got.status, got.reason) == (CommissionStatus.REFUSED, "shared_card")
    assert shop.daily_totals_match_the_rows()


@pytest.mark.parametrize("charge_first", [True, False])
async def test_the_risk_guard_holds_whichever_event_comes_first(charge_first: bool) -> None:
    shop = Shop()
    first, second = SESSION_COMPLETED, charge_succeeded("fp_buyer", risk="elevated")
    if charge_first:
        first, second = second, first
    await shop.change(await shop.change(payment("ord_2"), first), second)
    got = shop.commission("ord_2")
    assert (got.status, got.reason) == (CommissionStatus.HELD, "elevated_risk")
    assert shop.daily_totals_match_the_rows()


async def test_a_charge_that_trips_no_guard_leaves_the_commission_as_it_was() -> None:
    shop = Shop()
    after = await shop.change(payment("ord_3"), SESSION_COMPLETED)
    audited = len(shop.store.tables.referrals.audit)
    await shop.change(after, charge_succeeded("fp_buyer"))
    assert shop.commission("ord_3").status is CommissionStatus.PENDING
    assert len(shop.store.tables.referrals.audit) == audited
