"""The commission life cycle as pure transitions: a commission in, the commission after and what changed.

pending (hold period) → approved → paid; held (a person decides, or an open dispute); refused (a guard
said no); canceled (referrer banned); reversed (dispute lost). A paid commission is never edited again:
later refunds or a lost dispute become a signed adjustment (``PaidChange``) netted in the next payout.

The amount is never nudged by deltas: each transition recomputes what the referrer should have from the
payment's merged facts (``target_for``), so a replayed, duplicated or reordered event changes nothing the
second time. The referral services read the rows under their locks, call these functions, and write what
they answer; every ``Step`` becomes one audit entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from payments.domain.audit_chain import iso
from payments.domain.commission import (
    LIVE_STATUSES,
    Adjustment,
    AuditAction,
    Commission,
    CommissionRule,
    CommissionStatus,
    PayoutLine,
    commission_for,
    payout_net,
    target_amount,
)
from payments.domain.fraud_guards import GuardDecision, Verdict
from payments.domain.payment_state import DisputePhase, PaymentFacts

# Reasons stored on commissions and adjustments besides the guards' codes.
DISPUTE_OPEN = "dispute_open"
DISPUTE_WON = "dispute_won"
DISPUTE_LOST = "dispute_lost"
REFUND = "refund"
REFUND_FAILED = "refund_failed"
REJECTED_BY_ADMIN = "rejected_by_admin"
BANNED = "banned_referrer"

# What a ban cancels: everything not yet paid or final.
UNPAID = (CommissionStatus.PENDING, CommissionStatus.APPROVED, CommissionStatus.HELD)

_STATUS_OF_VERDICT = {
    Verdict.ACCRUE: CommissionStatus.PENDING,
    Verdict.HOLD: CommissionStatus.HELD,
    Verdict.REFUSE: CommissionStatus.REFUSED,
}
_ACTION_OF_VERDICT = {
    Verdict.ACCRUE: AuditAction.ACCRUED,
    Verdict.HOLD: AuditAction.HELD,
    Verdict.REFUSE: AuditAction.REFUSED,
}


class TransitionRefused(ValueError):
    """The commission's status does not allow the step (the service answers it as a conflict)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One audited change: the commission right after it, and why."""

    action: AuditAction
    state: Commission
    reason: str | None


@dataclass(frozen=True, slots=True)
class Transition:
    before: Commission
    after: Commission
    steps: tuple[Step, ...]

    @property
    def changed(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True, slots=True)
class PaidChange:
    """What a paid commission's payment facts now call for: an adjustment of ``delta``."""

    effective_before: int
    effective_after: int
    delta: int
    action: AuditAction
    reason: str


@dataclass(frozen=True, slots=True)
class PayoutPlan:
    """Per currency, what one payout sends: approved commissions, netted with the adjustments it settles.
    A currency whose clawbacks exceed what is approved has no line: its commissions are not in ``paid``."""

    lines: tuple[PayoutLine, ...]
    settled: tuple[Adjustment, ...]
    paid: tuple[Commission, ...] = ()


@dataclass(frozen=True, slots=True)
class NewCommission:
    """What accrual knows of the payment; the commission's id is chosen by the caller."""

    id: str
    order_id: str
    payment_id: str
    referrer_id: str
    customer_user_id: str
    currency: str
    payment_amount: int


def accrue(new: NewCommission, rule: CommissionRule, decision: GuardDecision, now: datetime) -> Step:
    """The commission a succeeded payment earns under ``rule``: pending, or held or refused by a guard."""
    # On the amount asked; a payment whose received amount differs is held for a person anyway.
    amount = commission_for(new.payment_amount, rule.rate_bps)
    commission = Commission(
        id=new.id,
        order_id=new.order_id,
        payment_id=new.payment_id,
        referrer_id=new.referrer_id,
        customer_user_id=new.customer_user_id,
        currency=new.currency,
        payment_amount=new.payment_amount,
        original_amount=amount,
        amount=amount,
        rate_bps=rule.rate_bps,
        min_amount=rule.min_amount,
        hold_days=rule.hold_days,
        status=_STATUS_OF_VERDICT[decision.verdict],
        reason=decision.reason.value if decision.reason else None,
        status_before_hold=None,
        hold_until=None if decision.verdict is Verdict.REFUSE else now + timedelta(days=rule.hold_days),
        paid_at=None,
        payout_id=None,
        created_at=now,
        updated_at=now,
    )
    return Step(_ACTION_OF_VERDICT[decision.verdict], commission, commission.reason)


def target_for(commission: Commission, facts: PaymentFacts) -> int:
    """What the referrer should end up with, given everything known about the payment now."""
    # Refunds are a share of what Stripe received. That is the amount asked, except on a payment held for
    # amount_mismatch, where refunding everything received must still leave nothing.
    received = facts.amount_received or commission.payment_amount
    return target_amount(
        commission.original_amount,
        received,
        facts.amount_refunded,
        dispute_lost=facts.dispute_phase is DisputePhase.LOST,
    )


def follow_unpaid(commission: Commission, facts: PaymentFacts, now: datetime) -> Transition:
    """Move a pending, approved or held commission to where the payment's facts say it should be.

    A refund shrinks it pro rata from the cumulative refunded amount and a failed refund restores it; an
    open dispute holds it, a won one gives back the status it had, a lost one reverses it.
    """
    if commission.status not in LIVE_STATUSES:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not unpaid")
    phase = facts.dispute_phase
    steps: list[Step] = []
    current = commission
    if phase is DisputePhase.LOST:
        current = replace(
            current,
            status=CommissionStatus.REVERSED,
            amount=0,
            reason=DISPUTE_LOST,
            status_before_hold=None,
            updated_at=now,
        )
        steps.append(Step(AuditAction.REVERSED, current, DISPUTE_LOST))
        return Transition(commission, current, tuple(steps))
    target = target_for(commission, facts)
    if target != current.amount:
        why = REFUND if target < current.amount else REFUND_FAILED
        current = replace(current, amount=target, updated_at=now)
        steps.append(Step(AuditAction.ADJUSTED, current, why))
    if phase is DisputePhase.OPEN and current.status_before_hold is None:
        current = _held_for_dispute(current, now)
        steps.append(Step(AuditAction.HELD, current, DISPUTE_OPEN))
    elif phase is not DisputePhase.OPEN and current.status_before_hold is not None:
        # Only a dispute sets status_before_hold, so this undoes exactly the dispute's hold: a commission a
        # guard held goes back to waiting for its person, with the guard's reason.
        back = current.status_before_hold
        current = replace(
            current,
            status=back,
            status_before_hold=None,
            reason=current.reason if back is CommissionStatus.HELD else None,
            updated_at=now,
        )
        steps.append(Step(AuditAction.RESTORED, current, DISPUTE_WON))
    return Transition(commission, current, tuple(steps))


def _held_for_dispute(commission: Commission, now: datetime) -> Commission:
    """Held while a dispute is open; ``status_before_hold`` is what the dispute's end gives back. A
    commission a guard already held keeps its status and reason (a person still decides), and is marked
    as waiting for the dispute too, so that no approval can release it while the money may go back."""
    if commission.status is CommissionStatus.HELD:
        return replace(commission, status_before_hold=CommissionStatus.HELD, updated_at=now)
    return replace(
        commission,
        status=CommissionStatus.HELD,
        status_before_hold=commission.status,
        reason=DISPUTE_OPEN,
        updated_at=now,
    )


def reconsider(commission: Commission, decision: GuardDecision, now: datetime) -> Transition:
    """An unpaid commission under the guards that read the charge (``fraud_guards.decide_on_charge``),
    once the charge is known: a refusal ends it, a hold puts it before a person. Accrual may have run
    before the charge arrived, so these guards must not depend on the order Stripe's events come in."""
    if commission.status not in UNPAID:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not unpaid")
    reason = decision.reason.value if decision.reason else None
    if decision.verdict is Verdict.REFUSE:
        return _ended(commission, CommissionStatus.REFUSED, AuditAction.REFUSED, reason, now)
    before_hold = commission.status_before_hold
    held_for_a_person = before_hold is CommissionStatus.HELD or (
        commission.status is CommissionStatus.HELD and before_hold is None
    )
    if decision.verdict is Verdict.HOLD and not held_for_a_person:
        if before_hold is not None:
            # Held by a dispute: the guard's hold outlives it (restored to held, for a person).
            held = replace(
                commission, status_before_hold=CommissionStatus.HELD, reason=reason, updated_at=now
            )
        else:
            held = replace(commission, status=CommissionStatus.HELD, reason=reason, updated_at=now)
        return Transition(commission, held, (Step(AuditAction.HELD, held, reason),))
    return Transition(commission, commission, ())


def follow_paid(commission: Commission, facts: PaymentFacts, adjustments_total: int) -> PaidChange | None:
    """The adjustment a paid commission needs so that it plus its adjustments meet the target; None when
    they already do."""
    if commission.status is not CommissionStatus.PAID:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not paid")
    effective = commission.amount + adjustments_total
    target = target_for(commission, facts)
    delta = target - effective
    if delta == 0:
        return None
    if facts.dispute_phase is DisputePhase.LOST:
        return PaidChange(effective, target, delta, AuditAction.REVERSED, DISPUTE_LOST)
    return PaidChange(effective, target, delta, AuditAction.ADJUSTED, REFUND if delta < 0 else REFUND_FAILED)


def release(commission: Commission, now: datetime) -> Transition:
    """Pending → approved once its hold period is over."""
    if commission.status is not CommissionStatus.PENDING:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not pending")
    if commission.hold_until is None or commission.hold_until > now:
        raise TransitionRefused(f"commission {commission.id} is still in its hold period")
    approved = replace(commission, status=CommissionStatus.APPROVED, updated_at=now)
    return Transition(commission, approved, (Step(AuditAction.RELEASED, approved, None),))


def pay(commission: Commission, payout_id: str, now: datetime) -> Transition:
    """Approved → paid by ``payout_id``."""
    if commission.status is not CommissionStatus.APPROVED:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not approved")
    paid = replace(commission, status=CommissionStatus.PAID, paid_at=now, payout_id=payout_id, updated_at=now)
    return Transition(commission, paid, (Step(AuditAction.PAID, paid, None),))


def decide_held(commission: Commission, approve: bool, now: datetime) -> Transition:
    """A person's decision on a commission a guard held: approve (back into the hold period, or approved if
    it is over) or reject (refused). A commission held by an open dispute waits for the dispute instead."""
    if commission.status is not CommissionStatus.HELD:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not held")
    if commission.status_before_hold is not None:
        raise TransitionRefused(f"commission {commission.id} waits for its dispute, not for a person")
    if approve:
        due = commission.hold_until is None or commission.hold_until <= now
        status = CommissionStatus.APPROVED if due else CommissionStatus.PENDING
        decided = replace(commission, status=status, reason=None, updated_at=now)
        return Transition(commission, decided, (Step(AuditAction.APPROVED, decided, None),))
    decided = replace(commission, status=CommissionStatus.REFUSED, reason=REJECTED_BY_ADMIN, updated_at=now)
    return Transition(commission, decided, (Step(AuditAction.REFUSED, decided, REJECTED_BY_ADMIN),))


def cancel_for_ban(commission: Commission, now: datetime) -> Transition:
    """An unpaid commission of a banned referrer is canceled (paid ones and their adjustments stay)."""
    if commission.status not in UNPAID:
        raise TransitionRefused(f"commission {commission.id} is {commission.status.value}, not unpaid")
    return _ended(commission, CommissionStatus.CANCELED, AuditAction.CANCELED, BANNED, now)


def _ended(
    commission: Commission, status: CommissionStatus, action: AuditAction, reason: str | None, now: datetime
) -> Transition:
    """A final status for an unpaid commission (refused, canceled), out of any hold."""
    ended = replace(commission, status=status, reason=reason, status_before_hold=None, updated_at=now)
    return Transition(commission, ended, (Step(action, ended, reason),))


def plan_payout(commissions: Sequence[Commission], adjustments: Sequence[Adjustment]) -> PayoutPlan:
    """Per currency: the approved commissions net of every unsettled adjustment, when that is not below
    zero (``payout_net``); otherwise nothing of that currency is paid or settled."""
    by_currency: dict[str, tuple[list[Commission], list[Adjustment]]] = defaultdict(lambda: ([], []))
    for commission in commissions:
        by_currency[commission.currency][0].append(commission)
    for adjustment in adjustments:
        by_currency[adjustment.currency][1].append(adjustment)
    lines: list[PayoutLine] = []
    settled: list[Adjustment] = []
    paid: list[Commission] = []
    for currency in sorted(by_currency):
        owed, pending = by_currency[currency]
        owed_total = sum(c.amount for c in owed)
        net = payout_net(owed_total, [a.amount for a in pending])
        if net is None or not (owed or pending):
            continue
        adjusted_total = net - owed_total
        lines.append(PayoutLine(currency, owed_total, adjusted_total, net, len(owed), len(pending)))
        settled.extend(pending)
        paid.extend(owed)
    return PayoutPlan(tuple(lines), tuple(settled), tuple(paid))


def audit_snapshot(commission: Commission) -> dict[str, Any]:
    """The part of a commission an audit entry records before and after a change (JSON, ISO times): its
    state and the inputs of its calculation, so the chain proves how each amount was reached."""
    return {
        "status": commission.status.value,
        "payment_amount": commission.payment_amount,
        "rate_bps": commission.rate_bps,
        "customer_user_id": commission.customer_user_id,
        "amount": commission.amount,
        "original_amount": commission.original_amount,
        "currency": commission.currency,
        "reason": commission.reason,
        "status_before_hold": commission.status_before_hold.value if commission.status_before_hold else None,
        "hold_until": iso(commission.hold_until) if commission.hold_until else None,
        "payout_id": commission.payout_id,
    }


__all__ = [
    "BANNED",
    "DISPUTE_LOST",
    "DISPUTE_OPEN",
    "DISPUTE_WON",
    "REFUND",
    "REFUND_FAILED",
    "REJECTED_BY_ADMIN",
    "UNPAID",
    "NewCommission",
    "PaidChange",
    "PayoutPlan",
    "Step",
    "Transition",
    "TransitionRefused",
    "accrue",
    "audit_snapshot",
    "cancel_for_ban",
    "decide_held",
    "follow_paid",
    "follow_unpaid",
    "pay",
    "plan_payout",
    "reconsider",
    "release",
    "target_for",
]
