"""Creating a payment: one row per order, one Stripe Checkout Session (or PaymentIntent) per payment."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import payments_repo
from payments.adapters.db.payments_repo import PaymentRecord
from payments.adapters.stripe_gateway.client import CheckoutRequest, PaymentIntentRequest, StripeGateway
from payments.adapters.stripe_gateway.errors import GatewayError, GatewayErrorKind
from payments.config import Settings
from payments.domain.money import InvalidMoney, normalise_currency, validate_amount
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.errors import Conflict, InvalidRequest, NotFound, UpstreamError
from payments.ids import new_id
from payments.observability.tracing import tracer

log = structlog.get_logger(__name__)


class CheckoutMode(StrEnum):
    CHECKOUT = "checkout"
    PAYMENT_INTENT = "payment_intent"


@dataclass(frozen=True, slots=True)
class CreatePayment:
    order_id: str
    user_id: str
    amount: int
    currency: str
    customer_email: str | None = None
    referrer_id: str | None = None
    mode: CheckoutMode = CheckoutMode.CHECKOUT
    success_url: str | None = None
    cancel_url: str | None = None
    description: str | None = None
    idempotency_key: str | None = None

    def terms_hash(self) -> str:
        """What makes two requests "the same payment"; the idempotency key itself is not a term."""
        terms = asdict(self)
        terms.pop("idempotency_key")
        return hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PaymentCreated:
    payment: PaymentRecord
    created: bool


class PaymentService:
    def __init__(
        self, engine: AsyncEngine, gateway: StripeGateway, settings: Settings, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._gateway = gateway
        self._settings = settings
        self._clock = clock

    async def create_payment(self, cmd: CreatePayment) -> PaymentCreated:
        with tracer.start_as_current_span("payments.create_payment"):
            cmd = self._validated(cmd)
            record, created = await self._claim_row(cmd)
            if record.checkout_url or record.client_secret:
                return PaymentCreated(record, created)
            # A row without its Stripe object: new, or a retry after a crash or a Stripe error. The
            # idempotency key from our payment id makes Stripe return the same object again.
            record = await self._open_at_stripe(record)
            return PaymentCreated(record, created)

    async def get_payment(self, payment_id: str) -> PaymentRecord:
        async with self._engine.connect() as conn:
            record = await payments_repo.get(conn, payment_id)
        if record is None:
            raise NotFound(f"no payment {payment_id}")
        return record

    async def get_payment_for_order(self, order_id: str) -> PaymentRecord:
        async with self._engine.connect() as conn:
            record = await payments_repo.get_by_order(conn, order_id)
        if record is None:
            raise NotFound(f"no payment for order {order_id}")
        return record

    # -- steps ---------------------------------------------------------------------------------------
    def _validated(self, cmd: CreatePayment) -> CreatePayment:
        try:
            currency = normalise_currency(cmd.currency)
            validate_amount(cmd.amount, currency, self._settings.max_payment_amount)
        except InvalidMoney as exc:
            field = "currency" if "currency" in str(exc) else "amount"
            raise InvalidRequest(str(exc), field=field) from None
        if cmd.referrer_id is not None and not cmd.referrer_id.strip():
            raise InvalidRequest("referrer_id must not be blank", field="referrer_id")
        return CreatePayment(
            order_id=cmd.order_id,
            user_id=cmd.user_id,
            amount=cmd.amount,
            currency=currency,
            customer_email=cmd.customer_email.strip() if cmd.customer_email else None,
            referrer_id=cmd.referrer_id.strip() if cmd.referrer_id else None,
            mode=CheckoutMode(cmd.mode),
            success_url=cmd.success_url or self._settings.success_url,
            cancel_url=cmd.cancel_url or self._settings.cancel_url,
            description=cmd.description or f"Order {cmd.order_id}",
            idempotency_key=cmd.idempotency_key,
        )

    async def _claim_row(self, cmd: CreatePayment) -> tuple[PaymentRecord, bool]:
        terms = cmd.terms_hash()
        existing = await self._existing(cmd, terms)
        if existing is not None:
            return existing, False
        now = self._clock()
        payment_id = new_id("pay")
        values = {
            "id": payment_id,
            "order_id": cmd.order_id,
            "user_id": cmd.user_id,
            "amount": cmd.amount,
            "currency": cmd.currency,
            "mode": cmd.mode.value,
            "status": PaymentStatus.OPEN.value,
            "amount_refunded": 0,
            "description": cmd.description,
            "customer_email": cmd.customer_email,
            "referrer_id": cmd.referrer_id,
            "success_url": cmd.success_url,
            "cancel_url": cmd.cancel_url,
            "terms_hash": terms,
            "idempotency_key": cmd.idempotency_key,
            "facts": PaymentFacts().to_json(),
            "version": 0,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._engine.begin() as conn:
                await payments_repo.insert_payment(conn, values)
                record = await payments_repo.get(conn, payment_id)
        except IntegrityError:
            # A concurrent request for the same order won the insert; answer with its row.
            existing = await self._existing(cmd, terms)
            if existing is None:
                raise
            return existing, False
        assert record is not None
        log.info("payment.created", payment_id=record.id, order_id=record.order_id, mode=record.mode)
        return record, True

    async def _existing(self, cmd: CreatePayment, terms: str) -> PaymentRecord | None:
        async with self._engine.connect() as conn:
            by_key = None
            if cmd.idempotency_key:
                by_key = await payments_repo.get_by_idempotency_key(conn, cmd.idempotency_key)
            by_order = await payments_repo.get_by_order(conn, cmd.order_id)
        if by_key is not None and (by_key.order_id != cmd.order_id or by_key.terms_hash != terms):
            raise Conflict(
                "Idempotency-Key was used for another payment request", code="idempotency_conflict"
            )
        if by_order is None:
            return None
        if by_order.terms_hash != terms:
            raise Conflict(
                f"order {cmd.order_id} already has a payment with other terms", code="payment_terms_conflict"
            )
        return by_order

    async def _open_at_stripe(self, record: PaymentRecord) -> PaymentRecord:
        metadata = {
            "order_id": record.order_id,
            "user_id": record.user_id,
            "payment_id": record.id,
            "referrer_id": record.referrer_id or "",
            "payment_type": record.mode,
        }
        description = record.description or f"Order {record.order_id}"
        try:
            if record.mode == CheckoutMode.CHECKOUT:
                # From the row's creation, not from now: a retry must send Stripe the very same
                # parameters under the same idempotency key, or Stripe refuses it.
                expires_at = record.created_at + timedelta(minutes=self._settings.checkout_expires_minutes)
                session = await self._gateway.create_checkout_session(
                    CheckoutRequest(
                        amount=record.amount,
                        currency=record.currency,
                        description=description,
                        client_reference_id=record.order_id,
                        customer_email=record.customer_email,
                        success_url=record.success_url or self._settings.success_url,
                        cancel_url=record.cancel_url or self._settings.cancel_url,
                        expires_at=int(expires_at.timestamp()),
                        metadata=metadata,
                    ),
                    idempotency_key=f"{record.id}:checkout_session",
                )
                links = {
                    "checkout_url": session.url,
                    "stripe_checkout_session_id": session.id,
                    "stripe_payment_intent_id": session.payment_intent_id,
                }
            else:
                intent = await self._gateway.create_payment_intent(
                    PaymentIntentRequest(
                        amount=record.amount,
                        currency=record.currency,
                        description=description,
                        customer_email=record.customer_email,
                        metadata=metadata,
                    ),
                    idempotency_key=f"{record.id}:payment_intent",
                )
                links = {"client_secret": intent.client_secret, "stripe_payment_intent_id": intent.id}
        except GatewayError as exc:
            await self._remember_error(record.id, exc)
            log.warning("payment.stripe_failed", payment_id=record.id, kind=exc.kind.value, code=exc.code)
            raise UpstreamError(
                f"Stripe could not open the payment ({exc.kind.value}); retry the same request",
                code="stripe_" + exc.kind.value,
                retryable=exc.kind is not GatewayErrorKind.AUTH,
            ) from None
        async with self._engine.begin() as conn:
            await payments_repo.save_stripe_link(conn, record.id, self._clock(), **links)
            fresh = await payments_repo.get(conn, record.id)
        assert fresh is not None
        return fresh

    async def _remember_error(self, payment_id: str, exc: GatewayError) -> None:
        async with self._engine.begin() as conn:
            await payments_repo.save_error(
                conn, payment_id, self._clock(), f"{exc.kind.value}: {exc.code or ''}"
            )
