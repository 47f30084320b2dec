"""What one answer from Stripe (a webhook event or an API response) tells about one payment.

Shared by the webhook translation and the refund API, which both hand these facts to PaymentOrchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from payments.domain.payment_state import PaymentFacts, RefundStatus


@dataclass(frozen=True, slots=True)
class RefundSeen:
    stripe_refund_id: str
    our_refund_id: str | None  # metadata[refund_id] when we created it through our API
    amount: int
    currency: str
    status: RefundStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class EventFacts:
    """An event translated: where it belongs and what it adds."""

    payment_id: str | None = None
    session_id: str | None = None
    payment_intent_id: str | None = None
    charge_id: str | None = None
    facts: PaymentFacts = field(default_factory=PaymentFacts)
    refunds: tuple[RefundSeen, ...] = ()

    @property
    def ref(self) -> str | None:
        """The Stripe id a deferred event waits for (see events_repo.EventStatus.DEFERRED)."""
        return self.payment_intent_id or self.charge_id or self.session_id


_REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def refund_status(stripe_status: str | None) -> RefundStatus:
    """Stripe's refund status in our terms; anything unknown is still pending."""
    return _REFUND_STATUS.get(str(stripe_status), RefundStatus.PENDING)
