"""What refunds need from Stripe; ``adapters/stripe_gateway/client.py::StripeGateway`` serves it.

Every call raises ``GatewayError`` (``payments/stripe_port.py``) when Stripe fails or refuses.
"""

from __future__ import annotations

from typing import Protocol

from payments.stripe_port import Refund


class RefundGateway(Protocol):
    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Refund:
        """The same key answers the refund Stripe already made under it (for 24 hours at least)."""
        ...

    async def list_refunds(self, payment_intent_id: str) -> list[Refund]:
        """Every refund of the PaymentIntent, whoever made it."""
        ...
