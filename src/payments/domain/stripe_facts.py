"""What one answer from Stripe (a webhook event or an API response) tells about one payment.

Shared by the webhook translation and the refund API, which both hand these facts to PaymentOrchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
    # A charge's own total of refunds (authoritative). Since API 2022-11-15 a charge no longer embeds its
    # refunds, so this may exceed what ``refunds`` explains; the processor then lists them from Stripe.
    charge_amount_refunded: int = 0

    def refunds_unexplained(self, known: PaymentFacts) -> int:
        """How much of the charge's ``amount_refunded`` no refund we know (or this event carries) explains.

        Failed refunds explain too: the total may be a snapshot from before one failed, and the question
        is whether we know every refund behind it, not how much still counts.
        """
        facts = known.merge(self.facts)
        explained = sum(r.amount for r in facts.refunds.values())
        return max(0, self.charge_amount_refunded - explained)

    def refunds_outstanding(self, known: PaymentFacts) -> int:
        """How much of the charge's ``amount_refunded`` the refunds that still count do not cover: more
        than 0 means a refund we do not know may be behind it (one made in the Dashboard after another of
        the same amount failed), so the charge's refunds must be listed before the event is applied.
        After the listing, ``refunds_unexplained`` judges it: a total from before a refund failed is then
        explained by that refund."""
        facts = known.merge(self.facts)
        counted = sum(r.amount for r in facts.refunds.values() if r.status is not RefundStatus.FAILED)
        return max(0, self.charge_amount_refunded - counted)

    def about_another_object(self, session_id: str | None, payment_intent_id: str | None) -> bool:
        """Whether the event is about a session or PaymentIntent other than the ones the payment is linked
        to: one opened by a create whose answer was lost, before a retry opened the one in use."""
        return bool(
            (self.session_id and session_id and self.session_id != session_id)
            or (self.payment_intent_id and payment_intent_id and self.payment_intent_id != payment_intent_id)
        )

    def money_only(self) -> EventFacts:
        """The event without what would end the payment (expired, canceled, failed, processing): an
        orphan's end is not the payment's, whose own session may still be paid; money it took still is."""
        f = self.facts
        kept = PaymentFacts(
            succeeded=f.succeeded,
            amount_received=f.amount_received,
            currency_received=f.currency_received,
            refunds=f.refunds,
            disputes=f.disputes,
            card_fingerprint=f.card_fingerprint,
            risk_level=f.risk_level,
        )
        return replace(self, facts=kept)

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
