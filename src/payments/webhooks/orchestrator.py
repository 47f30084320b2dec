"""PaymentOrchestrator: the one place a payment changes.

Webhooks, our refund API and replays all come here, inside the caller's transaction and with the payment
row locked: facts are merged, the status re-derived, an order state diff appended to the outbox, and the
referral module told, all committing (or not) together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import structlog

from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentStatus
from payments.domain.state_diff import Cause, OrderState, StateDiff, order_diffs
from payments.domain.stripe_facts import EventFacts
from payments.records import PaymentRecord
from payments.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


class CommissionHook(Protocol):
    async def on_payment_changed(
        self,
        tx: UnitOfWork,
        before: PaymentSnapshot,
        after: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Applied:
    status: PaymentStatus
    diffs: tuple[StateDiff, ...]
    new_links: tuple[str, ...]  # a PaymentIntent id newly tied to the payment (deferred events wait on it)


class PaymentOrchestrator:
    def __init__(self, commissions: CommissionHook | None = None) -> None:
        self._commissions = commissions

    async def apply(
        self, tx: UnitOfWork, record: PaymentRecord, found: EventFacts, cause: Cause, now: datetime
    ) -> Applied:
        before = record.snapshot()
        if found.about_another_object(record.stripe_checkout_session_id, record.stripe_payment_intent_id):
            found = found.money_only()
        for seen in found.refunds:
            await tx.record_refund_seen(
                payment_id=record.id,
                stripe_refund_id=seen.stripe_refund_id,
                our_refund_id=seen.our_refund_id,
                amount=seen.amount,
                currency=seen.currency or record.currency,
                status=seen.status.value,
                reason=seen.reason,
                now=now,
            )
        links = {
            column: value
            for column, value, current in (
                ("stripe_checkout_session_id", found.session_id, record.stripe_checkout_session_id),
                ("stripe_payment_intent_id", found.payment_intent_id, record.stripe_payment_intent_id),
                ("stripe_charge_id", found.charge_id, record.stripe_charge_id),
            )
            if value and not current
        }
        merged = before.facts.merge(found.facts)
        if merged == before.facts and not links:
            return Applied(before.status, (), ())
        after = before.with_facts(merged)
        diffs = order_diffs(before, after, cause)
        seq = record.diff_seq + len(diffs)
        if diffs and record.superseded:
            diffs, seq = await self._superseded(tx, record, diffs, now)
        await tx.save_state(
            record,
            facts=merged,
            status=after.status,
            amount_refunded=merged.amount_refunded,
            now=now,
            links=links,
            diff_seq=seq,
        )
        for n, diff in enumerate(diffs, start=seq - len(diffs) + 1):
            await tx.append_diff(diff, n, now)
        if self._commissions is not None and merged != before.facts:
            await self._commissions.on_payment_changed(tx, before, after, cause, now)
        # After the hook, which may still send an optimistic unit of work back to run under locks.
        if after.status is PaymentStatus.NEEDS_REVIEW and before.status is not PaymentStatus.NEEDS_REVIEW:
            log.warning("payment.needs_review", payment_id=record.id, cause_event_id=cause.event_id)
        # Deferred events wait on a PaymentIntent id (refund, charge and dispute objects all name one).
        intent = links.get("stripe_payment_intent_id")
        return Applied(after.status, tuple(diffs), (intent,) if intent else ())

    async def _superseded(
        self, tx: UnitOfWork, record: PaymentRecord, diffs: list[StateDiff], now: datetime
    ) -> tuple[list[StateDiff], int]:
        """A change to an attempt that a newer one replaced.

        Orders follows the newest attempt, so a late fact about an older one that ended unpaid (say, its
        session's expiry after our cancel) tells Orders nothing. Money arriving on an older attempt must
        not be lost, though: that diff joins the order's one chain after its newest diff, and the order's
        sequence goes on from there on the newest attempt, which carries it.
        """
        if all(diff.amount_paid == 0 for diff in diffs):
            return [], record.diff_seq
        newest = await self._newest_locked(tx, record.order_id)
        last = await tx.diffs.last_for_order(record.order_id)
        seq, state = last if last is not None else (0, OrderState.PENDING.value)
        log.error("payment.paid_on_superseded_attempt", payment_id=record.id)
        if newest is not None and newest.id != record.id:
            await tx.payments.set_diff_seq(newest.id, seq + len(diffs))
            # The order is paid now: the newer attempt's own end (the cancel that retires it, its expiry)
            # is no longer news for Orders, which would hear "canceled" after "paid".
            await tx.payments.mark_superseded(newest.id, now)
        chained = [replace(diffs[0], from_state=OrderState(state)), *diffs[1:]]
        return chained, seq + len(diffs)

    @staticmethod
    async def _newest_locked(tx: UnitOfWork, order_id: str) -> PaymentRecord | None:
        """The order's newest attempt, locked. PostgreSQL re-checks a row it waited for but not the
        ORDER BY ... LIMIT that chose it: an attempt inserted meanwhile is found by asking again."""
        newest = await tx.payments.latest_for_order(order_id, for_update=True)
        for _ in range(3):
            again = await tx.payments.latest_for_order(order_id, for_update=True)
            if again is None or newest is None or again.id == newest.id:
                return again
            newest = again
        return newest
