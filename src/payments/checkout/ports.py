"""What checkout needs from Stripe; ``adapters/stripe_gateway/client.py::StripeGateway`` serves it.

Every call raises ``GatewayError`` (``payments/stripe_port.py``) when Stripe fails or refuses.
"""

from __future__ import annotations

from typing import Protocol

from payments.stripe_port import (
    CheckoutRequest,
    CheckoutSession,
    IntentState,
    PaymentIntent,
    PaymentIntentRequest,
    SessionState,
)


class CheckoutGateway(Protocol):
    async def create_checkout_session(
        self, req: CheckoutRequest, *, idempotency_key: str
    ) -> CheckoutSession: ...

    async def create_payment_intent(
        self, req: PaymentIntentRequest, *, idempotency_key: str
    ) -> PaymentIntent: ...

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> SessionState:
        """Refused (``INVALID``) unless the session is still open."""
        ...

    async def retrieve_checkout_session(self, session_id: str) -> SessionState: ...

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        """Refused (``INVALID``) once the intent succeeded, is processing or was canceled."""
        ...

    async def retrieve_payment_intent(self, intent_id: str) -> IntentState: ...
