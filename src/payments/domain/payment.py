"""A payment as the rest of the service sees it: terms plus the facts Stripe reported."""

from __future__ import annotations

from dataclasses import dataclass

from payments.domain.payment_state import PaymentFacts, PaymentStatus, derive_status


@dataclass(frozen=True, slots=True)
class PaymentSnapshot:
    payment_id: str
    order_id: str
    user_id: str
    amount: int
    currency: str
    referrer_id: str | None
    customer_email: str | None
    status: PaymentStatus
    facts: PaymentFacts

    def with_facts(self, facts: PaymentFacts) -> PaymentSnapshot:
        return PaymentSnapshot(
            payment_id=self.payment_id,
            order_id=self.order_id,
            user_id=self.user_id,
            amount=self.amount,
            currency=self.currency,
            referrer_id=self.referrer_id,
            customer_email=self.customer_email,
            status=derive_status(facts, self.amount, self.currency),
            facts=facts,
        )
