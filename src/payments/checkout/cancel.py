"""Canceling a payment: Stripe is told first (expire the session, cancel the intent), then the payment.

Stripe is where a cancel and a customer's payment meet: it refuses to expire a completed session or to
cancel a succeeded intent. So whichever comes first wins there, and we read back what Stripe says and
record exactly that: canceled, or paid (answered 409 ``already_paid`` with the payment as it now is).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from payments.checkout.ports import CheckoutGateway
from payments.domain.attempts import ENDED_UNPAID, idempotency_key, is_paid
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.errors import FailedPrecondition, NotFound, UpstreamError
from payments.records import PaymentRecord
from payments.stripe_port import GatewayError, GatewayErrorKind, IntentState, SessionState
from payments.unit_of_work import UnitOfWorkFactory
from payments.webhooks.orchestrator import PaymentOrchestrator

log = structlog.get_logger(__name__)


class AlreadyPaid(FailedPrecondition):
    """Stripe took the money: the payment (as it now is) travels with the error."""

    code = "already_paid"

    def __init__(self, message: str, payment: PaymentRecord, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.payment = payment


def may_still_be_paid(record: PaymentRecord) -> bool:
    """A declined PaymentIntent stays confirmable at Stripe (another card) until it is canceled."""
    facts = PaymentFacts.from_json(record.facts)
    return (
        record.mode == "payment_intent"
        and record.status == PaymentStatus.FAILED
        and record.stripe_payment_intent_id is not None
        and not facts.canceled
    )


async def cancel_payment(
    uow: UnitOfWorkFactory,
    gateway: CheckoutGateway,
    orchestrator: PaymentOrchestrator,
    clock: Callable[[], datetime],
    payment_id: str,
) -> PaymentRecord:
    async with uow() as tx:
        record = await tx.payments.get(payment_id)
    if record is None:
        raise NotFound(f"no payment {payment_id}")
    status = PaymentStatus(record.status)
    if is_paid(status):
        raise AlreadyPaid(f"payment {record.id} is {record.status}: it cannot be canceled", record)
    if status in ENDED_UNPAID and not may_still_be_paid(record):
        return record  # nothing at Stripe can take money for it any more
    record = await end_at_stripe(uow, gateway, orchestrator, clock, record)
    if is_paid(PaymentStatus(record.status)):
        raise AlreadyPaid(f"payment {record.id} was paid before the cancel reached Stripe", record)
    if record.status == PaymentStatus.PROCESSING:
        raise FailedPrecondition(
            f"payment {record.id} is being processed by Stripe and can no longer be canceled",
            code="payment_processing",
        )
    log.info("payment.canceled", payment_id=record.id, status=record.status)
    return record


async def retire_failed_intent(
    uow: UnitOfWorkFactory,
    gateway: CheckoutGateway,
    orchestrator: PaymentOrchestrator,
    clock: Callable[[], datetime],
    record: PaymentRecord,
) -> PaymentRecord:
    """Before an order's next attempt: the declined intent is canceled at Stripe (or found paid)."""
    return await end_at_stripe(uow, gateway, orchestrator, clock, record)


async def end_at_stripe(
    uow: UnitOfWorkFactory,
    gateway: CheckoutGateway,
    orchestrator: PaymentOrchestrator,
    clock: Callable[[], datetime],
    record: PaymentRecord,
) -> PaymentRecord:
    """Make the payment unpayable at Stripe, then record what Stripe says it now is."""
    # Branch on the row as it is once the request is recorded, not as the caller read it: a create still
    # in flight may have stored its session since (or will see cancel_requested when it does, and end it).
    record = await _apply(
        uow, orchestrator, clock, record, EventFacts(facts=PaymentFacts(cancel_requested=True))
    )
    try:
        if record.stripe_checkout_session_id is not None:
            found = _session_facts(record, *await _expire_session(gateway, record))
        elif record.stripe_payment_intent_id is not None:
            found = _intent_facts(record, await _cancel_intent(gateway, record), int(clock().timestamp()))
        else:
            # Stripe has no object for it (every create call failed): nothing there can be paid. A create
            # call still in flight sees the cancel when it stores its link, and ends what it opened.
            found = EventFacts(payment_id=record.id, facts=PaymentFacts(canceled=True))
    except GatewayError as exc:
        log.warning("payment.cancel_failed", payment_id=record.id, kind=exc.kind.value, code=exc.code)
        raise UpstreamError(
            f"Stripe could not cancel the payment ({exc.kind.value}); retry",
            code="stripe_" + exc.kind.value,
            retryable=exc.kind is not GatewayErrorKind.AUTH,
        ) from None
    return await _apply(uow, orchestrator, clock, record, found)


async def _apply(
    uow: UnitOfWorkFactory,
    orchestrator: PaymentOrchestrator,
    clock: Callable[[], datetime],
    record: PaymentRecord,
    found: EventFacts,
) -> PaymentRecord:
    async with uow() as tx:
        locked = await tx.payments.get(record.id, for_update=True)
        assert locked is not None
        cause = Cause(event_id=f"{record.id}:cancel", event_type="api.payment.cancel")
        await orchestrator.apply(tx, locked, found, cause, clock())
        fresh = await tx.payments.get(record.id)
    assert fresh is not None
    return fresh


async def _expire_session(gateway: CheckoutGateway, record: PaymentRecord) -> tuple[SessionState, bool]:
    """The session as Stripe now has it, and whether our call is what expired it."""
    session_id = record.stripe_checkout_session_id
    assert session_id is not None
    try:
        expired = await gateway.expire_checkout_session(
            session_id, idempotency_key=idempotency_key(record.id, "expire", 0)
        )
        return expired, True
    except GatewayError as exc:
        if exc.kind is not GatewayErrorKind.INVALID:
            raise
    # Stripe refuses to expire a session that is no longer open: read what became of it.
    return await gateway.retrieve_checkout_session(session_id), False


async def _cancel_intent(gateway: CheckoutGateway, record: PaymentRecord) -> IntentState:
    intent_id = record.stripe_payment_intent_id
    assert intent_id is not None
    try:
        return await gateway.cancel_payment_intent(
            intent_id, idempotency_key=idempotency_key(record.id, "cancel", 0)
        )
    except GatewayError as exc:
        if exc.kind is not GatewayErrorKind.INVALID:
            raise
    # Stripe refuses to cancel an intent that succeeded, is processing, or was canceled: read it back.
    return await gateway.retrieve_payment_intent(intent_id)


def _session_facts(record: PaymentRecord, session: SessionState, expired_by_us: bool) -> EventFacts:
    if session.status == "complete" and session.payment_status in ("paid", "no_payment_required"):
        facts = PaymentFacts(
            succeeded=True, amount_received=session.amount_total, currency_received=session.currency
        )
    elif session.status == "complete":
        facts = PaymentFacts(processing=True)  # a delayed method: Stripe's async_payment_* events follow
    elif session.status == "expired":
        # Ours is a cancel; a session that had expired before (the clock, the dashboard) stays expired.
        facts = PaymentFacts(canceled=True) if expired_by_us else PaymentFacts(expired=True)
    else:
        raise GatewayError(GatewayErrorKind.UNAVAILABLE, "the session is still open after expire")
    return EventFacts(
        payment_id=record.id,
        session_id=session.id,
        payment_intent_id=session.payment_intent_id,
        facts=facts,
    )


def _intent_facts(record: PaymentRecord, intent: IntentState, now: int) -> EventFacts:
    if intent.status == "succeeded":
        facts = PaymentFacts(
            succeeded=True, amount_received=intent.amount_received, currency_received=intent.currency
        )
    elif intent.status == "processing":
        # Processing now: after any failure we were told of (a declined card, then a bank debit).
        facts = PaymentFacts(processing=True, processing_at=now)
    elif intent.status == "canceled":
        facts = PaymentFacts(canceled=True)
    else:
        raise GatewayError(GatewayErrorKind.UNAVAILABLE, f"the intent is still {intent.status} after cancel")
    return EventFacts(
        payment_id=record.id, payment_intent_id=intent.id, charge_id=intent.charge_id, facts=facts
    )
