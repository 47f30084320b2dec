"""What every commission change writes besides the commission's row: its audit entries, then the daily
totals, in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from payments.domain.commission import AuditAction, Commission
from payments.domain.commission_lifecycle import Transition, TransitionRefused, audit_snapshot
from payments.referrals.audit import AuditDraft, AuditLog
from payments.referrals.models import CommissionConflict
from payments.referrals.ports import ReferralRepositories
from payments.referrals.totals import TotalsChanges


class ChangeRecorder:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def record(
        self,
        repos: ReferralRepositories,
        drafts: Sequence[AuditDraft],
        changes: TotalsChanges | None,
        now: datetime,
    ) -> None:
        """Audit, then daily totals: appending locks the chain head, which is what serialises the totals'
        upserts, so totals never change without an audit entry in the same transaction."""
        if changes and not drafts:
            raise RuntimeError("a commission changed without an audit entry")
        await self.audit.append(repos.audit, drafts, now)
        if changes:
            await repos.totals.apply(changes.rows())

    async def moves(
        self, repos: ReferralRepositories, moves: Sequence[Transition], actor: str, now: datetime
    ) -> None:
        """Audit and count transitions whose rows the caller has saved."""
        await self.record(repos, drafts(*moves, actor=actor), moved(moves), now)


def moved(moves: Sequence[Transition]) -> TotalsChanges:
    changes = TotalsChanges()
    for move in moves:
        changes.moved(move.before, move.after)
    return changes


def drafts(*moves: Transition, actor: str) -> list[AuditDraft]:
    """One audit entry per step, each step's before being the state the previous one left."""
    result: list[AuditDraft] = []
    for move in moves:
        previous = move.before
        for step in move.steps:
            result.append(draft(step.action, actor, previous, step.state, step.reason))
            previous = step.state
    return result


def draft(
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


def allowed(transition: Callable[[], Transition]) -> Transition:
    """The transition, or the conflict a caller is answered when the commission's status forbids it."""
    try:
        return transition()
    except TransitionRefused as exc:
        raise CommissionConflict(str(exc)) from None
