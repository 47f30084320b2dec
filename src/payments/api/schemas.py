"""Request and response bodies of the HTTP API (the contract's fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from payments.checkout.service import CheckoutMode, CreatePayment
from payments.domain.text import storable_str
from payments.records import PaymentRecord, RefundRecord

Id = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$"),
]
Storable = AfterValidator(storable_str)  # no NUL, no lone surrogate: PostgreSQL refuses both


def absolute_url(value: str) -> str:
    """What Stripe takes as a success or cancel URL: absolute, with a host, no whitespace."""
    try:
        host = urlsplit(value).hostname
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        host = None
    if not host or any(c.isspace() for c in value):
        raise ValueError("must be an absolute http(s) URL with a host")
    return value


Url = Annotated[
    str, StringConstraints(max_length=2048, pattern=r"^https?://"), AfterValidator(absolute_url), Storable
]


class CreatePaymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Id
    user_id: Id
    amount: Annotated[int, Field(strict=True, gt=0)]
    currency: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=3), Storable]
    customer_email: (
        Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), Storable]
        | None
    ) = None
    referrer_id: Id | None = None
    mode: Literal["checkout", "payment_intent"] = "checkout"
    success_url: Url | None = None
    cancel_url: Url | None = None
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), Storable]
        | None
    ) = None

    def to_command(self, idempotency_key: str | None) -> CreatePayment:
        return CreatePayment(
            order_id=self.order_id,
            user_id=self.user_id,
            amount=self.amount,
            currency=self.currency,
            customer_email=self.customer_email,
            referrer_id=self.referrer_id,
            mode=CheckoutMode(self.mode),
            success_url=self.success_url,
            cancel_url=self.cancel_url,
            description=self.description,
            idempotency_key=idempotency_key,
        )


class RefundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[int, Field(strict=True, gt=0)] | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["accept", "refund"]


class PaymentOut(BaseModel):
    id: str
    order_id: str
    # The order's attempts are numbered from 1; only the newest may be live.
    attempt: int
    user_id: str
    amount: int
    currency: str
    mode: str
    status: str
    amount_refunded: int
    checkout_url: str | None = None
    client_secret: str | None = None
    stripe_checkout_session_id: str | None
    stripe_payment_intent_id: str | None
    referrer_id: str | None
    # When the hosted page stops taking payment (checkout mode, once opened at Stripe).
    checkout_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: PaymentRecord) -> PaymentOut:
        return cls(
            id=p.id,
            order_id=p.order_id,
            attempt=p.attempt,
            user_id=p.user_id,
            amount=p.amount,
            currency=p.currency,
            mode=p.mode,
            status=p.status,
            amount_refunded=p.amount_refunded,
            checkout_url=p.checkout_url,
            client_secret=p.client_secret,
            stripe_checkout_session_id=p.stripe_checkout_session_id,
            stripe_payment_intent_id=p.stripe_payment_intent_id,
            referrer_id=p.referrer_id,
            checkout_expires_at=p.stripe_expires_at if p.checkout_url else None,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str
    reason: str | None
    source: str
    stripe_refund_id: str | None

    @classmethod
    def of(cls, r: RefundRecord) -> RefundOut:
        return cls(
            id=r.id,
            payment_id=r.payment_id,
            amount=r.amount,
            currency=r.currency,
            status=r.status,
            reason=r.reason,
            source=r.source,
            stripe_refund_id=r.stripe_refund_id,
        )


class HistoryEntry(BaseModel):
    seq: int
    from_state: str
    to_state: str
    amount_paid: int
    amount_refunded: int
    currency: str
    cause_event_id: str
    cause_event_type: str
    at: datetime
