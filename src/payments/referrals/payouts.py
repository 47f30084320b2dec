"""Payouts and moderation: release after the hold period, pay, a person's decision on a held commission,
bans. Each runs in the caller's unit of work and takes the referrer's lock before commission rows, so a
ban and a payout (or an accrual) never interleave: one waits for the other and sees what it did.
"""

from __future__ import annotations

from datetime import datetime

from payments.domain import commission_lifecycle as lifecycle
from payments.domain.commission import Commission, CommissionStatus, as_utc
from payments.domain.commission_lifecycle import UNPAID
from payments.ids import new_id
from payments.referrals.audit import AuditDraft
from payments.referrals.models import (
    AuditAction,
    CommissionConflict,
    CommissionNotFound,
    NothingToPay,
    Payout,
)
from payments.referrals.ports import ReferralRepositories
from payments.referrals.recording import ChangeRecorder, allowed, drafts, moved

RELEASE_ACTOR = "system:release"
RELEASE_BATCH = 500


class Payouts:
    def __init__(self, recorder: ChangeRecorder) -> None:
        self._recorder = recorder

    async def release_due(self, repos: ReferralRepositories, now: datetime) -> int:
        """Approve pending commissions whose hold period is over; the number approved."""
        now = as_utc(now)
        released, after_id = 0, ""
        while True:
            locked = await repos.commissions.lock_due(now, after_id, RELEASE_BATCH)
            if not locked:
                return released
            after_id = locked[-1].id
            # A ban cancels these rows under the same row locks; one that got past it is never approved.
            banned = await repos.commissions.banned_among([c.referrer_id for c in locked])
            due = [c for c in locked if c.referrer_id not in banned]
            if not due:
                continue
            moves = [lifecycle.release(c, now) for c in due]
            await repos.commissions.save_all([(m.before, m.after) for m in moves])
            await self._recorder.moves(repos, moves, RELEASE_ACTOR, now)
            released += len(due)

    async def mark_paid(
        self, repos: ReferralRepositories, commission_id: str, actor: str, now: datetime
    ) -> Commission:
        """Pay one approved commission on its own payout, net of the clawbacks the referrer owes back in
        its currency (as ``pay_referrer`` nets them); refused while they exceed it."""
        now = as_utc(now)
        unlocked = await repos.commissions.get(commission_id)
        if unlocked is None:
            raise CommissionNotFound(f"no commission {commission_id}")
        await self._lock_unbanned(repos, unlocked.referrer_id)
        commission = await self._locked(repos, commission_id)
        allowed(lambda: lifecycle.pay(commission, "", now))  # approved, or a conflict naming its status
        owed_back = [
            a
            for a in await repos.commissions.lock_unsettled_adjustments(commission.referrer_id)
            if a.currency == commission.currency
        ]
        plan = lifecycle.plan_payout([commission], owed_back)
        if not plan.paid:
            raise CommissionConflict(
                f"commission {commission_id}: the referrer owes back more than it in {commission.currency};"
                " it waits for later earnings"
            )
        payout = await self._pay(repos, commission.referrer_id, plan, actor, now)
        fresh = await repos.commissions.get(payout.commission_ids[0])
        assert fresh is not None
        return fresh

    async def pay_referrer(
        self, repos: ReferralRepositories, referrer_id: str, actor: str, now: datetime
    ) -> Payout:
        """Pay every approved commission of the referrer, netting unsettled adjustments, per currency."""
        now = as_utc(now)
        await self._lock_unbanned(repos, referrer_id)
        commissions = await repos.commissions.lock_by_status(referrer_id, [CommissionStatus.APPROVED])
        adjustments = await repos.commissions.lock_unsettled_adjustments(referrer_id)
        plan = lifecycle.plan_payout(commissions, adjustments)
        if not plan.lines:
            raise NothingToPay(
                f"referrer {referrer_id} has nothing to pay: nothing approved, or less than they owe back"
            )
        return await self._pay(repos, referrer_id, plan, actor, now)

    async def _pay(
        self,
        repos: ReferralRepositories,
        referrer_id: str,
        plan: lifecycle.PayoutPlan,
        actor: str,
        now: datetime,
    ) -> Payout:
        """One payout of ``plan``: its lines, its commissions paid, its adjustments settled, all audited."""
        payout_id = new_id("po")
        await repos.commissions.insert_payout(payout_id, referrer_id, actor, now, plan.lines)
        moves = [lifecycle.pay(c, payout_id, now) for c in plan.paid]
        await repos.commissions.save_all([(m.before, m.after) for m in moves])
        await repos.commissions.settle_adjustments([a.id for a in plan.settled], payout_id, now)
        entries = drafts(*moves, actor=actor) + [
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
        await self._recorder.record(repos, entries, moved(moves), now)
        return Payout(
            id=payout_id,
            referrer_id=referrer_id,
            actor=actor,
            created_at=now,
            lines=plan.lines,
            commission_ids=tuple(c.id for c in plan.paid),
            adjustment_ids=tuple(a.id for a in plan.settled),
        )

    async def decide_held(
        self, repos: ReferralRepositories, commission_id: str, approve: bool, actor: str, now: datetime
    ) -> Commission:
        """A person's decision on a commission a guard held: approve (back into the hold period, or
        approved if it is over) or reject (refused)."""
        now = as_utc(now)
        commission = await self._locked(repos, commission_id)
        decided = allowed(lambda: lifecycle.decide_held(commission, approve, now))
        await repos.commissions.save(commission, decided.after)
        await self._recorder.moves(repos, [decided], actor, now)
        return decided.after

    async def ban_referrer(
        self, repos: ReferralRepositories, referrer_id: str, actor: str, reason: str, now: datetime
    ) -> int:
        """Ban the referrer (later referrals are refused) and cancel their unpaid commissions; how many.
        Paid commissions and their adjustments are left as they are."""
        now = as_utc(now)
        await repos.commissions.lock_referrer(referrer_id)
        unpaid = await repos.commissions.lock_by_status(referrer_id, UNPAID)
        entries: list[AuditDraft] = []
        if await repos.commissions.ban(referrer_id, reason, actor, now):
            entries.append(
                AuditDraft(action=AuditAction.BANNED, actor=actor, referrer_id=referrer_id, reason=reason)
            )
        moves = [lifecycle.cancel_for_ban(c, now) for c in unpaid]
        await repos.commissions.save_all([(m.before, m.after) for m in moves])
        entries += drafts(*moves, actor=actor)
        await self._recorder.record(repos, entries, moved(moves), now)
        return len(unpaid)

    async def unban_referrer(
        self, repos: ReferralRepositories, referrer_id: str, actor: str, reason: str, now: datetime
    ) -> bool:
        """Lift a ban: later referrals accrue again. Commissions the ban canceled stay canceled."""
        now = as_utc(now)
        if not await repos.commissions.unban(referrer_id):
            return False
        entry = AuditDraft(action=AuditAction.UNBANNED, actor=actor, referrer_id=referrer_id, reason=reason)
        await self._recorder.record(repos, [entry], None, now)
        return True

    async def _lock_unbanned(self, repos: ReferralRepositories, referrer_id: str) -> None:
        """Take the referrer's lock (a ban waits for us, or we see it) and refuse to pay a banned one."""
        await repos.commissions.lock_referrer(referrer_id)
        if await repos.commissions.is_banned(referrer_id):
            raise CommissionConflict(f"referrer {referrer_id} is banned: nothing is paid to them")

    async def _locked(self, repos: ReferralRepositories, commission_id: str) -> Commission:
        commission = await repos.commissions.get(commission_id, for_update=True)
        if commission is None:
            raise CommissionNotFound(f"no commission {commission_id}")
        return commission
