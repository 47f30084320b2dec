"""Accrual: a referred payment's commission follows the payment's facts, inside the payment's transaction.

``on_payment_changed`` runs in the unit of work that records the Stripe event (the webhook path), so a
commission changes exactly once with the event that caused it. The amount is never nudged by deltas: each
call recomputes what the referrer should have from the payment's merged facts
(``domain/commission_lifecycle.py``), so a replayed, duplicated or reordered event changes nothing the
second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from payments.domain import commission_lifecycle as lifecycle
from payments.domain.commission import (
    LIVE_STATUSES,
    Adjustment,
    Commission,
    CommissionRule,
    CommissionStatus,
    as_utc,
)
from payments.domain.commission_lifecycle import NewCommission, audit_snapshot
from payments.domain.fraud_guards import GuardDecision, GuardFacts, decide, decide_on_charge
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentStatus
from payments.domain.state_diff import Cause
from payments.ids import new_id
from payments.referrals.audit import AuditDraft
from payments.referrals.identities import (
    Identities,
    card_hash,
    email_hash,
    identities_of,
    identity_hashes,
)
from payments.referrals.models import AuditAction
from payments.referrals.ports import ReferralRepositories
from payments.referrals.recording import ChangeRecorder, draft
from payments.referrals.totals import TotalsChanges
from payments.unit_of_work import UnitOfWork

VELOCITY_WINDOW = timedelta(hours=1)


class Accrual:
    def __init__(self, rule: CommissionRule, velocity_limit: int, recorder: ChangeRecorder) -> None:
        self._rule = rule
        self._velocity_limit = velocity_limit
        self._recorder = recorder

    async def on_payment_changed(
        self,
        tx: UnitOfWork,
        before: PaymentSnapshot,
        after: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None:
        now = as_utc(now)
        facts_before, facts_after = before.facts, after.facts
        newly_succeeded = facts_after.succeeded and not facts_before.succeeded
        if facts_after.succeeded and (
            newly_succeeded or facts_before.card_fingerprint != facts_after.card_fingerprint
        ):
            # Every paying user, referred or not, may one day be a referrer; the guards compare against this.
            await tx.record_identities(
                after.user_id, identity_hashes(after.customer_email, facts_after.card_fingerprint), now
            )
        if after.referrer_id is None:
            return
        # Only referred payments go further, through the referral repositories (SQLAlchemy statements in the
        # same transaction on the asyncpg fast path).
        repos = tx.referrals
        if newly_succeeded:
            await self.accrue(repos, after, cause, now)
            return
        commission = await repos.commissions.get_by_order(after.order_id, for_update=True)
        if commission is None or commission.payment_id != after.payment_id:
            return
        if commission.status in lifecycle.UNPAID and (
            facts_before.card_fingerprint != facts_after.card_fingerprint
            or facts_before.risk_level != facts_after.risk_level
        ):
            commission = await self._reconsider(repos, commission, after, cause, now)
        await self._follow_payment(repos, commission, after, cause, now)

    async def accrue(
        self, repos: ReferralRepositories, payment: PaymentSnapshot, cause: Cause, now: datetime
    ) -> Commission | None:
        """The commission of a succeeded, referred payment: accrued, held or refused by the guards.

        None when the payment names no referrer at all or has not succeeded, and when another payment of
        the same order already has the order's commission (that refusal is audited on the existing one).
        Calling it again for the same payment returns the same commission, brought up to date.
        """
        now = as_utc(now)
        if payment.referrer_id is None or not payment.facts.succeeded:
            return None
        referrer_id = payment.referrer_id.strip()
        commissions = repos.commissions
        if referrer_id:
            # Before the guards read the ban: a ban landing now either commits first (and is seen) or waits
            # for this commission and cancels it.
            await commissions.lock_referrer(referrer_id)
        existing = await commissions.get_by_order(payment.order_id, for_update=True)
        if existing is not None and existing.payment_id == payment.payment_id:
            return await self._follow_payment(repos, existing, payment, cause, now)
        decision = decide(await self._guard_facts(repos, payment, referrer_id, existing is not None, now))
        if existing is not None:
            await self._audit_duplicate(repos, existing, payment, decision, cause, now)
            return None
        new = NewCommission(
            id=new_id("com"),
            order_id=payment.order_id,
            payment_id=payment.payment_id,
            referrer_id=referrer_id,
            customer_user_id=payment.user_id,
            currency=payment.currency,
            payment_amount=payment.amount,
        )
        step = lifecycle.accrue(new, self._rule, decision, now)
        commission = step.state
        await commissions.insert(commission)
        changes = TotalsChanges()
        changes.added(commission)
        entry = draft(step.action, cause.event_id, None, commission, step.reason)
        await self._recorder.record(repos, [entry], changes, now)
        if commission.status is CommissionStatus.REFUSED:
            return commission
        # Facts may arrive in any order: a refund or dispute can already be known when the payment succeeds.
        return await self._follow_payment(repos, commission, payment, cause, now)

    async def _reconsider(
        self,
        repos: ReferralRepositories,
        commission: Commission,
        payment: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> Commission:
        """The charge's guards, once the charge is known (the caller holds the commission's lock)."""
        identities = identities_of(await repos.identities.of_user(commission.referrer_id))
        decision = decide_on_charge(
            card_hash(payment.facts.card_fingerprint), identities.cards, payment.facts.risk_level
        )
        moved = lifecycle.reconsider(commission, decision, now)
        if moved.changed:
            await repos.commissions.save(commission, moved.after)
            await self._recorder.moves(repos, [moved], cause.event_id, now)
        return moved.after

    async def _guard_facts(
        self,
        repos: ReferralRepositories,
        payment: PaymentSnapshot,
        referrer_id: str,
        order_has_commission: bool,
        now: datetime,
    ) -> GuardFacts:
        if referrer_id:
            identities = identities_of(await repos.identities.of_user(referrer_id))
            banned = await repos.commissions.is_banned(referrer_id)
            recent = await repos.commissions.count_recent(referrer_id, now - VELOCITY_WINDOW)
        else:
            identities, banned, recent = Identities(frozenset(), frozenset()), False, 0
        return GuardFacts(
            referrer_id=referrer_id,
            customer_user_id=payment.user_id,
            customer_email=email_hash(payment.customer_email),
            card_fingerprint=card_hash(payment.facts.card_fingerprint),
            amount=payment.amount,
            min_amount=self._rule.min_amount,
            order_has_commission=order_has_commission,
            recent_accruals=recent,
            velocity_limit=self._velocity_limit,
            referrer_emails=identities.emails,
            referrer_fingerprints=identities.cards,
            risk_level=payment.facts.risk_level,
            needs_review=payment.status is PaymentStatus.NEEDS_REVIEW,
            banned=banned,
        )

    async def _audit_duplicate(
        self,
        repos: ReferralRepositories,
        existing: Commission,
        payment: PaymentSnapshot,
        decision: GuardDecision,
        cause: Cause,
        now: datetime,
    ) -> None:
        """A second payment for an order that has its commission: nothing to store but the refusal."""
        audit = self._recorder.audit
        if await audit.has_entry(repos.audit, existing.id, AuditAction.REFUSED, payment.payment_id):
            return
        entry = AuditDraft(
            action=AuditAction.REFUSED,
            actor=cause.event_id,
            commission_id=existing.id,
            referrer_id=existing.referrer_id,
            payment_id=payment.payment_id,
            before=audit_snapshot(existing),
            after=audit_snapshot(existing),
            reason=decision.reason.value if decision.reason else None,
        )
        await self._recorder.record(repos, [entry], None, now)

    async def _follow_payment(
        self,
        repos: ReferralRepositories,
        commission: Commission,
        payment: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> Commission:
        """Move the commission to where the payment's facts say it should be (caller holds its lock)."""
        if commission.status in LIVE_STATUSES:
            moved = lifecycle.follow_unpaid(commission, payment.facts, now)
            if moved.changed:
                await repos.commissions.save(commission, moved.after)
                await self._recorder.moves(repos, [moved], cause.event_id, now)
            return moved.after
        if commission.status is CommissionStatus.PAID:
            await self._follow_paid(repos, commission, payment, cause, now)
        # refused, canceled and reversed are final: nothing about the payment can revive them.
        return commission

    async def _follow_paid(
        self,
        repos: ReferralRepositories,
        commission: Commission,
        payment: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None:
        adjusted = await repos.commissions.adjustments_total(commission.id)
        change = lifecycle.follow_paid(commission, payment.facts, adjusted)
        if change is None:
            return
        adjustment = Adjustment(
            id=new_id("adj"),
            commission_id=commission.id,
            referrer_id=commission.referrer_id,
            currency=commission.currency,
            amount=change.delta,
            reason=change.reason,
            cause_event_id=cause.event_id,
            created_at=now,
            payout_id=None,
            settled_at=None,
        )
        await repos.commissions.insert_adjustment(adjustment, commission.created_at)
        entry = AuditDraft(
            action=change.action,
            actor=cause.event_id,
            commission_id=commission.id,
            referrer_id=commission.referrer_id,
            payment_id=commission.payment_id,
            before={**audit_snapshot(commission), "effective_amount": change.effective_before},
            after={
                **audit_snapshot(commission),
                "effective_amount": change.effective_after,
                "adjustment_id": adjustment.id,
                "adjustment_amount": change.delta,
            },
            reason=change.reason,
        )
        await self._recorder.record(repos, [entry], None, now)
