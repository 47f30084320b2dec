"""Creating a payment: an order's attempts, one Stripe Checkout Session (or PaymentIntent) per attempt.

An order may be paid by a later attempt once the latest one ended unpaid (expired, failed, canceled); at
most one attempt is live at a time (a partial unique index says so whatever races), and an order that was
paid takes no further attempt. Orders hears one chain of order states across the attempts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from payments.checkout import cancel
from payments.checkout.cancel import AlreadyPaid
from payments.checkout.ports import CheckoutGateway
from payments.config import Settings
from payments.domain.attempts import (
    MAX_ATTEMPTS,
    CheckoutWindow,
    NextStep,
    idempotency_key,
    is_paid,
    next_step,
    window_for_call,
)
from payments.domain.money import InvalidMoney, normalise_currency, validate_amount
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import Cause, OrderState, OrderView, StateDiff
from payments.domain.stripe_facts import EventFacts
from payments.errors import Conflict, InvalidRequest, NotFound, UpstreamError, UpstreamRefused
from payments.ids import new_id
from payments.observability.tracing import span
from payments.records import PaymentRecord
from payments.stripe_port import CheckoutRequest, GatewayError, GatewayErrorKind, PaymentIntentRequest
from payments.unit_of_work import ConcurrentWrite, UnitOfWork, UnitOfWorkFactory
from payments.webhooks.orchestrator import PaymentOrchestrator

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
        """What makes two requests "the same payment"; the idempotency key itself is not a term.

        Stored with each attempt and compared with later requests', so its value never changes: the
        JSON of every field but the key, sorted (``dataclasses.asdict`` gave the same dict, deep-copied).
        """
        terms = {name: getattr(self, name) for name in _TERMS}
        return hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()


_TERMS = tuple(f.name for f in fields(CreatePayment) if f.name != "idempotency_key")


@dataclass(frozen=True, slots=True)
class PaymentCreated:
    payment: PaymentRecord
    created: bool


class PaymentService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        gateway: CheckoutGateway,
        settings: Settings,
        clock: Callable[[], datetime],
        orchestrator: PaymentOrchestrator | None = None,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._settings = settings
        self._clock = clock
        self._orchestrator = orchestrator or PaymentOrchestrator()

    async def create_payment(self, cmd: CreatePayment) -> PaymentCreated:
        with span("payments.create_payment"):
            cmd = self._validated(cmd)
            record, created = await self._claim(cmd)
            if record.checkout_url or record.client_secret or record.status != PaymentStatus.OPEN:
                return PaymentCreated(record, created)
            # A row without its Stripe object: new, or a retry after a crash or a Stripe error. The
            # idempotency key from our payment id makes Stripe return the same object again.
            record = await self._open_at_stripe(record)
            return PaymentCreated(record, created)

    async def cancel_payment(self, payment_id: str) -> PaymentRecord:
        with span("payments.cancel_payment"):
            return await cancel.cancel_payment(
                self._uow, self._gateway, self._orchestrator, self._clock, payment_id
            )

    async def get_payment(self, payment_id: str) -> PaymentRecord:
        async with self._uow() as uow:
            record = await uow.payments.get(payment_id)
        if record is None:
            raise NotFound(f"no payment {payment_id}")
        return record

    async def get_payment_for_order(self, order_id: str) -> PaymentRecord:
        """The order's latest attempt."""
        async with self._uow() as uow:
            record = await uow.payments.latest_for_order(order_id)
        if record is None:
            raise NotFound(f"no payment for order {order_id}")
        return record

    async def status_for_session(self, session_id: str) -> PaymentStatus | None:
        """What the landing page may say about a Checkout Session: its payment's status, nothing more."""
        async with self._uow() as uow:
            record = await uow.payments.get_by_checkout_session(session_id)
        return PaymentStatus(record.status) if record is not None else None

    async def list_order_payments(self, order_id: str) -> list[PaymentRecord]:
        """Every attempt of the order, oldest first."""
        async with self._uow() as uow:
            records = await uow.payments.list_for_order(order_id)
        if not records:
            raise NotFound(f"no payment for order {order_id}")
        return records

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
            success_url=cmd.success_url or self._settings.default_success_url,
            cancel_url=cmd.cancel_url or self._settings.default_cancel_url,
            description=cmd.description or f"Order {cmd.order_id}",
            idempotency_key=cmd.idempotency_key,
        )

    async def _claim(self, cmd: CreatePayment) -> tuple[PaymentRecord, bool]:
        terms = cmd.terms_hash()
        first = await self._claim_first(cmd, terms)
        if first is not None:
            return first, True
        for _ in range(5):
            try:
                claimed = await self._claim_once(cmd, terms)
            except ConcurrentWrite:
                # A concurrent request for the same order (or key) won the insert; the next round answers
                # with its attempt.
                continue
            if isinstance(claimed, _Retire):
                await cancel.retire_failed_intent(
                    self._uow, self._gateway, self._orchestrator, self._clock, claimed.record
                )
                continue
            return claimed
        raise UpstreamError("the order is busy with concurrent requests; retry", code="order_busy")

    async def _claim_first(self, cmd: CreatePayment, terms: str) -> PaymentRecord | None:
        """A new order's first attempt without a transaction: one insert, which the order's history and
        the unique keys (one live attempt per order, one payment per idempotency key) can refuse. None
        then: the locking claim decides, as for any later attempt (a retry, a race lost, a reused key)."""
        record, _, _ = self._new_attempt(cmd, terms, None)
        async with self._uow.autocommit() as uow:
            if not await uow.payments.add_first(record):
                return None
        _log_created(record)
        return record

    async def _claim_once(self, cmd: CreatePayment, terms: str) -> tuple[PaymentRecord, bool] | _Retire:
        async with self._uow() as uow:
            if cmd.idempotency_key:
                by_key = await uow.payments.get_by_idempotency_key(cmd.idempotency_key)
                if by_key is not None:
                    if by_key.order_id != cmd.order_id or by_key.terms_hash != terms:
                        raise Conflict(
                            "Idempotency-Key was used for another payment request",
                            code="idempotency_conflict",
                        )
                    return by_key, False
            latest = await uow.payments.latest_for_order(cmd.order_id, for_update=True)
            step = next_step(PaymentStatus(latest.status) if latest else None)
            if latest is not None and latest.attempt > 1 and step is not NextStep.ALREADY_PAID:
                paid = await self._paid_earlier(uow, cmd.order_id)
                if paid is not None:
                    # Stripe took money on an attempt a newer one replaced (its session was still open):
                    # the order is paid, and its newest attempt must not take money a second time: an open
                    # one, or a declined intent a card could still confirm, is ended at Stripe first. One
                    # already processing cannot be ended: the order is answered paid, as it is.
                    if latest.status == PaymentStatus.OPEN or cancel.may_still_be_paid(latest):
                        return _Retire(latest)
                    raise AlreadyPaid(
                        f"order {cmd.order_id} is already paid (payment {paid.id})",
                        paid,
                        code="order_already_paid",
                    )
            if latest is not None and step is NextStep.ANSWER_LIVE:
                if latest.terms_hash != terms:
                    raise Conflict(
                        f"order {cmd.order_id} already has a payment with other terms",
                        code="payment_terms_conflict",
                    )
                return latest, False
            if latest is not None and step is NextStep.ALREADY_PAID:
                raise AlreadyPaid(
                    f"order {cmd.order_id} is already paid (payment {latest.id})",
                    latest,
                    code="order_already_paid",
                )
            if latest is not None and cancel.may_still_be_paid(latest):
                # A declined PaymentIntent can still be confirmed with another card: it is canceled at
                # Stripe before another attempt may start, or the order could be paid twice.
                return _Retire(latest)
            if latest is not None and latest.attempt >= MAX_ATTEMPTS:
                raise Conflict(
                    f"order {cmd.order_id} has had {MAX_ATTEMPTS} payment attempts and takes no more",
                    code="too_many_attempts",
                )
            record = await self._insert_attempt(uow, cmd, terms, latest)
        _log_created(record)
        return record, True

    @staticmethod
    async def _paid_earlier(uow: UnitOfWork, order_id: str) -> PaymentRecord | None:
        return next(
            (p for p in await uow.payments.list_for_order(order_id) if is_paid(PaymentStatus(p.status))),
            None,
        )

    async def _insert_attempt(
        self, uow: UnitOfWork, cmd: CreatePayment, terms: str, latest: PaymentRecord | None
    ) -> PaymentRecord:
        record, heard, reopen = self._new_attempt(cmd, terms, latest)
        now = record.created_at
        await uow.payments.add(record)
        if latest is not None:
            await uow.payments.mark_superseded(latest.id, now)
        if reopen:
            diff = StateDiff(
                order_id=cmd.order_id,
                payment_id=record.id,
                from_state=heard,
                to_state=OrderState.PENDING,
                amount_paid=0,
                amount_refunded=0,
                currency=cmd.currency,
                cause=Cause(event_id=record.id, event_type="api.payment.created"),
            )
            await uow.append_diff(diff, record.diff_seq, now)
        return record  # as inserted: no column of the row is filled in by the database

    def _new_attempt(
        self, cmd: CreatePayment, terms: str, latest: PaymentRecord | None
    ) -> tuple[PaymentRecord, OrderState, bool]:
        """The order's next attempt as a row, the state Orders last heard, and whether it goes back to
        "pending" from there."""
        now = self._clock()
        # The order's one chain of states goes on from the last attempt's: "expired -> pending".
        heard = (
            OrderView.of(PaymentStatus(latest.status), PaymentFacts.from_json(latest.facts)).state
            if latest is not None
            else OrderState.PENDING
        )
        reopen = latest is not None and heard is not OrderState.PENDING
        diff_seq = (latest.diff_seq if latest is not None else 0) + (1 if reopen else 0)
        # A Checkout Session's window is chosen now and stored with the row, so the call to Stripe that
        # follows needs no transaction of its own to store it first.
        window = (
            window_for_call(now, None, timedelta(minutes=self._settings.checkout_expires_minutes))
            if cmd.mode is CheckoutMode.CHECKOUT
            else None
        )
        record = PaymentRecord(
            id=new_id("pay"),
            order_id=cmd.order_id,
            attempt=latest.attempt + 1 if latest is not None else 1,
            superseded=False,
            user_id=cmd.user_id,
            amount=cmd.amount,
            currency=cmd.currency,
            mode=cmd.mode.value,
            status=PaymentStatus.OPEN.value,
            amount_refunded=0,
            description=cmd.description,
            customer_email=cmd.customer_email,
            referrer_id=cmd.referrer_id,
            success_url=cmd.success_url,
            cancel_url=cmd.cancel_url,
            terms_hash=terms,
            idempotency_key=cmd.idempotency_key,
            checkout_url=None,
            client_secret=None,
            stripe_checkout_session_id=None,
            stripe_payment_intent_id=None,
            stripe_charge_id=None,
            facts=PaymentFacts().to_json(),
            last_error=None,
            stripe_expires_at=window.expires_at if window is not None else None,
            stripe_key_generation=window.generation if window is not None else 0,
            version=0,
            diff_seq=diff_seq,
            created_at=now,
            updated_at=now,
        )
        return record, heard, reopen

    async def _checkout_window(self, record: PaymentRecord) -> tuple[PaymentRecord, CheckoutWindow]:
        """The expires_at and key generation for this call, stored before Stripe sees them."""
        lifetime = timedelta(minutes=self._settings.checkout_expires_minutes)
        for _ in range(3):
            current = (
                CheckoutWindow(record.stripe_expires_at, record.stripe_key_generation)
                if record.stripe_expires_at is not None
                else None
            )
            now = self._clock()
            window = window_for_call(now, current, lifetime)
            if window == current:
                return record, window
            async with self._uow() as uow:
                stored = await uow.payments.save_checkout_window(
                    record, expires_at=window.expires_at, generation=window.generation, now=now
                )
                fresh = await uow.payments.get(record.id)
            assert fresh is not None
            if stored:
                if current is not None:
                    log.info(
                        "payment.checkout_window_renewed", payment_id=record.id, generation=window.generation
                    )
                return fresh, window
            record = fresh  # a concurrent retry stored its window first; use it if Stripe still would
        raise UpstreamError("the payment is busy with concurrent requests; retry", code="payment_busy")

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
                record, window = await self._checkout_window(record)
                session = await self._gateway.create_checkout_session(
                    CheckoutRequest(
                        amount=record.amount,
                        currency=record.currency,
                        description=description,
                        client_reference_id=record.order_id,
                        customer_email=record.customer_email,
                        success_url=record.success_url or self._settings.default_success_url,
                        cancel_url=record.cancel_url or self._settings.default_cancel_url,
                        expires_at=int(window.expires_at.timestamp()),
                        metadata=metadata,
                    ),
                    idempotency_key=idempotency_key(record.id, "checkout_session", window.generation),
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
                    idempotency_key=idempotency_key(record.id, "payment_intent", 0),
                )
                links = {"client_secret": intent.client_secret, "stripe_payment_intent_id": intent.id}
        except GatewayError as exc:
            log.warning("payment.stripe_failed", payment_id=record.id, kind=exc.kind.value, code=exc.code)
            if exc.kind in (GatewayErrorKind.INVALID, GatewayErrorKind.IDEMPOTENCY):
                raise await self._refused(record, exc) from None
            await self._remember_error(record.id, exc)
            raise UpstreamError(
                f"Stripe could not open the payment ({exc.kind.value}); retry the same request",
                code="stripe_" + exc.kind.value,
                retryable=exc.kind is not GatewayErrorKind.AUTH,
            ) from None
        async with self._uow.autocommit() as uow:  # one UPDATE ... RETURNING
            fresh = await uow.payments.save_stripe_link(record.id, self._clock(), links)
        assert fresh is not None
        # The link changes no status: the row as updated says whether a cancel came first, finished or
        # still under way (it branched on the row before this link, and will not expire what it opened).
        if fresh.status == PaymentStatus.CANCELED or PaymentFacts.from_json(fresh.facts).cancel_requested:
            # Canceled while Stripe was opening it: what Stripe opened must not stay payable.
            fresh = await cancel.end_at_stripe(
                self._uow, self._gateway, self._orchestrator, self._clock, fresh
            )
        return fresh

    async def _refused(self, record: PaymentRecord, exc: GatewayError) -> UpstreamRefused:
        """Stripe refused the request itself: retrying it can never succeed, so the attempt ends failed
        (Orders hears it) and the caller's next request starts a new attempt instead of a dead end."""
        async with self._uow() as uow:
            locked = await uow.payments.get(record.id, for_update=True)
            assert locked is not None
            await uow.payments.save_error(
                record.id, self._clock(), f"{exc.kind.value}: {exc.param or exc.code or ''}"
            )
            await self._orchestrator.apply(
                uow,
                locked,
                EventFacts(payment_id=record.id, facts=PaymentFacts(failed=True)),
                Cause(event_id=f"{record.id}:stripe_refused", event_type="api.payment.stripe_refused"),
                self._clock(),
            )
        named = f" (parameter {exc.param})" if exc.param else ""
        return UpstreamRefused(
            f"Stripe refused the payment's parameters{named}; the attempt is marked failed and retrying "
            "it cannot succeed: correct the request and create the payment again",
            field=exc.param,
        )

    async def _remember_error(self, payment_id: str, exc: GatewayError) -> None:
        async with self._uow() as uow:
            await uow.payments.save_error(payment_id, self._clock(), f"{exc.kind.value}: {exc.code or ''}")


def _log_created(record: PaymentRecord) -> None:
    log.info(
        "payment.created",
        payment_id=record.id,
        order_id=record.order_id,
        mode=record.mode,
        attempt=record.attempt,
    )


@dataclass(frozen=True, slots=True)
class _Retire:
    """The latest attempt must be ended at Stripe before a new one may start."""

    record: PaymentRecord
