"""Refunds through our API: partial and repeated, never more than was paid, never twice at Stripe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from payments.domain.payment_state import PaymentFacts, RefundFact, refundable_amount
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts, RefundSeen, refund_status
from payments.errors import (
    Conflict,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamRefused,
)
from payments.observability.tracing import span
from payments.records import REQUESTED, RefundRecord
from payments.refunds.ports import RefundGateway
from payments.stripe_port import GatewayError, GatewayErrorKind, Refund
from payments.unit_of_work import UnitOfWorkFactory
from payments.webhooks.orchestrator import PaymentOrchestrator

log = structlog.get_logger(__name__)

ALLOWED_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
# Stripe keeps an idempotency key for at least 24 hours after its first use; we trust it for 23, leaving an
# hour for clock skew. A refund row is written just before its first Stripe call, so its created_at is when
# the key was first used. Past the window, a retry under the same key could make a second refund.
KEY_WINDOW = timedelta(hours=23)


@dataclass(frozen=True, slots=True)
class RefundPayment:
    payment_id: str
    amount: int | None = None
    reason: str | None = None
    idempotency_key: str | None = None


class RefundService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        gateway: RefundGateway,
        orchestrator: PaymentOrchestrator,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._orchestrator = orchestrator
        self._clock = clock

    async def refund(self, cmd: RefundPayment) -> tuple[RefundRecord, bool]:
        """The refund and whether this call created it (False: an idempotent replay)."""
        with span("refunds.refund"):
            if cmd.reason is not None and cmd.reason not in ALLOWED_REASONS:
                raise InvalidRequest(f"reason must be one of {sorted(ALLOWED_REASONS)}", field="reason")
            if cmd.amount is not None and (isinstance(cmd.amount, bool) or cmd.amount <= 0):
                raise InvalidRequest("amount must be a positive integer of minor units", field="amount")
            refund, created = await self._reserve(cmd)
            if refund.status != REQUESTED:
                return refund, created
            # A replay of a refund whose Stripe call never answered resumes it as housekeeping would:
            # past Stripe's key window its key may be forgotten, so Stripe is asked what it made first.
            return await (self._send(refund) if created else self._resume(refund)), created

    async def retry_requested(self, older_than: timedelta = timedelta(minutes=1)) -> int:
        """Refunds whose Stripe call never answered, resumed (see ``_resume``)."""
        async with self._uow() as uow:
            stuck = await uow.refunds.requested_before(self._clock() - older_than)
        for refund in stuck:
            try:
                await self._resume(refund)
            except (UpstreamError, UpstreamRefused):  # refused: marked failed; the others go on
                log.warning("refund.retry_failed", refund_id=refund.id)
        return len(stuck)

    async def _resume(self, refund: RefundRecord) -> RefundRecord:
        """Inside Stripe's idempotency window the same key makes a retry safe: Stripe answers with the refund
        it already made, if it made one. Past it, Stripe may have forgotten the key, so first look for the
        refund among the PaymentIntent's refunds (by the refund id we put in its metadata); only if Stripe
        has none is it sent again, under a key of the current window (stable for every retry within it)."""
        age = self._clock() - refund.created_at
        window = int(age / KEY_WINDOW) if age > timedelta(0) else 0
        if window == 0:
            return await self._send(refund)
        payment_intent_id = await self._payment_intent_of(refund)
        try:
            made = await self._gateway.list_refunds(payment_intent_id)
        except GatewayError as exc:
            raise UpstreamError(
                f"Stripe could not list the refunds ({exc.kind.value})",
                code="stripe_" + exc.kind.value,
                retryable=exc.retryable,
            ) from None
        mine = [r for r in made if r.metadata.get("refund_id") == refund.id]
        if mine:
            log.info("refund.reconciled", refund_id=refund.id, stripe_refund_id=mine[0].id)
            return await self._record_answer(refund, mine[0])
        log.info("refund.resent_after_key_window", refund_id=refund.id, window=window)
        return await self._send(refund, idempotency_key=f"{refund.id}:refund:{window}")

    async def _reserve(self, cmd: RefundPayment) -> tuple[RefundRecord, bool]:
        async with self._uow() as uow:
            payment = await uow.payments.get(cmd.payment_id, for_update=True)
            if payment is None:
                raise NotFound(f"no payment {cmd.payment_id}")
            if cmd.idempotency_key:
                existing = await uow.refunds.by_idempotency_key(payment.id, cmd.idempotency_key)
                if existing is not None:
                    if cmd.amount is not None and cmd.amount != existing.amount:
                        raise Conflict(
                            "Idempotency-Key was used for a refund of another amount",
                            code="idempotency_conflict",
                        )
                    return existing, False
            facts = PaymentFacts.from_json(payment.facts)
            if not facts.succeeded or not payment.stripe_payment_intent_id:
                raise FailedPrecondition(
                    f"payment {payment.id} is {payment.status}: nothing to refund",
                    code="payment_not_refundable",
                )
            remaining = refundable_amount(facts, await uow.refunds.reserved_amount(payment.id))
            amount = remaining if cmd.amount is None else cmd.amount
            if remaining <= 0:
                raise FailedPrecondition("the payment is already fully refunded", code="already_refunded")
            if amount > remaining:
                raise FailedPrecondition(
                    f"refund of {amount} exceeds the {remaining} that remains", code="over_refund"
                )
            refund = await uow.refunds.add_requested(
                payment_id=payment.id,
                amount=amount,
                # What Stripe took: another currency than asked on a payment held for review.
                currency=facts.currency_received or payment.currency,
                reason=cmd.reason,
                idempotency_key=cmd.idempotency_key,
                now=self._clock(),
            )
        log.info("refund.requested", refund_id=refund.id, payment_id=payment.id, amount=amount)
        return refund, True

    async def _payment_intent_of(self, refund: RefundRecord) -> str:
        async with self._uow() as uow:
            payment = await uow.payments.get(refund.payment_id)
        assert payment is not None and payment.stripe_payment_intent_id
        return payment.stripe_payment_intent_id

    async def _send(self, refund: RefundRecord, *, idempotency_key: str | None = None) -> RefundRecord:
        async with self._uow() as uow:
            payment = await uow.payments.get(refund.payment_id)
        assert payment is not None and payment.stripe_payment_intent_id
        try:
            answer = await self._gateway.create_refund(
                payment_intent_id=payment.stripe_payment_intent_id,
                amount=refund.amount,
                reason=refund.reason,
                metadata={"refund_id": refund.id, "payment_id": payment.id, "order_id": payment.order_id},
                idempotency_key=idempotency_key or f"{refund.id}:refund",
            )
        except GatewayError as exc:
            if not exc.retryable:
                async with self._uow() as uow:
                    await uow.refunds.mark_failed(
                        refund.id, f"{exc.kind.value}: {exc.code or ''}", self._clock()
                    )
            if exc.kind in (GatewayErrorKind.INVALID, GatewayErrorKind.IDEMPOTENCY):
                # Stripe refused the request itself (already refunded from the Dashboard, a charge in
                # dispute): as on a create, a 422 naming Stripe's parameter, not a 502 that says retry.
                named = f" (parameter {exc.param})" if exc.param else ""
                raise UpstreamRefused(
                    f"Stripe refused the refund{named} ({exc.code or exc.kind.value}); the refund is marked "
                    "failed and retrying it cannot succeed",
                    field=exc.param,
                ) from None
            raise UpstreamError(
                f"Stripe refused the refund ({exc.kind.value})",
                code="stripe_" + exc.kind.value,
                retryable=exc.retryable,
            ) from None
        return await self._record_answer(refund, answer)

    async def _record_answer(self, refund: RefundRecord, answer: Refund) -> RefundRecord:
        seen = RefundSeen(
            stripe_refund_id=answer.id,
            our_refund_id=refund.id,
            amount=answer.amount,
            currency=answer.currency,
            status=refund_status(answer.status),
            reason=refund.reason,
        )
        found = EventFacts(
            payment_intent_id=answer.payment_intent_id,
            charge_id=answer.charge_id,
            refunds=(seen,),
            facts=PaymentFacts(refunds={answer.id: RefundFact(seen.amount, seen.status, answer.created)}),
        )
        async with self._uow() as uow:
            record = await uow.payments.get(refund.payment_id, for_update=True)
            assert record is not None
            await self._orchestrator.apply(
                uow,
                record,
                found,
                Cause(refund.id, "api.refund.created"),
                self._clock(),
            )
            fresh = await uow.refunds.get(refund.id)
        assert fresh is not None
        return fresh
