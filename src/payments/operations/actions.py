"""Operator actions: each calls the service the API and CLI use, and leaves an entry naming the action.

A successful action's entry is written in the action's own transaction where the action has one we hold
(commission decisions, bans); otherwise right after it, with what came of it. A refused action (not
found, wrong state) is logged too, in a transaction of its own. Every call answers an Outcome naming its
log entry, so a page can show the person exactly what was recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from payments.errors import NotFound, ServiceError
from payments.operations.log import new_entry
from payments.outbox.backlog import OutboxBacklog
from payments.records import OperatorAction
from payments.referrals.models import AuditVerification, CommissionError
from payments.referrals.service import CommissionService
from payments.review.service import ReviewService
from payments.unit_of_work import UnitOfWork, UnitOfWorkFactory
from payments.webhooks.processor import WebhookProcessor

EVENT_REPLAY = "event.replay"
OUTBOX_RETRY = "outbox.retry"
COMMISSION_APPROVE = "commission.approve"
COMMISSION_REJECT = "commission.reject"
REFERRER_BAN = "referrer.ban"
REFERRER_UNBAN = "referrer.unban"
AUDIT_VERIFY = "audit.verify"
REVIEW_ACCEPT = "review.accept"
REVIEW_REFUND = "review.refund"


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str
    entry_id: str  # the operator log entry that records it


class OperatorActions:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        webhooks: WebhookProcessor,
        outbox: OutboxBacklog,
        commissions: CommissionService,
        review: ReviewService,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._webhooks = webhooks
        self._outbox = outbox
        self._commissions = commissions
        self._review = review
        self._clock = clock

    async def replay_event(self, event_id: str, actor: str) -> Outcome:
        try:
            handled = await self._webhooks.replay(event_id)
        except NotFound as exc:
            return await self._log_after(actor, EVENT_REPLAY, event_id, False, str(exc))
        # A replay that fails again is stored as failed once more; the person should see that plainly.
        ok = handled.status.value != "failed"
        return await self._log_after(
            actor, EVENT_REPLAY, event_id, ok, f"event {event_id} replayed: {handled.status.value}"
        )

    async def retry_outbox(self, message_id: str | None, actor: str) -> Outcome:
        changed = await self._outbox.retry_now(message_id)
        if message_id is not None and not changed:
            return await self._log_after(
                actor, OUTBOX_RETRY, message_id, False, f"no undelivered message {message_id}"
            )
        return await self._log_after(
            actor, OUTBOX_RETRY, message_id or "*", True, f"{changed} message(s) due now"
        )

    async def decide_commission(self, commission_id: str, approve: bool, actor: str) -> Outcome:
        async def decide(uow: UnitOfWork) -> str:
            decided = await self._commissions.payouts.decide_held(
                uow.referrals, commission_id, approve, actor, self._clock()
            )
            return f"commission {commission_id} is now {decided.status.value}"

        action = COMMISSION_APPROVE if approve else COMMISSION_REJECT
        return await self._in_transaction(actor, action, commission_id, decide)

    async def ban_referrer(self, referrer_id: str, reason: str, actor: str) -> Outcome:
        async def ban(uow: UnitOfWork) -> str:
            canceled = await self._commissions.payouts.ban_referrer(
                uow.referrals, referrer_id, actor, reason, self._clock()
            )
            return f"referrer {referrer_id} banned; {canceled} unpaid commission(s) canceled"

        return await self._in_transaction(actor, REFERRER_BAN, referrer_id, ban)

    async def unban_referrer(self, referrer_id: str, reason: str, actor: str) -> Outcome:
        async def unban(uow: UnitOfWork) -> str:
            lifted = await self._commissions.payouts.unban_referrer(
                uow.referrals, referrer_id, actor, reason, self._clock()
            )
            return f"referrer {referrer_id} unbanned" if lifted else f"referrer {referrer_id} was not banned"

        return await self._in_transaction(actor, REFERRER_UNBAN, referrer_id, unban)

    async def review_payment(self, payment_id: str, decision: str, actor: str) -> Outcome:
        """Accept what Stripe took, or refund all of it (ReviewService, as the API and CLI do)."""
        action = REVIEW_ACCEPT if decision == "accept" else REVIEW_REFUND
        try:
            payment = await self._review.review(payment_id, decision)
        except ServiceError as exc:
            return await self._log_after(actor, action, payment_id, False, exc.message)
        done = f"payment {payment_id} reviewed ({decision}): now {payment.status}"
        return await self._log_after(actor, action, payment_id, True, done)

    async def verify_audit_chain(self, actor: str) -> tuple[AuditVerification, Outcome]:
        result = await self._commissions.verify_audit_chain()
        text = (
            f"audit chain intact: {result.count} entries"
            if result.ok
            else f"audit chain broken at entry {result.first_bad_entry_id}: {result.reason}"
        )
        return result, await self._log_after(actor, AUDIT_VERIFY, "referral_audit_log", result.ok, text)

    async def last_audit_verification(self) -> OperatorAction | None:
        async with self._uow() as uow:
            return await uow.operator_log.latest(AUDIT_VERIFY)

    async def entry(self, entry_id: str) -> OperatorAction | None:
        async with self._uow() as uow:
            return await uow.operator_log.get(entry_id)

    # -- logging ---------------------------------------------------------------------------------------
    async def _in_transaction(
        self, actor: str, action: str, subject: str, work: Callable[[UnitOfWork], Awaitable[str]]
    ) -> Outcome:
        """Run the action and log it in one transaction; a refusal is logged on its own and answered."""
        try:
            async with self._uow() as uow:
                text = await work(uow)
                entry = new_entry(
                    actor=actor, action=action, subject=subject, outcome=text, ok=True, now=self._clock()
                )
                await uow.operator_log.record(entry)
        except (ServiceError, CommissionError) as exc:
            return await self._log_after(actor, action, subject, False, str(exc))
        return Outcome(True, text, entry.id)

    async def _log_after(self, actor: str, action: str, subject: str, ok: bool, text: str) -> Outcome:
        entry = new_entry(actor=actor, action=action, subject=subject, outcome=text, ok=ok, now=self._clock())
        async with self._uow() as uow:
            await uow.operator_log.record(entry)
        return Outcome(ok, text, entry.id)
