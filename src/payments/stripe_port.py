"""What the features ask of Stripe and what it answers, as the project's own plain types.

The adapter (``adapters/stripe_gateway/client.py``, the only module that imports ``stripe``) turns
these into SDK calls and Stripe's answers and failures back into these; the features' Protocols
(``checkout/ports.py``, ``refunds/ports.py``, the webhook's ``ChargeRefunds`` and ``EventSource``) name
them, and the fakes in ``tests/support/`` build them, so nothing outside the adapter sees a ``stripe``
object or exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class GatewayErrorKind(StrEnum):
    CARD = "card_error"  # the customer's card said no
    INVALID = "invalid_request"  # we sent something Stripe refuses: a bug or a state race
    IDEMPOTENCY = "idempotency_error"  # an idempotency key reused with other parameters
    AUTH = "authentication"  # our key is wrong: an operator problem
    UNAVAILABLE = "unavailable"  # network, timeout, 5xx, rate limit: a retry may work


class GatewayError(Exception):
    def __init__(
        self, kind: GatewayErrorKind, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        # The request parameter Stripe names (never its value: Stripe's messages may echo an email back).
        self.param = param

    @property
    def retryable(self) -> bool:
        return self.kind is GatewayErrorKind.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    amount: int
    currency: str
    description: str
    client_reference_id: str
    customer_email: str | None
    success_url: str
    cancel_url: str
    expires_at: int
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str
    payment_intent_id: str | None


@dataclass(frozen=True, slots=True)
class PaymentIntentRequest:
    amount: int
    currency: str
    description: str
    customer_email: str | None
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    client_secret: str
    status: str


@dataclass(frozen=True, slots=True)
class SessionState:
    """A Checkout Session as it stands at Stripe (after an expire call, or read back)."""

    id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    amount_total: int
    currency: str
    payment_intent_id: str | None


@dataclass(frozen=True, slots=True)
class IntentState:
    """A PaymentIntent as it stands at Stripe (after a cancel call, or read back)."""

    id: str
    status: str
    amount_received: int
    currency: str
    charge_id: str | None


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    amount: int
    currency: str
    status: str
    payment_intent_id: str | None
    charge_id: str | None
    created: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    secret: str
