"""The commission life cycle, driven by payment changes and admin decisions.

Every method runs on the caller's connection inside the caller's transaction: the webhook path calls
``on_payment_changed`` in the same transaction that records the Stripe event, so a commission change
happens exactly once with the event that caused it. The amount of a commission is never nudged by
deltas; each call recomputes what the referrer should have from the payment's merged facts and moves the
commission there, so a replayed, duplicated or reordered event changes nothing the second time.

Life cycle: pending (hold period) → approved → paid; held (a person decides, or an open dispute);
refused (a guard said no); canceled (referrer banned); reversed (dispute lost). A paid commission is
never edited again: later refunds or a lost dispute become signed adjustments netted in the next payout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from payments.config import Settings
from payments.domain import commission_lifecycle as lifecycle
from payments.domain.commission import (
    LIVE_STATUSES,
    CommissionRule,
    CommissionStatus,
)
from payments.domain.commission_lifecycle import UNPAID, NewCommission, Transition, audit_snapshot
from payments.domain.fraud_guards import GuardDecision, GuardFacts, decide
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentStatus
from payments.domain.state_diff import Cause
from payments.referrals.audit import AuditDraft, AuditLog
from payments.referrals.identities import (
    Identities,
    IdentityRepository,
    card_hash,
    email_hash,
    identity_hashes,
)
from payments.referrals.models import (
    Adjustment,
    AuditAction,
    AuditEntry,
    AuditVerification,
    Commission,
    CommissionConflict,
    CommissionNotFound,
    CurrencyNet,
    NothingToPay,
    Payout,
    PayoutLine,
    Report,
)
from payments.referrals.portable import new_id, utc
from payments.referrals.referrer_view import (
    ReferrerReport,
    report_for_referrer,
)
from payments.referrals.report import ReportFilter, ReportQueries
from payments.referrals.repository import CommissionRepository
from payments.referrals.totals import DailyTotals, TotalsChanges

RELEASE_ACTOR = "system:release"
RELEASE_BATCH = 500
VELOCITY_WINDOW = timedelta(hours=1)


class PaymentChangeTransaction(Protocol):
    """What ``on_payment_changed`` needs of the transaction it runs in (webhooks.ports has the rest)."""

    async def record_identities(
        self, user_id: str, hashes: Sequence[tuple[str, str]], now: datetime
    ) -> None: ...

    async def connection(self) -> AsyncConnection: ...


class CommissionService:
    def __init__(self, settings: Settings) -> None:
        self._rule = CommissionRule(
            rate_bps=settings.commission_rate_bps,
            min_amount=settings.commission_min_amount,
            hold_days=settings.commission_hold_days,
        )
        self._velocity_limit = settings.referral_velocity_per_hour
        self._commissions = CommissionRepository()
        self._audit = AuditLog(settings.audit_keyring())
        self._identities = IdentityRepository()
        self._totals = DailyTotals()
        self._reports = ReportQueries(self._totals)

    # -- the webhook path ----------------------------------------------------------------------------
    async def on_payment_changed(
        self,
        tx: PaymentChangeTransaction,
        before: PaymentSnapshot,
        after: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None:
        now = utc(now)
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
        # Only referred payments go further, through SQLAlchemy (in the same transaction on the fast path).
        conn = await tx.connection()
        if newly_succeeded:
            await self.accrue_commission(conn, after, cause, now)
            return
        commission = await self._commissions.get_by_order(conn, after.order_id, for_update=True)
        if commission is not None and commission.payment_id == after.payment_id:
            await self._follow_payment(conn, commission, after, cause, now)

    async def accrue_commission(
        self, conn: AsyncConnection, payment: PaymentSnapshot, cause: Cause, now: datetime
    ) -> Commission | None:
        """The commission of a succeeded, referred payment: accrued, held or refused by the guards.

        None when the payment names no referrer at all or has not succeeded, and when another payment of
        the same order already has the order's commission (that refusal is audited on the existing one).
        Calling it again for the same payment returns the same commission, brought up to date.
        """
        now = utc(now)
        if payment.referrer_id is None or not payment.facts.succeeded:
            return None
        referrer_id = payment.referrer_id.strip()
        if referrer_id:
            # Before the guards read the ban: a ban landing now either commits first (and is seen) or waits
            # for this commission and cancels it.
            await self._commissions.lock_referrer(conn, referrer_id)
        existing = await self._commissions.get_by_order(conn, payment.order_id, for_update=True)
        if existing is not None and existing.payment_id == payment.payment_id:
            return await self._follow_payment(conn, existing, payment, cause, now)
        decision = decide(await self._guard_facts(conn, payment, referrer_id, existing is not None, now))
        if existing is not None:
            await self._audit_duplicate(conn, existing, payment, decision, cause, now)
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
        await self._commissions.insert(conn, commission)
        changes = TotalsChanges()
        changes.added(commission)
        await self._record(
            conn, [_draft(step.action, cause.event_id, None, commission, step.reason)], changes, now
        )
        if commission.status is CommissionStatus.REFUSED:
            return commission
        # Facts may arrive in any order: a refund or dispute can already be known when the payment succeeds.
        return await self._follow_payment(conn, commission, payment, cause, now)

    async def _guard_facts(
        self,
        conn: AsyncConnection,
        payment: PaymentSnapshot,
        referrer_id: str,
        order_has_commission: bool,
        now: datetime,
    ) -> GuardFacts:
        if referrer_id:
            identities = await self._identities.of_user(conn, referrer_id)
            banned = await self._commissions.is_banned(conn, referrer_id)
            recent = await self._commissions.count_recent(conn, referrer_id, now - VELOCITY_WINDOW)
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
        conn: AsyncConnection,
        existing: Commission,
        payment: PaymentSnapshot,
        decision: GuardDecision,
        cause: Cause,
        now: datetime,
    ) -> None:
        """A second payment for an order that has its commission: nothing to store but the refusal."""
        if await self._audit.has_entry(conn, existing.id, AuditAction.REFUSED, payment.payment_id):
            return
        draft = AuditDraft(
            action=AuditAction.REFUSED,
            actor=cause.event_id,
            commission_id=existing.id,
            referrer_id=existing.referrer_id,
            payment_id=payment.payment_id,
            before=audit_snapshot(existing),
            after=audit_snapshot(existing),
            reason=decision.reason.value if decision.reason else None,
        )
        await self._record(conn, [draft], None, now)

    async def _follow_payment(
        self,
        conn: AsyncConnection,
        commission: Commission,
        payment: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> Commission:
        """Move the commission to where the payment's facts say it should be (caller holds its lock)."""
        if commission.status in LIVE_STATUSES:
            moved = lifecycle.follow_unpaid(commission, payment.facts, now)
            if moved.changed:
                await self._commissions.save(conn, commission, moved.after)
                await self._record(conn, _drafts(moved, actor=cause.event_id), _moved([moved]), now)
            return moved.after
        if commission.status is CommissionStatus.PAID:
            await self._follow_paid(conn, commission, payment, cause, now)
        # refused, canceled and reversed are final: nothing about the payment can revive them.
        return commission

    async def _follow_paid(
        self,
        conn: AsyncConnection,
        commission: Commission,
        payment: PaymentSnapshot,
        cause: Cause,
        now: datetime,
    ) -> None:
        adjusted = await self._commissions.adjustments_total(conn, commission.id)
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
        await self._commissions.insert_adjustment(conn, adjustment, commission.created_at)
        draft = AuditDraft(
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
        await self._record(conn, [draft], None, now)

    # -- housekeeping and admin ----------------------------------------------------------------------
    async def release_due(self, conn: AsyncConnection, now: datetime) -> int:
        """Approve pending commissions whose hold period is over; the number approved."""
        now = utc(now)
        released, after_id = 0, ""
        while True:
            locked = await self._commissions.lock_due(conn, now, after_id, RELEASE_BATCH)
            if not locked:
                return released
            after_id = locked[-1].id
            # A ban cancels these rows under the same row locks; one that got past it is never approved.
            banned = await self._commissions.banned_among(conn, [c.referrer_id for c in locked])
            due = [c for c in locked if c.referrer_id not in banned]
            if not due:
                continue
            ids = [c.id for c in due]
            await self._commissions.set_status(
                conn,
                ids,
                CommissionStatus.PENDING,
                {"status": CommissionStatus.APPROVED.value, "updated_at": now},
            )
            moves = [lifecycle.release(c, now) for c in due]
            await self._record(conn, _drafts(*moves, actor=RELEASE_ACTOR), _moved(moves), now)
            released += len(due)

    async def mark_commission_paid(
        self, conn: AsyncConnection, commission_id: str, actor: str, now: datetime
    ) -> Commission:
        now = utc(now)
        unlocked = await self._commissions.get(conn, commission_id)
        if unlocked is None:
            raise CommissionNotFound(f"no commission {commission_id}")
        await self._lock_unbanned(conn, unlocked.referrer_id)
        commission = await self._locked(conn, commission_id)
        payout_id = new_id("po")
        paid = _allowed(lambda: lifecycle.pay(commission, payout_id, now))
        line = PayoutLine(commission.currency, commission.amount, 0, commission.amount, 1, 0)
        await self._commissions.insert_payout(conn, payout_id, commission.referrer_id, actor, now, [line])
        await self._commissions.save(conn, commission, paid.after)
        await self._record(conn, _drafts(paid, actor=actor), _moved([paid]), now)
        return paid.after

    async def pay_referrer(
        self, conn: AsyncConnection, referrer_id: str, actor: str, now: datetime
    ) -> Payout:
        """Pay every approved commission of the referrer, netting unsettled adjustments, per currency."""
        now = utc(now)
        await self._lock_unbanned(conn, referrer_id)
        commissions = await self._commissions.lock_by_status(conn, referrer_id, [CommissionStatus.APPROVED])
        adjustments = await self._commissions.lock_unsettled_adjustments(conn, referrer_id)
        plan = lifecycle.plan_payout(commissions, adjustments)
        if not plan.lines:
            raise NothingToPay(f"referrer {referrer_id} has nothing approved to pay")
        payout_id = new_id("po")
        await self._commissions.insert_payout(conn, payout_id, referrer_id, actor, now, plan.lines)
        await self._commissions.set_status(
            conn,
            [c.id for c in commissions],
            CommissionStatus.APPROVED,
            {
                "status": CommissionStatus.PAID.value,
                "paid_at": now,
                "payout_id": payout_id,
                "updated_at": now,
            },
        )
        await self._commissions.settle_adjustments(conn, [a.id for a in plan.settled], payout_id, now)
        moves = [lifecycle.pay(c, payout_id, now) for c in commissions]
        drafts = _drafts(*moves, actor=actor)
        drafts += [
            AuditDraft(
                action=AuditAction.PAID,
                actor=actor,
                commission_id=a.commission_id,
                referrer_id=a.referrer_id,
                after={"adjustment_id": a.id, "adjustment_amount": a.amount, "payout_id": payout_id},
                reason="adjustment_settled",
            )
            for a in plan.settled
        ]
        await self._record(conn, drafts, _moved(moves), now)
        return Payout(
            id=payout_id,
            referrer_id=referrer_id,
            actor=actor,
            created_at=now,
            lines=plan.lines,
            commission_ids=tuple(c.id for c in commissions),
            adjustment_ids=tuple(a.id for a in plan.settled),
        )

    async def decide_held(
        self, conn: AsyncConnection, commission_id: str, approve: bool, actor: str, now: datetime
    ) -> Commission:
        """A person's decision on a commission a guard held: approve (back into the hold period, or
        approved if it is over) or reject (refused)."""
        now = utc(now)
        commission = await self._locked(conn, commission_id)
        decided = _allowed(lambda: lifecycle.decide_held(commission, approve, now))
        await self._commissions.save(conn, commission, decided.after)
        await self._record(conn, _drafts(decided, actor=actor), _moved([decided]), now)
        return decided.after

    async def ban_referrer(
        self, conn: AsyncConnection, referrer_id: str, actor: str, reason: str, now: datetime
    ) -> int:
        """Ban the referrer (later referrals are refused) and cancel their unpaid commissions; how many.
        Paid commissions and their adjustments are left as they are."""
        now = utc(now)
        await self._commissions.lock_referrer(conn, referrer_id)
        unpaid = await self._commissions.lock_by_status(conn, referrer_id, UNPAID)
        drafts: list[AuditDraft] = []
        if await self._commissions.ban(conn, referrer_id, reason, actor, now):
            drafts.append(
                AuditDraft(action=AuditAction.BANNED, actor=actor, referrer_id=referrer_id, reason=reason)
            )
        for status in UNPAID:
            ids = [c.id for c in unpaid if c.status is status]
            await self._commissions.set_status(
                conn,
                ids,
                status,
                {
                    "status": CommissionStatus.CANCELED.value,
                    "reason": lifecycle.BANNED,
                    "updated_at": now,
                    "status_before_hold": None,
                },
            )
        moves = [lifecycle.cancel_for_ban(c, now) for c in unpaid]
        drafts += _drafts(*moves, actor=actor)
        await self._record(conn, drafts, _moved(moves), now)
        return len(unpaid)

    async def unban_referrer(
        self, conn: AsyncConnection, referrer_id: str, actor: str, reason: str, now: datetime
    ) -> bool:
        """Lift a ban: later referrals accrue again. Commissions the ban canceled stay canceled."""
        now = utc(now)
        if not await self._commissions.unban(conn, referrer_id):
            return False
        draft = AuditDraft(action=AuditAction.UNBANNED, actor=actor, referrer_id=referrer_id, reason=reason)
        await self._record(conn, [draft], None, now)
        return True

    # -- reading -------------------------------------------------------------------------------------
    async def get_commission(self, conn: AsyncConnection, commission_id: str) -> Commission | None:
        return await self._commissions.get(conn, commission_id)

    async def get_adjustments(self, conn: AsyncConnection, commission_id: str) -> list[Adjustment]:
        return await self._commissions.adjustments_of(conn, commission_id)

    async def get_audit(self, conn: AsyncConnection, commission_id: str) -> list[AuditEntry]:
        return await self._audit.for_commission(conn, commission_id)

    async def get_report(
        self,
        conn: AsyncConnection,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Report:
        """Totals and one page, newest first. The period is [from, to) on created_at; status narrows both
        the totals and the page; limit is capped at 500. Raises InvalidReportQuery (or its subclass
        InvalidCursor) for a bad status, period, limit or cursor."""
        where = ReportFilter.of(referrer_id, period_from, period_to, status)
        return await self._reports.report(conn, where, limit, cursor)

    async def earnings_by_period(
        self, conn: AsyncConnection, referrer_id: str, periods: Sequence[tuple[datetime, datetime]]
    ) -> list[tuple[CurrencyNet, ...]]:
        """Per [from, to) period, the same ``net`` figures ``get_report`` answers for that period."""
        return [
            await self._reports.earnings(conn, ReportFilter.of(referrer_id, start, end, None))
            for start, end in periods
        ]

    async def stream_report_csv(
        self,
        engine: AsyncEngine,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        for_referrer: bool = False,
    ) -> AsyncIterator[str]:
        """CSV lines (header first), read in keyset batches while the caller sends them. The filters are
        checked before the header is produced, so a caller that awaits the first line before starting
        its response can still answer a bad status or period, or an export over ``CSV_MAX_ROWS`` rows
        (ExportTooLarge), with a 422. ``engine``: a small pool of its own, so that slow downloads cannot
        take the connections webhooks need. ``for_referrer``: the columns a referrer may see
        (``referrer_view``), for a referrer's own download."""
        where = ReportFilter.of(referrer_id, period_from, period_to, status)
        async for line in self._reports.csv_lines(engine, where, for_referrer=for_referrer):
            yield line

    async def get_referrer_report(
        self,
        conn: AsyncConnection,
        referrer_id: str,
        *,
        period_from: datetime | None = None,
        period_to: datetime | None = None,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ReferrerReport:
        """``get_report`` as the referrer may see it: no customer identity, no guard's reason."""
        report = await self.get_report(
            conn,
            referrer_id,
            period_from=period_from,
            period_to=period_to,
            status=status,
            limit=limit,
            cursor=cursor,
        )
        return report_for_referrer(report)

    async def verify_audit_chain(self, conn: AsyncConnection) -> AuditVerification:
        return await self._audit.verify(conn)

    async def _record(
        self, conn: AsyncConnection, drafts: list[AuditDraft], changes: TotalsChanges | None, now: datetime
    ) -> None:
        """Audit, then daily totals: appending locks the chain head, which is what serialises the totals'
        upserts, so totals never change without an audit entry in the same transaction."""
        if changes and not drafts:
            raise RuntimeError("a commission changed without an audit entry")
        await self._audit.append(conn, drafts, now)
        if changes:
            await self._totals.apply(conn, changes)

    async def _lock_unbanned(self, conn: AsyncConnection, referrer_id: str) -> None:
        """Take the referrer's lock (a ban waits for us, or we see it) and refuse to pay a banned one."""
        await self._commissions.lock_referrer(conn, referrer_id)
        if await self._commissions.is_banned(conn, referrer_id):
            raise CommissionConflict(f"referrer {referrer_id} is banned: nothing is paid to them")

    async def _locked(self, conn: AsyncConnection, commission_id: str) -> Commission:
        commission = await self._commissions.get(conn, commission_id, for_update=True)
        if commission is None:
            raise CommissionNotFound(f"no commission {commission_id}")
        return commission


def _moved(moves: Sequence[Transition]) -> TotalsChanges:
    changes = TotalsChanges()
    for move in moves:
        changes.moved(move.before, move.after)
    return changes


def _drafts(*moves: Transition, actor: str) -> list[AuditDraft]:
    """One audit entry per step, each step's before being the state the previous one left."""
    drafts: list[AuditDraft] = []
    for move in moves:
        previous = move.before
        for step in move.steps:
            drafts.append(_draft(step.action, actor, previous, step.state, step.reason))
            previous = step.state
    return drafts


def _allowed(transition: Callable[[], Transition]) -> Transition:
    try:
        return transition()
    except lifecycle.TransitionRefused as exc:
        raise CommissionConflict(str(exc)) from None


def _draft(
    action: AuditAction, actor: str, before: Commission | None, after: Commission, reason: str | None
) -> AuditDraft:
    return AuditDraft(
        action=action,
        actor=actor,
        commission_id=after.id,
        referrer_id=after.referrer_id,
        payment_id=after.payment_id,
        before=audit_snapshot(before) if before is not None else None,
        after=audit_snapshot(after),
        reason=reason,
    )


__all__ = ["RELEASE_ACTOR", "CommissionService"]
