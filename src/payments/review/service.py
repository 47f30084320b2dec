"""ReviewService: a person resolves a payment Stripe took with another amount or currency than asked.

``needs_review`` must not be a dead end: Orders hears it (with what Stripe received) and an operator
either accepts the money as it came (the payment counts as paid with what Stripe received; Orders hears
``paid``) or gives all of it back (a full refund through RefundService; Orders hears ``refunded``).
HTTP, the CLI and the operator console all call ``review``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

import structlog

from payments.domain.payment_state import PaymentFacts, PaymentStatus, RefundStatus
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.errors import FailedPrecondition, InvalidRequest, NotFound
from payments.ids import new_id
from payments.records import PaymentRecord
from payments.refunds.service import RefundPayment, RefundService
from payments.unit_of_work import UnitOfWorkFactory
from payments.webhooks.orchestrator import PaymentOrchestrator

log = structlog.get_logger(__name__)


class ReviewDecision(StrEnum):
    ACCEPT = "accept"
    REFUND = "refund"


# A repeated "refund" decision (a retry after Stripe timed out) reuses the review's refund through its
# idempotency key; once that refund has failed, the next decision makes a new one under the next key.
_REFUND_KEY = "review-refund"
MAX_REVIEW_REFUNDS = 10


class ReviewService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        refunds: RefundService,
        orchestrator: PaymentOrchestrator,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._refunds = refunds
        self._orchestrator = orchestrator
        self._clock = clock

    async def review(self, payment_id: str, decision: str) -> PaymentRecord:
        """Resolve a payment waiting for review; answers the payment as it now is.

        NotFound for an unknown payment, InvalidRequest for another decision, FailedPrecondition
        (``payment_not_in_review``) when the payment is not waiting for review.
        """
        try:
            chosen = ReviewDecision(decision)
        except ValueError:
            raise InvalidRequest("decision must be 'accept' or 'refund'", field="decision") from None
        if chosen is ReviewDecision.ACCEPT:
            await self._accept(payment_id)
        else:
            await self._refund(payment_id)
        log.info("payment.reviewed", payment_id=payment_id, decision=chosen.value)
        async with self._uow() as uow:
            record = await uow.payments.get(payment_id)
        assert record is not None
        return record

    async def waiting(self) -> int:
        """How many payments wait for a person (the ``payments_needing_review`` gauge)."""
        async with self._uow() as uow:
            return await uow.payments.count_with_status(PaymentStatus.NEEDS_REVIEW)

    async def _accept(self, payment_id: str) -> None:
        async with self._uow() as uow:
            record = await uow.payments.get(payment_id, for_update=True)
            _require_in_review(record, payment_id)
            assert record is not None
            found = EventFacts(facts=PaymentFacts(review_accepted=True))
            cause = Cause(new_id("rev"), "api.review.accepted")
            await self._orchestrator.apply(uow, record, found, cause, self._clock())

    async def _refund(self, payment_id: str) -> None:
        async with self._uow() as uow:
            _require_in_review(await uow.payments.get(payment_id), payment_id)
        # RefundService reserves under the payment's lock and refunds what remains of what Stripe took.
        for attempt in range(1, MAX_REVIEW_REFUNDS + 1):
            key = _REFUND_KEY if attempt == 1 else f"{_REFUND_KEY}:{attempt}"
            refund, _ = await self._refunds.refund(RefundPayment(payment_id=payment_id, idempotency_key=key))
            if refund.status != RefundStatus.FAILED.value:
                return
        raise FailedPrecondition(
            f"the last {MAX_REVIEW_REFUNDS} refunds of payment {payment_id} failed; refund it from Stripe",
            code="review_refunds_failed",
        )


def _require_in_review(record: PaymentRecord | None, payment_id: str) -> None:
    if record is None:
        raise NotFound(f"no payment {payment_id}")
    if record.status != PaymentStatus.NEEDS_REVIEW.value:
        raise FailedPrecondition(
            f"payment {payment_id} is {record.status}, not waiting for review", code="payment_not_in_review"
        )
