"""What an operator sees and does, on the in-memory store: every action leaves one log entry saying what
came of it, refused ones too; a payment's file is found by any of its ids; the queues count what waits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from payments.checkout.service import CreatePayment, PaymentService
from payments.domain.commission import Commission, CommissionStatus
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.operations.actions import COMMISSION_APPROVE, OUTBOX_RETRY, REVIEW_ACCEPT, OperatorActions
from payments.operations.attention import EVENTS, OUTBOX, REVIEW, AttentionQueues
from payments.operations.lookup import MAX_QUERY, PaymentLookup
from payments.outbox.backlog import OutboxBacklog
from payments.records import OperatorAction
from payments.referrals.service import CommissionService
from payments.refunds.service import RefundService
from payments.review.service import ReviewService
from payments.webhooks.idempotency import WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.processor import WebhookConfig, WebhookProcessor
from tests.support.clock import NOW, FakeClock
from tests.support.fake_operations import FakeOperatorLog
from tests.support.fakes import FakeStore, FakeStripeGateway, apply_facts
from tests.support.service import service_settings

ACTOR = "console:admin"


class World:
    def __init__(self) -> None:
        self.store, self.stripe, self.clock = FakeStore(), FakeStripeGateway(), FakeClock()
        orchestrator = PaymentOrchestrator()
        refunds = RefundService(self.store, self.stripe, orchestrator, self.clock)
        config = WebhookConfig(secrets=lambda: [], tolerance_seconds=300, livemode=False)
        processor = WebhookProcessor(
            self.store,
            WebhookIdempotencyService(self.store, None, self.clock),
            orchestrator,
            config,
            self.clock,
            refunds=self.stripe,
        )
        self.commissions = CommissionService(service_settings(), self.store)
        self.ops = OperatorActions(
            self.store,
            webhooks=processor,
            outbox=OutboxBacklog(self.store, self.clock),
            commissions=self.commissions,
            review=ReviewService(self.store, refunds, orchestrator, self.clock),
            clock=self.clock,
        )

    async def payment(self, order_id: str, received: int) -> str:
        """Asked 10 000 EUR; Stripe took ``received`` (short of it: the payment waits for review)."""
        payments = PaymentService(self.store, self.stripe, service_settings(), self.clock)
        payment = (await payments.create_payment(CreatePayment(order_id, "u_1", 10_000, "eur"))).payment
        paid = PaymentFacts(succeeded=True, amount_received=received, currency_received="eur")
        found = EventFacts(payment_intent_id=f"pi_{order_id}", facts=paid)
        await apply_facts(self.store, payment.id, found, f"evt_{order_id}", self.clock())
        return payment.id

    async def held_commission(self, order_id: str) -> Commission:
        """A referred payment Stripe calls risky: its commission waits for a person."""
        before = PaymentSnapshot(
            payment_id=f"pay_{order_id}",
            order_id=order_id,
            user_id=f"user_{order_id}",
            amount=10_000,
            currency="eur",
            referrer_id="ref_1",
            customer_email=f"{order_id}@example.com",
            status=PaymentStatus.OPEN,
            facts=PaymentFacts(),
        )
        paid = PaymentFacts(
            succeeded=True, amount_received=10_000, currency_received="eur", risk_level="elevated"
        )
        async with self.store() as tx:
            after = before.with_facts(before.facts.merge(paid))
            await self.commissions.on_payment_changed(
                tx, before, after, Cause(f"evt_{order_id}", "test"), NOW
            )
        return self.commission(order_id)

    def commission(self, order_id: str) -> Commission:
        return next(c for c in self.store.tables.referrals.commissions.values() if c.order_id == order_id)

    def log(self) -> list[tuple[str, str, str, bool]]:
        # In the order recorded: the clock stands still, so the times cannot tell.
        return [(a.actor, a.action, a.subject, a.ok) for a in self.store.tables.operator_actions.values()]


async def test_an_accepted_review_is_logged_with_what_came_of_it() -> None:
    w = World()
    pid = await w.payment("ord_1", 9_000)
    outcome = await w.ops.review_payment(pid, "accept", ACTOR)
    assert outcome.ok
    assert w.store.tables.payment(pid).status == "succeeded"
    assert w.log() == [(ACTOR, REVIEW_ACCEPT, pid, True)]
    entry = await w.ops.entry(outcome.entry_id)
    assert entry is not None and entry.outcome == outcome.message
    assert outcome.message == f"payment {pid} reviewed (accept): now succeeded"


async def test_a_refused_action_is_logged_as_refused_and_changes_nothing() -> None:
    w = World()
    pid = await w.payment("ord_1", 10_000)  # paid in full: nothing to review
    before = w.store.tables.payment(pid)
    refused = await w.ops.review_payment(pid, "accept", ACTOR)
    unknown = await w.ops.review_payment("pay_nope", "accept", ACTOR)
    assert not refused.ok and not unknown.ok
    assert w.store.tables.payment(pid) == before
    assert w.log() == [(ACTOR, REVIEW_ACCEPT, pid, False), (ACTOR, REVIEW_ACCEPT, "pay_nope", False)]


async def test_replaying_an_unknown_event_answers_a_logged_refusal() -> None:
    w = World()
    outcome = await w.ops.replay_event("evt_nope", "cli")
    assert (outcome.ok, outcome.message) == (False, "no stored event evt_nope")
    assert w.log() == [("cli", "event.replay", "evt_nope", False)]


async def test_retry_outbox_names_a_missing_message_and_counts_the_others() -> None:
    w = World()
    await w.payment("ord_1", 10_000)
    await w.payment("ord_2", 10_000)
    missing = await w.ops.retry_outbox("osd_nope", ACTOR)
    every = await w.ops.retry_outbox(None, ACTOR)
    assert (missing.ok, missing.message) == (False, "no undelivered message osd_nope")
    assert (every.ok, every.message) == (True, "2 message(s) due now")
    assert w.log() == [(ACTOR, OUTBOX_RETRY, "osd_nope", False), (ACTOR, OUTBOX_RETRY, "*", True)]


async def test_an_overlong_outcome_is_cut_to_fit_rather_than_lost() -> None:
    w = World()
    outcome = await w.ops.replay_event("evt_" + "x" * 600, "cli")
    (entry,) = w.store.tables.operator_actions.values()
    assert isinstance(entry, OperatorAction) and entry.id == outcome.entry_id
    assert (len(entry.subject), len(entry.outcome)) == (255, 500)


async def test_a_payment_file_is_found_by_each_of_its_ids() -> None:
    w = World()
    pid = await w.payment("ord_1", 10_000)
    lookup = PaymentLookup(w.store)
    for needle in (pid, "ord_1", "pi_ord_1", f"  {pid} "):
        found = await lookup.find_payment(needle)
        assert found is not None, needle
        assert (found.order_id, found.matched_payment_id) == ("ord_1", pid)
        assert [a.payment.id for a in found.attempts] == [pid]
        assert [(h["from_state"], h["to_state"]) for h in found.history] == [("pending", "paid")]
    for needle in ("", "   ", "nothing_like_it", "x" * (MAX_QUERY + 1)):
        assert await lookup.find_payment(needle) is None


async def test_the_landing_page_counts_what_waits_and_shows_the_last_delivery_error() -> None:
    w = World()
    short = await w.payment("ord_1", 9_000)
    await w.payment("ord_2", 10_000)
    diffs = w.store.tables.diffs
    w.store.tables.diffs = [replace(diffs[0], attempts=1, last_error="grpc UNAVAILABLE"), *diffs[1:]]
    found = await AttentionQueues(w.store).needs_attention()
    review = found.queue(REVIEW)
    assert (review.count, [i["id"] for i in review.items]) == (1, [short])
    assert found.queue(OUTBOX).count == 2
    assert found.queue(EVENTS).count == 0
    assert found.last_outbox_error == "grpc UNAVAILABLE"


async def test_a_commission_decision_and_its_log_entry_commit_together() -> None:
    w = World()
    held = await w.held_commission("ord_risky")
    assert held.status is CommissionStatus.HELD
    w.clock.advance(timedelta(days=31))
    outcome = await w.ops.decide_commission(held.id, True, ACTOR)
    assert (outcome.ok, w.commission("ord_risky").status) == (True, CommissionStatus.APPROVED)
    assert w.log() == [(ACTOR, COMMISSION_APPROVE, held.id, True)]

    again = await w.ops.decide_commission(held.id, True, ACTOR)  # not held any more: refused, logged
    assert not again.ok
    assert w.log()[-1] == (ACTOR, COMMISSION_APPROVE, held.id, False)


async def test_a_decision_whose_log_entry_fails_is_not_made(monkeypatch: pytest.MonkeyPatch) -> None:
    w = World()
    held = await w.held_commission("ord_risky")
    w.clock.advance(timedelta(days=31))

    async def broken(self: FakeOperatorLog, entry: object) -> None:
        raise RuntimeError("the log is down")

    monkeypatch.setattr(FakeOperatorLog, "record", broken)
    with pytest.raises(RuntimeError, match="the log is down"):
        await w.ops.decide_commission(held.id, True, ACTOR)
    assert w.commission("ord_risky").status is CommissionStatus.HELD  # no decision without its record
