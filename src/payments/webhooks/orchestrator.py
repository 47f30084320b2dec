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

from payments.adapters.db import diffs_repo, payments_repo
from payments.adapters.db.payments_repo import PaymentRecord
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentStatus
from payments.domain.state_diff import Cause, OrderState, OrderView, StateDiff, diff_between
from payments.domain.stripe_facts import EventFacts
from payments.webhooks.ports import PaymentTransaction

log = structlog.get_logger(__name__)


class CommissionHook(Protocol):
    async def on_payment_changed(
        self,
        tx: PaymentTransaction,
        before: PaymentSnapshot,
        after: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Applied:
    status: PaymentStatus
    diff: StateDiff | None
    new_links: tuple[str, ...]  # a PaymentIntent id newly tied to the payment (deferred events wait on it)


class PaymentOrchestrator:
    def __init__(self, commissions: CommissionHook | None = None) -> None:
        self._commissions = commissions

    async def apply(
        self, tx: PaymentTransaction, record: PaymentRecord, found: EventFacts, cause: Cause, now: datetime
    ) -> Applied:
        before = record.snapshot()
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
            return Applied(before.status, None, ())
        after = before.with_facts(merged)
        diff = diff_between(
            record.order_id,
            record.id,
            record.currency,
            OrderView.of(before.status, before.facts),
            OrderView.of(after.status, merged),
            cause,
        )
        seq = record.diff_seq + (1 if diff is not None else 0)
        if diff is not None and record.superseded:
            diff, seq = await self._superseded(tx, record, diff)
        await tx.save_state(
            record,
            facts=merged,
            status=after.status,
            amount_refunded=merged.amount_refunded,
            now=now,
            links=links,
            diff_seq=seq,
        )
        if diff is not None:
            await tx.append_diff(diff, seq, now)
        if after.status is PaymentStatus.NEEDS_REVIEW and before.status is not PaymentStatus.NEEDS_REVIEW:
            log.warning("payment.needs_review", payment_id=record.id, cause_event_id=cause.event_id)
        if self._commissions is not None and merged != before.facts:
            await self._commissions.on_payment_changed(tx, before, after, cause, now)
        # Deferred events wait on a PaymentIntent id (refund, charge and dispute objects all name one).
        intent = links.get("stripe_payment_intent_id")
        return Applied(after.status, diff, (intent,) if intent else ())

    async def _superseded(
        self, tx: PaymentTransaction, record: PaymentRecord, diff: StateDiff
    ) -> tuple[StateDiff | None, int]:
        """A change to an attempt that a newer one replaced.

        Orders follows the newest attempt, so a late fact about an older one that ended unpaid (say, its
        session's expiry after our cancel) tells Orders nothing. Money arriving on an older attempt must
        not be lost, though: that diff joins the order's one chain after its newest diff, and the order's
        sequence goes on from there on the newest attempt, which carries it.
        """
        if diff.amount_paid == 0:
            return None, record.diff_seq
        conn = await tx.connection()  # the rare path: plain statements in the same transaction
        newest = await payments_repo.latest_for_order(conn, record.order_id, for_update=True)
        last = await diffs_repo.last_for_order(conn, record.order_id)
        seq, state = last if last is not None else (0, OrderState.PENDING.value)
        log.error("payment.paid_on_superseded_attempt", payment_id=record.id)
        if newest is not None and newest.id != record.id:
            await payments_repo.set_diff_seq(conn, newest.id, seq + 1)
        return replace(diff, from_state=OrderState(state)), seq + 1
