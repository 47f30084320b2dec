"""The payment state machine as a fold over facts.

Stripe delivers events at least once and in any order. Rather than moving a status along arrows (where a
late event could drag it back), each event adds *facts* to a set that only grows (a join-semilattice:
every merge is commutative, associative and idempotent), and the status is a pure function of the facts.
Any arrival order of the same events therefore ends in the same status, and a duplicate changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class PaymentStatus(StrEnum):
    OPEN = "open"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    # Stripe says paid, but not the amount or currency we asked for: a person must look.
    NEEDS_REVIEW = "needs_review"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# A refund only moves forward; failed is final (Stripe may fail a refund that looked pending or even
# succeeded, never the other way round).
_REFUND_RANK = {RefundStatus.PENDING: 0, RefundStatus.SUCCEEDED: 1, RefundStatus.FAILED: 2}


class DisputePhase(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


# Won and lost never both happen to one dispute; ranking lost higher keeps the merge deterministic anyway.
_DISPUTE_RANK = {DisputePhase.OPEN: 0, DisputePhase.WON: 1, DisputePhase.LOST: 2}


@dataclass(frozen=True, slots=True)
class RefundFact:
    amount: int
    status: RefundStatus
    created: int = 0

    def merge(self, other: RefundFact) -> RefundFact:
        status = max(self.status, other.status, key=_REFUND_RANK.__getitem__)
        return RefundFact(
            amount=max(self.amount, other.amount),
            status=status,
            created=min(self.created or other.created, other.created or self.created),
        )

    @property
    def counts(self) -> bool:
        return self.status is not RefundStatus.FAILED


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    """Everything Stripe has told us about one payment, merged."""

    succeeded: bool = False
    amount_received: int = 0
    currency_received: str = ""
    processing: bool = False
    failed: bool = False
    expired: bool = False
    canceled: bool = False
    # We asked Stripe to end it: an expiry that follows is that cancel (its webhook may beat our answer).
    cancel_requested: bool = False
    refunds: dict[str, RefundFact] = field(default_factory=dict)
    disputes: dict[str, DisputePhase] = field(default_factory=dict)
    card_fingerprint: str = ""
    risk_level: str = ""
    # A person accepted what Stripe received although it was not what we asked (see review).
    review_accepted: bool = False
    # When Stripe last said failed / processing (its event's creation, unix seconds; 0 unknown). A
    # PaymentIntent declined and then confirmed with a delayed method is processing again, and one that
    # was processing can still fail: the later of the two decides (``derive_status``).
    failed_at: int = 0
    processing_at: int = 0

    # -- merging -------------------------------------------------------------------------------------
    def merge(self, other: PaymentFacts) -> PaymentFacts:
        refunds = dict(self.refunds)
        for rid, fact in other.refunds.items():
            refunds[rid] = refunds[rid].merge(fact) if rid in refunds else fact
        disputes = dict(self.disputes)
        for did, phase in other.disputes.items():
            mine = disputes.get(did)
            disputes[did] = phase if mine is None or _DISPUTE_RANK[phase] > _DISPUTE_RANK[mine] else mine
        return PaymentFacts(
            succeeded=self.succeeded or other.succeeded,
            amount_received=max(self.amount_received, other.amount_received),
            currency_received=self.currency_received or other.currency_received,
            processing=self.processing or other.processing,
            failed=self.failed or other.failed,
            expired=self.expired or other.expired,
            canceled=self.canceled or other.canceled,
            cancel_requested=self.cancel_requested or other.cancel_requested,
            refunds=refunds,
            disputes=disputes,
            card_fingerprint=self.card_fingerprint or other.card_fingerprint,
            risk_level=_riskier(self.risk_level, other.risk_level),
            review_accepted=self.review_accepted or other.review_accepted,
            failed_at=max(self.failed_at, other.failed_at),
            processing_at=max(self.processing_at, other.processing_at),
        )

    def stamped(self, at: int) -> PaymentFacts:
        """These facts with ``at`` as the time of the failure or processing they say."""
        return replace(
            self,
            failed_at=at if self.failed else self.failed_at,
            processing_at=at if self.processing else self.processing_at,
        )

    @property
    def failed_last(self) -> bool:
        """Failed, and no processing known to come after the failure."""
        return self.failed and not (self.processing and self.processing_at > self.failed_at)

    # -- reading -------------------------------------------------------------------------------------
    @property
    def amount_refunded(self) -> int:
        total = sum(r.amount for r in self.refunds.values() if r.counts)
        return min(total, self.amount_received) if self.succeeded else total

    @property
    def dispute_phase(self) -> DisputePhase | None:
        """The phase that matters for the payment: any open dispute, else any lost, else won."""
        phases = set(self.disputes.values())
        for phase in (DisputePhase.OPEN, DisputePhase.LOST, DisputePhase.WON):
            if phase in phases:
                return phase
        return None

    # -- (de)serialisation: stored as JSON on the payment row ------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "amount_received": self.amount_received,
            "currency_received": self.currency_received,
            "processing": self.processing,
            "failed": self.failed,
            "expired": self.expired,
            "canceled": self.canceled,
            "cancel_requested": self.cancel_requested,
            "refunds": {k: [v.amount, v.status.value, v.created] for k, v in sorted(self.refunds.items())},
            "disputes": {k: v.value for k, v in sorted(self.disputes.items())},
            "card_fingerprint": self.card_fingerprint,
            "risk_level": self.risk_level,
            "review_accepted": self.review_accepted,
            "failed_at": self.failed_at,
            "processing_at": self.processing_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PaymentFacts:
        if not data:
            return cls()
        return cls(
            succeeded=bool(data.get("succeeded")),
            amount_received=int(data.get("amount_received", 0)),
            currency_received=str(data.get("currency_received", "")),
            processing=bool(data.get("processing")),
            failed=bool(data.get("failed")),
            expired=bool(data.get("expired")),
            canceled=bool(data.get("canceled")),
            cancel_requested=bool(data.get("cancel_requested")),
            refunds={
                k: RefundFact(int(v[0]), RefundStatus(v[1]), int(v[2]))
                for k, v in data.get("refunds", {}).items()
            },
            disputes={k: DisputePhase(v) for k, v in data.get("disputes", {}).items()},
            card_fingerprint=str(data.get("card_fingerprint", "")),
            risk_level=str(data.get("risk_level", "")),
            review_accepted=bool(data.get("review_accepted")),
            failed_at=int(data.get("failed_at", 0)),
            processing_at=int(data.get("processing_at", 0)),
        )


_RISK_RANK = {"": 0, "not_assessed": 1, "unknown": 1, "normal": 2, "elevated": 3, "highest": 4}


def _riskier(a: str, b: str) -> str:
    return a if _RISK_RANK.get(a, 1) >= _RISK_RANK.get(b, 1) else b


def with_refund(facts: PaymentFacts, refund_id: str, fact: RefundFact) -> PaymentFacts:
    return facts.merge(PaymentFacts(refunds={refund_id: fact}))


def unresolved_mismatch(facts: PaymentFacts, amount: int, currency: str) -> bool:
    """Stripe took another amount or currency than we asked, and no person has accepted it."""
    return (
        facts.succeeded
        and not facts.review_accepted
        and (facts.amount_received != amount or facts.currency_received != currency)
    )


def derive_status(facts: PaymentFacts, amount: int, currency: str) -> PaymentStatus:
    """The one rule that turns facts into a status; see the module docstring."""
    if facts.succeeded:
        if unresolved_mismatch(facts, amount, currency):
            # A review that chose to give the money back ends there; anything else waits for a person.
            if facts.amount_received > 0 and facts.amount_refunded >= facts.amount_received:
                return PaymentStatus.REFUNDED
            return PaymentStatus.NEEDS_REVIEW
        if facts.dispute_phase in (DisputePhase.OPEN, DisputePhase.LOST):
            return PaymentStatus.DISPUTED
        refunded = facts.amount_refunded
        if refunded >= facts.amount_received:
            return PaymentStatus.REFUNDED
        if refunded > 0:
            return PaymentStatus.PARTIALLY_REFUNDED
        return PaymentStatus.SUCCEEDED
    if facts.failed_last:
        return PaymentStatus.FAILED
    if facts.canceled or (facts.expired and facts.cancel_requested):
        return PaymentStatus.CANCELED
    if facts.expired:
        return PaymentStatus.EXPIRED
    if facts.processing:
        return PaymentStatus.PROCESSING
    return PaymentStatus.OPEN


def refundable_amount(facts: PaymentFacts, reserved: int) -> int:
    """What may still be refunded, given refunds we asked Stripe for that no event has confirmed yet."""
    if not facts.succeeded:
        return 0
    return max(0, facts.amount_received - max(facts.amount_refunded, reserved))


__all__ = [
    "DisputePhase",
    "PaymentFacts",
    "PaymentStatus",
    "RefundFact",
    "RefundStatus",
    "derive_status",
    "refundable_amount",
    "unresolved_mismatch",
    "with_refund",
]
